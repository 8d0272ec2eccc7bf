"""Accounts mode as people meet it (issue U), in chromium against `manage.py serve` with
COMFYWEB_ACCESS=accounts: an operator invites a person in the admin; she signs up from the
link, runs a job, and sees the same gallery from a second browser after signing in there;
a second person sees nothing of hers; a daily quota refusal reads clearly; signing out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.pages import (
    api_json,
    choose_image,
    click_run,
    new_context,
    open_run_page,
    scene_png,
    sign_in,
    wait_status,
)
from tests.live import LiveApp, live_app

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

PASSWORD = "a long pass phrase 42"
SEED = f"""
from datetime import timedelta
from django.contrib.auth.models import Group, User
from django.utils import timezone
from jobs.people.models import GroupLimits, Invitation
User.objects.create_superuser("ops", "ops@studio.test", {PASSWORD!r})
once = Group.objects.create(name="one-a-day")
GroupLimits.objects.create(group=once, jobs_per_day=1)
bob = Invitation.objects.create(email="bob@studio.test", token="bob-invitation",
                                expires_at=timezone.now() + timedelta(days=1))
bob.groups.set([once])
"""
LAKE = ((60, 140, 220), (210, 230, 250), (250, 210, 90), (80, 160, 80), (235, 225, 205))


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Iterator[LiveApp]:
    env = {"COMFYWEB_ACCESS": "accounts"}
    with live_app(
        tmp_path_factory.mktemp("accounts"), simulators=1, sim_delay=0.05, env=env, seed=SEED
    ) as running:
        yield running


def sign_in_from_gallery(context, url: str, username: str) -> None:
    page = context.new_page()
    page.goto(f"{url}/gallery/")
    assert "/accounts/login/" in page.url, "accounts mode: the gallery needs a signed-in person"
    sign_in(page, username, PASSWORD, f"{url}/gallery/")
    page.close()


def sign_up(context, url: str, link: str, username: str) -> None:
    page = context.new_page()
    page.goto(f"{url}{link}")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password1"]', PASSWORD)
    page.fill('input[name="password2"]', PASSWORD)
    page.click('[data-role="signup"] button[type="submit"]')
    page.wait_for_url(f"{url}/")
    assert page.text_content('[data-role="who"]') == username
    page.close()


def invite(context, url: str, email: str) -> str:
    """The operator's way: the admin's invitation form; returns the link to send."""
    sign_in_admin = context.new_page()
    sign_in_admin.goto(f"{url}/admin/jobs/invitation/add/")
    assert "/accounts/login/" in sign_in_admin.url  # the one sign-in page, for staff too
    sign_in(sign_in_admin, "ops", PASSWORD, "**/admin/jobs/invitation/add/")
    sign_in_admin.fill('input[name="email"]', email)
    sign_in_admin.click('input[name="_continue"]')
    link = sign_in_admin.text_content('[data-role="invite-link"]')
    sign_in_admin.close()
    assert link and link.startswith("/accounts/invite/")
    return link


def test_invited_people_each_see_one_gallery_everywhere_and_nothing_of_the_other(app, browser, tmp_path):
    image = tmp_path / "lake.png"
    scene_png(200, 140, LAKE, image)
    with new_context(browser) as operator:
        link = invite(operator, app.url, "ann@studio.test")

    with new_context(browser) as laptop, new_context(browser) as phone, new_context(browser) as other:
        sign_up(laptop, app.url, link, "ann")
        page, _ = open_run_page(laptop, app.url)
        choose_image(page, "invert", image)
        job_id = click_run(page)
        wait_status(page, job_id, "succeeded")

        # Her second device: sign in, and the gallery shows the same result.
        sign_in_from_gallery(phone, app.url, "ann")
        gallery = phone.new_page()
        gallery.goto(f"{app.url}/gallery/")
        assert gallery.locator("[data-role='gallery-count']").is_visible()
        assert api_json(gallery, f"{app.url}/api/jobs/{job_id}/")["job"]["status"] == "succeeded"

        # Bob, by the operator's other invitation (a group with one job a day).
        sign_up(other, app.url, "/accounts/invite/bob-invitation/", "bob")
        theirs = other.new_page()
        theirs.goto(f"{app.url}/gallery/")
        assert theirs.locator("[data-role='gallery-count']").count() == 0, "Bob's gallery is empty"
        answer = theirs.request.get(f"{app.url}/api/jobs/{job_id}/")
        assert answer.status == 404

        bob_page, _ = open_run_page(other, app.url)
        choose_image(bob_page, "invert", image)
        first = click_run(bob_page)
        wait_status(bob_page, first, "succeeded")
        bob_page.click('[data-action="run"]')
        refusal = bob_page.locator('[data-role="form-error"], [data-role="notice"]').filter(
            has_text="resets at"
        )
        refusal.first.wait_for(timeout=10_000)
        assert "1 jobs for today" in refusal.first.text_content()

        # Signing out: the pages need a sign-in again.
        gallery.click('[data-role="sign-out"]')
        gallery.wait_for_url("**/accounts/login/")
        gallery.goto(f"{app.url}/gallery/")
        assert "/accounts/login/" in gallery.url
