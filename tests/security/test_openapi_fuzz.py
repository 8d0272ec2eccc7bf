"""Schemathesis against the API's own /api/openapi.json, in process through Django's WSGI app.

For every operation it generates requests (valid and invalid bodies, paths and queries) as a
browser persona that opened "/" (session cookie + X-CSRFToken), and checks that no answer is a
5xx, that every error is JSON (SPEC §4), and that nothing of another session comes back. Each
generated request is sent a second time with another session's job, tab and upload ids put
where the operation takes ids: that must be refused and must show nothing of theirs.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from jobs.core import service
from tests.factories import make_session, make_upload

# Real commits: the WSGI handler closes the connection after each request, as in production.
# One xdist worker for the module: the last test reads what the fuzz test counted.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("openapi-fuzz")]

CALLS: Counter[str] = Counter()


@pytest.fixture
def openapi(transactional_db):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", WSGIHandler())


@pytest.fixture
def persona(transactional_db) -> dict[str, str]:
    """Headers of a browser that opened the app page."""
    client = Client()
    assert client.get("/").status_code == 200
    cookies = {name: morsel.value for name, morsel in client.cookies.items()}
    return {
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        "X-CSRFToken": cookies["csrftoken"],
    }


@pytest.fixture
def foreign(transactional_db) -> dict[str, str]:
    """Another session's upload, tab and job: none of it may ever reach the persona."""
    session = make_session()
    image = make_upload(session)
    job, _ = service.submit_job(session, str(uuid.uuid4()), "invert", {"image": str(image.id)})
    return {"session": session, "upload": str(image.id), "tab": str(job.tab_id), "job": str(job.id)}


schema = schemathesis.pytest.from_fixture("openapi")


def sent(case) -> str:
    return json.dumps(
        [case.path_parameters, case.query, case.body if isinstance(case.body, dict | list | str) else None],
        default=str,
    )


def check_answer(case, response, foreign: dict[str, str]) -> None:
    case.validate_response(response, checks=[not_a_server_error])
    body = response.text
    if response.status_code >= 400:
        content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type", [""])
        assert str(content_type).count("application/json") == 1, (response.status_code, body[:300])
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)
        assert "Traceback" not in body
    request = sent(case)
    leaked = [name for name, value in foreign.items() if value in body and value not in request]
    assert not leaked, f"{case.operation.label} showed another session's {leaked}: {body[:300]}"


def with_foreign_ids(case, foreign: dict[str, str]) -> bool:
    """Put the other session's ids where this operation takes ids; False if it takes none."""
    changed = False
    for name, key in (("job_id", "job"), ("tab_id", "tab")):
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = foreign[key]
            changed = True
    if case.operation.path == "/api/jobs/" and case.method == "GET":
        case.query = {"tab": foreign["tab"]}
        changed = True
    if case.operation.path == "/api/jobs/" and case.method == "POST":
        case.body = {"tab": foreign["tab"], "workflow": "invert", "params": {"image": foreign["upload"]}}
        changed = True
    return changed


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_no_html_and_nothing_of_another_session(case, persona, foreign):
    CALLS[case.operation.label] += 1
    response = case.call(headers=persona)
    check_answer(case, response, foreign)
    if with_foreign_ids(case, foreign):
        response = case.call(headers=persona)
        check_answer(case, response, foreign)
        # Refused (or, for the list filtered by their tab, empty): never their job.
        assert response.status_code >= 400 or response.json() == {"jobs": []}, (
            case.operation.label,
            response.status_code,
            response.text[:300],
        )


def test_the_fuzzing_reached_every_operation():
    """Runs after the fuzz test in this module (pytest keeps file order): every route was tried."""
    spec = Client().get("/api/openapi.json").json()
    operations = {f"{m.upper()} {p}" for p, item in spec["paths"].items() for m in item}
    assert operations <= set(CALLS), operations - set(CALLS)
    print(f"schemathesis: {len(CALLS)} operations, {sum(CALLS.values())} generated cases")
