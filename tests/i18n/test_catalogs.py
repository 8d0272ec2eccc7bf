"""Every user-visible string of the pages and scripts has a real Simplified Chinese translation."""

from __future__ import annotations

import re

import pytest

from jobs.web.views import BUILTIN_TEXT
from tests.i18n.catalogs import catalog, script_msgids, template_msgids

PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|%d")
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_every_entry_is_translated_and_none_is_fuzzy(domain):
    po = catalog(domain)
    assert len(po) > 10
    assert not po.metadata_is_fuzzy, f"{domain}.po: the header is still marked fuzzy"
    assert "Plural-Forms" in po.metadata
    for entry in po:
        where = f"{domain}.po {entry.msgid!r}"
        assert "fuzzy" not in entry.flags, f"{where} is fuzzy"
        assert not entry.obsolete, f"{where} is obsolete"
        strings = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        for text in strings:
            assert text.strip(), f"{where} has no translation"
            assert HAN.search(text), f"{where}: {text!r} is not Chinese"
            assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(entry.msgid)), (
                f"{where}: the placeholders of {text!r} differ from the English ones"
            )


def test_every_template_string_is_in_the_catalog():
    msgids = {m for e in catalog("django") for m in (e.msgid, e.msgid_plural) if m}
    found = template_msgids()
    assert len(found) > 30, "the extraction found too little: is the pattern still right?"
    missing = sorted(found - msgids)
    assert not missing, f"template strings missing from django.po (run makemessages): {missing}"


def test_every_script_string_is_in_the_catalog():
    entries = catalog("djangojs")
    msgids = {e.msgid for e in entries} | {e.msgid_plural for e in entries if e.msgid_plural}
    found = script_msgids()
    assert len(found) > 30, "the extraction found too little: is the pattern still right?"
    missing = sorted(found - msgids)
    assert not missing, f"script strings missing from djangojs.po (run makemessages): {missing}"


def test_the_builtin_workflows_are_translated():
    msgids = {e.msgid for e in catalog("django")}
    assert not [text for text in BUILTIN_TEXT if text not in msgids]


def test_scripts_pass_only_literals_to_gettext():
    """gettext(variable) cannot be extracted: every call takes a string literal."""
    from tests.i18n.catalogs import SCRIPTS

    for path in SCRIPTS.glob("*.js"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for call in re.finditer(r"\bn?gettext\(\s*(.)", line):
                where = f"{path.name}:{number}"
                assert call.group(1) == '"', f"{where}: gettext() needs a literal: {line.strip()}"
