import uuid

import pytest

from jobs.core.builtin_workflows import BUILTIN_WORKFLOWS
from jobs.core.workflows import SEED_MAX, ParamError, build_prompt, clean_params, public_params

BLUR = next(w for w in BUILTIN_WORKFLOWS if w["slug"] == "blur")
UPSCALE = next(w for w in BUILTIN_WORKFLOWS if w["slug"] == "upscale")


def test_defaults_fill_missing_values():
    upload = str(uuid.uuid4())
    values = clean_params(BLUR["params"], {"image": upload})
    assert values == {"image": upload, "blur_radius": 4, "sigma": 2.0}


def test_image_is_required():
    with pytest.raises(ParamError) as error:
        clean_params(BLUR["params"], {})
    assert error.value.field == "image"


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"blur_radius": 0}, "blur_radius"),
        ({"blur_radius": 32}, "blur_radius"),
        ({"blur_radius": 2.5}, "blur_radius"),
        ({"blur_radius": "many"}, "blur_radius"),
        ({"blur_radius": True}, "blur_radius"),
        ({"sigma": float("nan")}, "sigma"),
        ({"image": "not-an-id"}, "image"),
        ({"colour": 3}, "colour"),
    ],
)
def test_bad_values_name_their_field(given, field):
    with pytest.raises(ParamError) as error:
        clean_params(BLUR["params"], {"image": str(uuid.uuid4()), **given})
    assert error.value.field == field


def test_choice_must_be_listed():
    with pytest.raises(ParamError):
        clean_params(UPSCALE["params"], {"image": str(uuid.uuid4()), "upscale_method": "magic"})
    values = clean_params(UPSCALE["params"], {"image": str(uuid.uuid4()), "upscale_method": "area"})
    assert values["upscale_method"] == "area"


def test_seed_without_value_is_randomized_within_range():
    specs = [{"name": "seed", "type": "seed", "node": "3", "input": "seed"}]
    seeds = {clean_params(specs, {})["seed"] for _ in range(5)}
    assert all(0 <= s <= SEED_MAX for s in seeds) and len(seeds) > 1


def test_build_prompt_binds_values_and_server_image_name():
    upload = str(uuid.uuid4())
    values = clean_params(BLUR["params"], {"image": upload, "blur_radius": 7})
    prompt = build_prompt(BLUR["graph"], BLUR["params"], values, {"image": "comfyweb-abc (1).png"})
    assert prompt["1"]["inputs"]["image"] == "comfyweb-abc (1).png"
    assert prompt["2"]["inputs"]["blur_radius"] == 7
    assert BLUR["graph"]["2"]["inputs"]["blur_radius"] == 4, "the stored graph is not modified"


def test_public_params_hide_graph_binding():
    assert all("node" not in p and "input" not in p for p in public_params(BLUR["params"]))
