"""A person's limits as plain functions (issue U): the most generous of their groups, and the
GPU-time bounds checked on the graph that would run."""

from jobs.people.limits import Limits, bind_values, most_generous, over_bounds
from jobs.people.owners import of_user, user_id_of


def test_the_most_generous_of_each_limit_wins_and_no_limit_beats_any():
    merged = most_generous(
        [
            Limits(max_active=2, jobs_per_day=10, workflows=frozenset({"a"}), max_steps=20),
            Limits(max_active=5, jobs_per_day=None, workflows=frozenset({"b"}), max_steps=30, max_pixels=10),
        ]
    )
    assert merged == Limits(
        max_active=5, jobs_per_day=None, workflows=frozenset({"a", "b"}), max_steps=30, max_pixels=None
    )
    assert most_generous([]) is None
    assert most_generous([Limits(workflows=None), Limits(workflows=frozenset({"a"}))]).workflows is None


GRAPH = {
    "3": {"class_type": "KSampler", "inputs": {"steps": 20, "model": ["4", 0]}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
    "7": {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"length": 25, "width": ["9", 0], "height": 64}},
}


def test_bounds_apply_to_literal_inputs_anywhere_in_the_graph():
    assert over_bounds(GRAPH, Limits(max_steps=20, max_pixels=512 * 512, max_batch=1, max_frames=25)) is None
    steps = over_bounds(GRAPH, Limits(max_steps=10))
    assert (steps.limit, steps.node, steps.value, steps.bound) == ("steps", "3", 20, 10)
    assert "at most 10 for sampling steps" in steps.message()
    assert over_bounds(GRAPH, Limits(max_pixels=100_000)).node == "5"
    assert over_bounds(GRAPH, Limits(max_frames=24)).limit == "frames"
    assert over_bounds(GRAPH, Limits(max_batch=0)).limit == "batch"


def test_a_parameter_value_is_bound_before_the_check_and_the_stored_graph_is_untouched():
    specs = [{"name": "steps", "type": "int", "node": "3", "input": "steps"}]
    bound = bind_values(GRAPH, specs, {"steps": 50})
    assert over_bounds(bound, Limits(max_steps=30)).value == 50
    assert GRAPH["3"]["inputs"]["steps"] == 20


def test_owner_keys_of_people_and_sessions():
    assert of_user(7) == "user:7" and user_id_of("user:7") == 7
    assert user_id_of("abcdefsessionkey") is None and user_id_of("user:x") is None


def test_node_classes_allowed_and_denied_per_group_with_the_most_generous_winning():
    from jobs.people.limits import forbidden_nodes, node_lines

    graph = {
        "1": {"class_type": "LoadImage"},
        "2": {"class_type": "ImageInvert"},
        "3": {"class_type": "SaveImage"},
    }
    assert node_lines("LoadImage\n SaveImage, ImageInvert \n\n") == {"LoadImage", "SaveImage", "ImageInvert"}
    assert forbidden_nodes(graph, Limits(denied_nodes=frozenset({"ImageInvert"}))) == ["ImageInvert"]
    assert forbidden_nodes(graph, Limits(allowed_nodes=frozenset({"LoadImage"}))) == [
        "ImageInvert",
        "SaveImage",
    ]
    both = most_generous(
        [Limits(denied_nodes=frozenset({"ImageInvert", "X"})), Limits(denied_nodes=frozenset({"X"}))]
    )
    assert both.denied_nodes == {"X"}, "a class is denied only when every group denies it"
    either = most_generous([Limits(allowed_nodes=frozenset({"LoadImage"})), Limits(allowed_nodes=None)])
    assert either.allowed_nodes is None
