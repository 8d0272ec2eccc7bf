"""Where the translations live and what the pages ask for (shared by the i18n and browser tests)."""

from __future__ import annotations

import fcntl
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import polib

from tests.paths import REPO

LOCALE = REPO / "locale"
CATALOGS = {domain: LOCALE / "zh_Hans" / "LC_MESSAGES" / f"{domain}.po" for domain in ("django", "djangojs")}
TEMPLATES = REPO / "templates"
SCRIPTS = REPO / "static" / "comfyweb"


def compile_translations() -> None:
    """`manage.py compiletranslations`, once at a time across parallel test workers."""
    lock = Path(tempfile.gettempdir()) / "comfyweb-compiletranslations.lock"
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        po_files = list(CATALOGS.values())
        fresh = all(
            p.with_suffix(".mo").exists() and p.with_suffix(".mo").stat().st_mtime >= p.stat().st_mtime
            for p in po_files
        )
        if not fresh:
            subprocess.run([sys.executable, "manage.py", "compiletranslations", "-v0"], cwd=REPO, check=True)


def catalog(domain: str) -> polib.POFile:
    return polib.pofile(str(CATALOGS[domain]))


# --- extraction: what makemessages would find, without needing GNU xgettext --------------------

_TRANS = re.compile(r"""{%\s*(?:trans|translate)\s+(["'])(.*?)\1(?:\s+(?:as|asvar)\s+\w+)?\s*%}""", re.S)
_BLOCK = re.compile(
    r"{%\s*(?:blocktrans|blocktranslate)\b(.*?)%}(.*?){%\s*(?:endblocktrans|endblocktranslate)\s*%}", re.S
)
_VAR = re.compile(r"{{\s*(\w+)\s*}}")
_JS = re.compile(r"""\b(n?gettext)\(\s*"((?:[^"\\]|\\.)*)"(?:\s*,\s*"((?:[^"\\]|\\.)*)")?""")


def _block_msgids(options: str, body: str) -> list[str]:
    parts = re.split(r"{%\s*plural\s*%}", body)
    if "trimmed" in options.split():
        parts = [" ".join(line.strip() for line in p.strip().splitlines() if line.strip()) for p in parts]
    return [_VAR.sub(r"%(\1)s", p) for p in parts]


def template_msgids() -> set[str]:
    """Every msgid of a {% translate %} or {% blocktranslate %} in templates/."""
    found: set[str] = set()
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        found.update(m.group(2) for m in _TRANS.finditer(text))
        for m in _BLOCK.finditer(text):
            found.update(_block_msgids(m.group(1), m.group(2)))
    return found


def script_msgids() -> set[str]:
    """Every string literal passed to gettext() or ngettext() in static/comfyweb/*.js."""
    found: set[str] = set()
    for path in SCRIPTS.glob("*.js"):
        for m in _JS.finditer(path.read_text()):
            found.add(m.group(2).encode().decode("unicode_escape") if "\\" in m.group(2) else m.group(2))
            if m.group(1) == "ngettext" and m.group(3):
                found.add(m.group(3))
    return found
