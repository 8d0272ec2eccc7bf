"""SPEC §4: CSRF on every unsafe route, ids validated, another session's things are 404,
and workflow parameters are checked against their declared type and bounds before a job exists."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from jobs.core.models import Job, Tab, Workflow
from tests.security.clients import browser, error_of, post, submit, upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("identity")]

UNSAFE = ("post", "put", "patch", "delete")


def unsafe_operations() -> list[tuple[str, str]]:
    """Every unsafe route of the API, read from its own OpenAPI document: new routes are covered too."""
    spec = Client().get("/api/openapi.json").json()
    return [(method, path) for path, item in spec["paths"].items() for method in item if method in UNSAFE]


def test_every_unsafe_route_needs_the_csrf_header():
    owner = browser()
    image = upload(owner).json()
    job = submit(owner, image["id"]).json()["job"]
    operations = unsafe_operations()
    assert len(operations) >= 5, operations
    for method, path in operations:
        url = path.format(job_id=job["id"], tab_id=job["tab"])
        for headers in ({}, {"HTTP_X_CSRFTOKEN": "wrong" * 8}):
            answer = getattr(owner, method)(url, {}, content_type="application/json", **headers)
            assert answer.status_code == 403, (method, path, answer.content)
            assert error_of(answer)["code"] == "csrf_failed"
    assert Job.objects.get().status == "pending", "nothing was changed without the token"


def test_the_csrf_token_of_another_session_does_not_help():
    owner, other = browser(), browser()
    image = upload(owner).json()
    answer = owner.post(
        "/api/jobs/",
        {"tab": str(uuid.uuid4()), "workflow": "invert", "params": {"image": image["id"]}},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=other.csrf,
    )
    assert answer.status_code == 403 and error_of(answer)["code"] == "csrf_failed"


BAD_IDS = ["x", "1", "../../etc/passwd", "..%2F..%2Fsettings.py", "%00", "' OR 1=1 --", "9" * 400]


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_malformed_ids_are_refused_in_json(bad_id):
    client = browser()
    for method, path in [
        ("get", f"/api/jobs/{bad_id}/"),
        ("post", f"/api/jobs/{bad_id}/cancel/"),
        ("post", f"/api/jobs/{bad_id}/retry/"),
        ("delete", f"/api/jobs/{bad_id}/"),
        ("get", f"/api/tabs/{bad_id}/"),
        ("get", f"/api/jobs/?tab={bad_id}"),
    ]:
        answer = getattr(client, method)(path, HTTP_X_CSRFTOKEN=client.csrf)
        assert answer.status_code in (400, 404), (method, path, answer.status_code)
        assert error_of(answer)["code"] in ("invalid_id", "not_found")


def test_another_sessions_job_and_tab_are_404_on_every_route():
    owner, stranger = browser(), browser()
    image = upload(owner).json()
    job = submit(owner, image["id"]).json()["job"]
    for method, path in [
        ("get", f"/api/jobs/{job['id']}/"),
        ("post", f"/api/jobs/{job['id']}/cancel/"),
        ("post", f"/api/jobs/{job['id']}/retry/"),
        ("delete", f"/api/jobs/{job['id']}/"),
        ("get", f"/api/tabs/{job['tab']}/"),
    ]:
        answer = getattr(stranger, method)(path, HTTP_X_CSRFTOKEN=stranger.csrf)
        assert answer.status_code == 404 and error_of(answer)["code"] == "not_found", (method, path)
    assert stranger.get(f"/api/jobs/?tab={job['tab']}").json() == {"jobs": []}
    assert stranger.get("/api/jobs/").json() == {"jobs": []}
    assert Job.objects.count() == 1 and Job.objects.get().status == "pending"


def test_unknown_ids_are_404():
    client = browser()
    for method, path in [
        ("get", f"/api/jobs/{uuid.uuid4()}/"),
        ("post", f"/api/jobs/{uuid.uuid4()}/cancel/"),
        ("delete", f"/api/jobs/{uuid.uuid4()}/"),
        ("get", f"/api/tabs/{uuid.uuid4()}/"),
    ]:
        answer = getattr(client, method)(path, HTTP_X_CSRFTOKEN=client.csrf)
        assert answer.status_code == 404 and error_of(answer)["code"] == "not_found"


def test_a_foreign_session_cannot_submit_to_a_tab():
    owner, stranger = browser(), browser()
    job = submit(owner, upload(owner).json()["id"]).json()["job"]
    answer = submit(stranger, upload(stranger).json()["id"], tab=job["tab"])
    assert answer.status_code == 403 and error_of(answer)["code"] == "tab_taken"
    assert Tab.objects.get(id=job["tab"]).jobs.count() == 1


def test_a_foreign_upload_is_refused_exactly_like_an_unknown_one():
    """No oracle: another session's upload id and a made-up one get the same answer."""
    owner, stranger = browser(), browser()
    foreign = upload(owner).json()["id"]
    answers = [submit(stranger, image_id) for image_id in (foreign, str(uuid.uuid4()))]
    assert [a.status_code for a in answers] == [400, 400]
    assert error_of(answers[0]) == error_of(answers[1])
    assert error_of(answers[0])["code"] == "invalid_param"
    assert not Job.objects.exists()


