"""The ComfyUI endpoint for people (issues T, X): in accounts mode a caller is the person whose
token it sends (Bearer, HTTP Basic with the token as password as comfy-api-simplified sends
it, or a /t/<token>/ prefix); the results land in that person's gallery; a bad or missing
token is refused; a group without whole graphs is refused in ComfyUI's shape."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import httpx
import pytest
from comfy_api_simplified import ComfyApiWrapper, ComfyWorkflowWrapper

from tests.comfyapi.conftest import INVERT, Endpoint, start
from tests.comfyapi.test_endpoint_live import invert_graph, inverted, wait_for_pool
from tests.factories import png_bytes

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("comfyapi")]

ANN, BOB = "cwt_" + "a" * 43, "cwt_" + "b" * 43
SEED = f"""
from django.contrib.auth.models import Group, User
from jobs.people import tokens
from jobs.people.models import ApiToken, GroupLimits
no_graphs = Group.objects.create(name="pages-only")
GroupLimits.objects.create(group=no_graphs, comfyui_graphs=False)
for name, token in (("ann", {ANN!r}), ("bob", {BOB!r})):
    user = User.objects.create_user(name)
    ApiToken.objects.create(user=user, name="client", digest=tokens.digest(token), prefix=token[:10])
User.objects.get(username="bob").groups.add(no_graphs)
"""


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory) -> Iterator[Endpoint]:
    env = {"COMFYWEB_ACCESS": "accounts"}
    yield from start(tmp_path_factory.mktemp("comfyapi-tokens"), simulators=1, env=env, seed=SEED)


def owners_of_finished(endpoint: Endpoint) -> str:
    code = (
        "from jobs.models import Job; "
        "print(sorted(set(Job.objects.filter(workflow=None).values_list('session_key', flat=True))))"
    )
    return endpoint.app.manage("shell", "-c", code)


def test_comfy_api_simplified_with_a_token_as_password_runs_into_the_persons_gallery(endpoint, tmp_path):
    wait_for_pool_with(endpoint, ANN)
    source = png_bytes(10, 7, (200, 40, 90))
    path = tmp_path / "photo.png"
    path.write_bytes(source)
    api = ComfyApiWrapper(endpoint.url, user="ann", password=ANN)
    sent = api.upload_image(path)
    workflow = ComfyWorkflowWrapper(copy.deepcopy(INVERT))
    workflow.set_node_param("Load Image", "image", f"{sent['subfolder']}/{sent['name']}")
    (result,) = api.queue_and_wait_images(workflow, "Save Image").values()
    assert inverted(result, source)
    assert "user:" in owners_of_finished(endpoint) and "comfyui:anonymous" not in owners_of_finished(endpoint)


def wait_for_pool_with(endpoint: Endpoint, token: str) -> None:
    """wait_for_pool, as the token's person (a caller without a token is refused here)."""
    as_person = Endpoint(endpoint.app, int(endpoint.url.rsplit(":", 1)[1]))
    as_person.url = f"{endpoint.url}/t/{token}"
    wait_for_pool(as_person)


def test_a_token_in_the_path_works_for_clients_that_take_only_a_base_url(endpoint):
    base = f"{endpoint.url}/t/{ANN}"
    assert "LoadImage" in httpx.get(f"{base}/object_info/LoadImage").json()
    assert httpx.get(f"{base}/queue").status_code == 200


def test_no_token_or_a_bad_one_is_refused_in_accounts_mode(endpoint):
    for headers in (
        {},
        {"Authorization": "Bearer cwt_nope"},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer sk-x"},
    ):
        answer = httpx.get(f"{endpoint.url}/queue", headers=headers)
        assert answer.status_code == 401 and answer.json()["error"]["type"] == "unauthorized", headers
    assert httpx.get(f"{endpoint.url}/t/cwt_nope/queue").status_code == 401


def test_a_group_without_whole_graphs_is_refused_in_comfyuis_shape(endpoint):
    bob = {"Authorization": f"Bearer {BOB}"}
    sent = httpx.post(f"{endpoint.url}/upload/image", files={"image": ("b.png", png_bytes())}, headers=bob)
    assert sent.status_code == 200, sent.text
    graph = invert_graph(sent.json()["name"])
    answer = httpx.post(f"{endpoint.url}/prompt", json={"prompt": graph}, headers=bob)
    assert answer.status_code in (400, 403), answer.text
    assert "may not send whole graphs" in answer.text


def test_sillytavern_with_the_token_in_its_base_url(endpoint):
    from tests.comfyapi.test_client_sequences import sillytavern_generate

    base = f"{endpoint.url}/t/{ANN}"
    source = png_bytes(9, 9, (5, 100, 250))
    sent = httpx.post(f"{base}/upload/image", files={"image": ("st.png", source)})
    assert inverted(sillytavern_generate(base, invert_graph(sent.json()["name"])), source)
