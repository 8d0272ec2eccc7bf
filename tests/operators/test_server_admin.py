"""Servers in the admin: URL validation, columns, enable/disable/drain actions, test connection."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from jobs.core import events
from jobs.core.models import Server, Tab
from jobs.management.simulators import free_port
from tests.factories import make_server, make_tab

pytestmark = pytest.mark.django_db

ADD = "/admin/jobs/server/add/"
CHANGELIST = "/admin/jobs/server/"


def form(**fields):
    return {
        "name": "gpu9",
        "url": "http://gpu9:8188/",
        "enabled": "on",
        "weight": "1",
        "max_concurrent": "",
        "max_queued": "2",
        **fields,
    }


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def nudges(monkeypatch):
    sent = []
    monkeypatch.setattr(events, "nudge_relay_sync", lambda reason, **data: sent.append((reason, data)))
    return sent


def test_a_server_is_added_with_its_url_normalised(staff):
    response = staff.post(ADD, form(weight="2.5", max_concurrent="3"))
    assert response.status_code == 302, response.content.decode()[:2000]
    server = Server.objects.get(name="gpu9")
    assert server.url == "http://gpu9:8188"
    assert (server.weight, server.max_concurrent, server.max_queued) == (2.5, 3, 2)


@pytest.mark.parametrize("url", ["ftp://gpu9:8188", "javascript:alert(1)", "file:///etc/passwd", "gpu 9"])
def test_only_http_and_https_urls_are_accepted(staff, url):
    response = staff.post(ADD, form(url=url))
    assert response.status_code == 200
    assert "url" in response.context["adminform"].form.errors
    assert not Server.objects.filter(name="gpu9").exists()


def test_weight_must_be_positive(staff):
    response = staff.post(ADD, form(weight="0"))
    assert "weight" in response.context["adminform"].form.errors


def test_health_fields_are_read_only(staff):
    server = make_server(status="online", version="0.3.64", queue_remaining=4)
    response = staff.post(
        reverse("admin:jobs_server_change", args=[server.id]),
        form(name=server.name, url=server.url, status="offline", version="9", queue_remaining="0"),
    )
    assert response.status_code == 302
    server.refresh_from_db()
    assert (server.status, server.version, server.queue_remaining) == ("online", "0.3.64", 4)


def test_the_list_shows_status_queue_version_and_locked_tabs(staff, alice):
    gpu1 = make_server("gpu1", status="online", version="0.3.64", queue_remaining=7)
    make_server("gpu2", status="offline")
    for _ in range(2):
        tab = make_tab(alice)
        Tab.objects.filter(id=tab.id).update(server=gpu1, locked_at=timezone.now())
    response = staff.get(CHANGELIST)
    assert response.status_code == 200
    page = response.content.decode()
    for header in ("status", "queue remaining", "version", "locked tabs", "active jobs", "draining"):
        assert header in page.lower()
    row = next(r for r in response.context["cl"].result_list if r.name == "gpu1")
    assert (row.locked, row.queue_remaining, row.version) == (2, 7, "0.3.64")


@pytest.mark.parametrize(
    ("action", "field", "before", "after"),
    [
        ("disable", "enabled", True, False),
        ("enable", "enabled", False, True),
        ("drain", "draining", False, True),
        ("undrain", "draining", True, False),
    ],
)
def test_actions_enable_disable_drain_undrain(staff, nudges, action, field, before, after):
    chosen = [make_server("gpu1", **{field: before}), make_server("gpu2", **{field: before})]
    other = make_server("gpu3", **{field: before})
    response = staff.post(
        CHANGELIST, {"action": action, "_selected_action": [s.id for s in chosen]}, follow=True
    )
    assert response.status_code == 200
    assert all(getattr(Server.objects.get(id=s.id), field) is after for s in chosen)
    assert getattr(Server.objects.get(id=other.id), field) is before, "only the selected servers change"
    assert nudges == [("pool", {})], "the relay is woken to read the new flags"


def test_test_connection_action_shows_version_devices_and_vram(staff, sim_server):
    response = staff.post(
        CHANGELIST, {"action": "test_connection", "_selected_action": [sim_server.id]}, follow=True
    )
    [message] = messages_of(response)
    assert message.startswith("sim-op: ComfyUI 0.3.64; cpu (cpu): VRAM ")
    assert " free of " in message and "GiB" in message


def test_test_connection_button_on_the_change_page(staff, sim_server):
    change = reverse("admin:jobs_server_change", args=[sim_server.id])
    page = staff.get(change).content.decode()
    test_url = reverse("admin:jobs_server_test", args=[sim_server.id])
    assert f'action="{test_url}"' in page and "Test connection" in page
    response = staff.post(test_url, follow=True)
    assert response.redirect_chain[-1][0] == change
    [message] = messages_of(response)
    assert "ComfyUI 0.3.64" in message and "VRAM" in message


def test_an_unreachable_server_gives_a_clear_error(staff):
    server = make_server("gone", url=f"http://127.0.0.1:{free_port()}")
    response = staff.post(reverse("admin:jobs_server_test", args=[server.id]), follow=True)
    [message] = messages_of(response)
    assert message.startswith(f"gone ({server.url}) is unreachable: ")
    assert response.context["messages"]._loaded_messages[0].level_tag == "error"


def test_non_staff_cannot_use_the_test_connection_url(client, plain_user, sim_server):
    client.force_login(plain_user)
    response = client.post(reverse("admin:jobs_server_test", args=[sim_server.id]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_bare_host_names_are_fine_and_a_url_is_used_once(staff):
    make_server("gpu1", url="http://gpu1:8188")
    response = staff.post(ADD, form(url="http://gpu1:8188/"))
    assert "Another server has this URL." in str(response.context["adminform"].form.errors["url"])
    assert staff.post(ADD, form(url="http://[::1]:8190")).status_code == 302
