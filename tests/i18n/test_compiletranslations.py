"""`manage.py compiletranslations` works with or without GNU msgfmt."""

from __future__ import annotations

import gettext
import shutil

from django.core.management import call_command

from jobs.management.commands import compiletranslations
from tests.i18n.catalogs import LOCALE


def _copy_locale(tmp_path):
    target = tmp_path / "locale"
    shutil.copytree(LOCALE, target, ignore=shutil.ignore_patterns("*.mo"))
    return target


def test_without_msgfmt_polib_compiles_both_catalogs(tmp_path, settings, monkeypatch):
    settings.LOCALE_PATHS = [_copy_locale(tmp_path)]
    monkeypatch.setattr(compiletranslations.shutil, "which", lambda name: None)

    call_command("compiletranslations", verbosity=0)

    folder = tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES"
    assert sorted(p.name for p in folder.glob("*.mo")) == ["django.mo", "djangojs.mo"]
    with (folder / "django.mo").open("rb") as handle:
        django = gettext.GNUTranslations(handle)
    assert django.gettext("Gallery") == "作品库"
    assert django.ngettext("%(counter)s result, newest first", "%(counter)s results, newest first", 3) == (
        "共 %(counter)s 个结果，最新的在前"
    )
    with (folder / "djangojs.mo").open("rb") as handle:
        assert gettext.GNUTranslations(handle).gettext("Succeeded") == "已完成"
    assert not list(folder.glob("*.tmp")), "no temporary file is left behind"


def test_with_msgfmt_django_compilemessages_runs(monkeypatch):
    calls = []
    monkeypatch.setattr(compiletranslations.shutil, "which", lambda name: "/usr/bin/msgfmt")
    monkeypatch.setattr(compiletranslations, "call_command", lambda *a, **k: calls.append((a, k)))

    call_command("compiletranslations", verbosity=0)

    assert calls and calls[0][0] == ("compilemessages",)
    assert ".venv" in calls[0][1]["ignore_patterns"]
