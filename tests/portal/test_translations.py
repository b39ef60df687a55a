"""The zh-hans catalog is complete: no untranslated or fuzzy entries, and every literal string
our templates translate is in it."""

from __future__ import annotations

import re
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
TEMPLATES = ROOT / "portal" / "templates"
TRANSLATE_TAG = re.compile(r"""{%\s*(?:translate|trans)\s+(["'])(.+?)\1""")


@pytest.fixture(scope="module")
def catalog() -> polib.POFile:
    return polib.pofile(str(CATALOG))


def test_no_zh_hans_entry_is_untranslated_or_fuzzy(catalog):
    untranslated = [e.msgid for e in catalog.untranslated_entries()]
    fuzzy = [e.msgid for e in catalog.fuzzy_entries()]
    assert untranslated == []
    assert fuzzy == []


def test_every_literal_template_string_has_a_chinese_translation(catalog):
    translated = {e.msgid for e in catalog.translated_entries()}
    missing = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        for _quote, text in TRANSLATE_TAG.findall(template.read_text(encoding="utf-8")):
            if text.replace("%", "%%") not in translated and text not in translated:
                missing.append(f"{template.relative_to(ROOT)}: {text}")
    assert missing == []


def test_placeholders_survive_translation(catalog):
    placeholder = re.compile(r"%\(\w+\)[sd]")
    wrong = [
        e.msgid
        for e in catalog.translated_entries()
        if not e.msgid_plural
        and sorted(placeholder.findall(e.msgid)) != sorted(placeholder.findall(e.msgstr))
    ]
    assert wrong == []
