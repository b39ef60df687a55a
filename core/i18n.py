"""The one rule for choosing between our two languages (en, zh-hans) for the active request."""

from __future__ import annotations

from django.utils.translation import get_language


def current_language() -> str:
    """"zh-hans" when the active language is any Chinese variant, else "en"."""
    return "zh-hans" if (get_language() or "en").lower().startswith("zh") else "en"


def localized(en: str, zh_hans: str) -> str:
    """The Chinese text when Chinese is active and a translation exists, else the English."""
    return zh_hans if current_language() == "zh-hans" and zh_hans else en
