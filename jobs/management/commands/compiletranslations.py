"""Compile the translation catalogs: Django's compilemessages, or polib when msgfmt is missing.

GNU gettext's msgfmt is not on every fresh machine; `make run` and `make test` must work there
too, so the .po files under LOCALE_PATHS are then compiled to .mo with polib instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import polib
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

DOMAINS = ("django", "djangojs")
IGNORE = [".venv", "var", ".git", "node_modules", "test-artifacts"]


def catalogs() -> list[Path]:
    """Every django.po and djangojs.po under LOCALE_PATHS."""
    found: list[Path] = []
    for root in settings.LOCALE_PATHS:
        for domain in DOMAINS:
            found.extend(sorted(Path(root).glob(f"*/LC_MESSAGES/{domain}.po")))
    return found


def compile_with_polib(po_path: Path) -> Path:
    """Write the .mo beside `po_path` atomically (parallel test workers may compile at once)."""
    mo_path = po_path.with_suffix(".mo")
    catalog = polib.pofile(str(po_path))
    handle, temporary = tempfile.mkstemp(dir=po_path.parent, suffix=".mo.tmp")
    os.close(handle)
    try:
        catalog.save_as_mofile(temporary)
        os.replace(temporary, mo_path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return mo_path


class Command(BaseCommand):
    # Runs before migrations and with half-configured machines: no system checks, no database.
    requires_system_checks: list[str] = []
    help = "Compile locale/**/django.po and djangojs.po to .mo (msgfmt if present, else polib)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--use-polib", action="store_true", help="Compile with polib even when msgfmt exists."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if shutil.which("msgfmt") and not options["use_polib"]:
            # compilemessages also walks the working tree for locale/ dirs: not into the venv.
            call_command("compilemessages", verbosity=options["verbosity"], ignore_patterns=IGNORE)
            return
        for po_path in catalogs():
            mo_path = compile_with_polib(po_path)
            if options["verbosity"] > 0:
                self.stdout.write(f"compiled {po_path} -> {mo_path.name} (polib)")
