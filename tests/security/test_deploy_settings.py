"""Production settings (SPEC §6, SECURITY.md): `check --deploy` is clean for a TLS deployment,
and DEBUG off with the development secret key refuses to start.

Settings are read once per process, so each case runs manage.py in a fresh one.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from tests.paths import REPO


def manage(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "COMFYWEB_"))}
    environment.update({"COMFYWEB_DATA_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def strong_key() -> str:
    return secrets.token_urlsafe(60)


def test_check_deploy_is_clean_with_tls_and_a_real_secret_key(tmp_path):
    done = manage(
        tmp_path,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=strong_key(),
        COMFYWEB_TLS="1",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_without_tls_only_the_https_warnings_remain(tmp_path):
    """Plain HTTP is a choice (behind a trusted network); everything else is already set."""
    done = manage(tmp_path, "check", "--deploy", DJANGO_DEBUG="0", DJANGO_SECRET_KEY=strong_key())
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    warnings = {line.split(")")[0].split("(")[-1] for line in output.splitlines() if "(security." in line}
    assert warnings == {"security.W004", "security.W008", "security.W012", "security.W016"}, output


@pytest.mark.parametrize(
    "key",
    [None, "dev-only-insecure-key-change-me-in-production-0123456789"],
    ids=["unset", "the-dev-default"],
)
def test_debug_off_with_the_dev_secret_key_refuses_to_start(tmp_path, key):
    env = {"DJANGO_DEBUG": "0"} | ({"DJANGO_SECRET_KEY": key} if key else {})
    done = manage(tmp_path, "check", **env)
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and "DJANGO_SECRET_KEY" in done.stderr


def test_tls_settings_are_what_a_browser_needs(tmp_path):
    script = (
        "from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_HSTS_SECONDS >= 31536000, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_HTTPONLY,"
        " s.X_FRAME_OPTIONS, s.SECURE_PROXY_SSL_HEADER)"
    )
    done = manage(
        tmp_path,
        "shell",
        "-c",
        script,
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=strong_key(),
        COMFYWEB_TLS="1",
        COMFYWEB_TLS_PROXY="1",
    )
    assert done.returncode == 0, done.stderr
    # CSRF cookie readable by the page: it sends it back as X-CSRFToken (SPEC §4).
    assert done.stdout.strip().splitlines()[-1].split() == [
        "True", "True", "True", "True", "True", "False", "DENY", "('HTTP_X_FORWARDED_PROTO',", "'https')",
    ]  # fmt: skip


def test_a_bad_tls_value_names_the_variable(tmp_path):
    done = manage(tmp_path, "check", COMFYWEB_TLS="maybe")
    assert done.returncode != 0 and "COMFYWEB_TLS" in done.stderr