@pytest.fixture
def every_type():
    """A workflow with one parameter of each declared type (SPEC §1)."""
    return Workflow.objects.create(
        slug="every-type",
        name="Every type",
        graph={"1": {"class_type": "X", "inputs": {}}},
        params=[
            {"name": "steps", "type": "int", "node": "1", "input": "a", "min": 1, "max": 50, "default": 10},
            {
                "name": "cfg",
                "type": "float",
                "node": "1",
                "input": "b",
                "min": 0.0,
                "max": 30.0,
                "default": 7,
            },
            {"name": "seed", "type": "seed", "node": "1", "input": "c"},
            {"name": "prompt", "type": "text", "node": "1", "input": "d", "default": "a cat"},
            {
                "name": "method",
                "type": "choice",
                "node": "1",
                "input": "e",
                "choices": ["a", "b"],
                "default": "a",
            },
        ],
    )


@pytest.mark.parametrize(
    "params",
    [
        {"steps": 10**100},
        {"steps": -(10**100)},
        {"steps": 51},
        {"steps": 2.5},
        {"steps": "NaN"},
        {"steps": True},
        {"steps": {"$gt": 1}},
        {"steps": [1, 2]},
        {"cfg": "NaN"},
        {"cfg": "nan"},
        {"cfg": "inf"},
        {"cfg": "-Infinity"},
        {"cfg": 1e308 * 10},
        {"cfg": "1e999"},
        {"cfg": {"nested": {"deeper": [1]}}},
        {"seed": 2**64},
        {"seed": -1},
        {"seed": "12abc"},
        {"prompt": "x" * 10_001},
        {"prompt": {"text": "a"}},
        {"prompt": ["a"]},
        {"method": "c"},
        {"method": ["a"]},
        {"method": {"a": 1}},
        {"unknown": 1},
        {"__proto__": {"x": 1}},
        {"../../node": "x"},
    ],
)
def test_hostile_parameter_values_are_refused_before_a_job_exists(every_type, params):
    client = browser()
    answer = post(
        client, "/api/jobs/", {"tab": str(uuid.uuid4()), "workflow": "every-type", "params": params}
    )
    assert answer.status_code == 400, (params, answer.content)
    error = error_of(answer)
    assert error["code"] == "invalid_param" and error["message"]
    assert not Job.objects.exists(), "nothing reaches a server"


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_literals_are_refused(every_type, raw):
    client = browser()
    body = f'{{"tab": "{uuid.uuid4()}", "workflow": "every-type", "params": {{"cfg": {raw}}}}}'
    answer = post(client, "/api/jobs/", body)
    assert answer.status_code == 400 and error_of(answer)["code"] in ("invalid_param", "bad_request")
    assert not Job.objects.exists()


@pytest.mark.parametrize("params", [[], "x", 5, None, [["image", "x"]]])
def test_params_that_are_not_an_object_are_refused(params):
    client = browser()
    answer = post(client, "/api/jobs/", {"tab": str(uuid.uuid4()), "workflow": "invert", "params": params})
    assert answer.status_code == 400 and error_of(answer)["code"] in ("invalid_request", "invalid_param")
    assert not Job.objects.exists()


def test_the_boundaries_themselves_are_accepted(every_type):
    client = browser()
    params = {"steps": 50, "cfg": 0.0, "seed": 2**53 - 1, "prompt": "x" * 10_000, "method": "b"}
    answer = post(
        client, "/api/jobs/", {"tab": str(uuid.uuid4()), "workflow": "every-type", "params": params}
    )
    assert answer.status_code == 201, answer.content
    assert answer.json()["job"]["params"] == params
