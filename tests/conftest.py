"""Shared fixtures. Tests that need a real component start it themselves (DEVELOPERS.md)."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def _private_files(settings, tmp_path):
    """Each test stores uploads and outputs in its own directory."""
    settings.COMFYWEB_FILES_DIR = tmp_path / "files"
    settings.STORAGES = {
        **settings.STORAGES,
        "comfyweb": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "files"), "base_url": None, "allow_overwrite": True},
        },
    }


@pytest.fixture
def alice(db):
    from tests.factories import make_session

    return make_session()


@pytest.fixture
def bob(db):
    from tests.factories import make_session

    return make_session()


@pytest.fixture(autouse=True)
def _builtin_workflows(request):
    """Transactional tests flush the tables, data migrations included, and a later test on the
    same xdist worker would find no workflows: every database test gets the built-ins back."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return
    transactional = marker.kwargs.get("transaction") or (marker.args and marker.args[0])
    request.getfixturevalue("transactional_db" if transactional else "db")
    from jobs.core.builtin_workflows import install
    from jobs.core.models import Workflow

    install(Workflow)
