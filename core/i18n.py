"""The one rule for choosing between our two languages (en, zh-hans) for the active request."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils.timesince import timesince
from django.utils.translation import get_language, gettext


def current_language() -> str:
    """"zh-hans" when the active language is any Chinese variant, else "en"."""
    return "zh-hans" if (get_language() or "en").lower().startswith("zh") else "en"


def localized(en: str, zh_hans: str) -> str:
    """The Chinese text when Chinese is active and a translation exists, else the English."""
    return zh_hans if current_language() == "zh-hans" and zh_hans else en


def age_text(when: datetime, now: datetime) -> str:
    """How long ago, in the largest unit ("3 days ago", "2 hours ago", "just now")."""
    if now - when < timedelta(minutes=1):
        return gettext("just now")
    # timesince joins number and unit with a no-break space; API clients get a plain one.
    ago = timesince(when, now, depth=1).replace("\xa0", " ")
    return gettext("%(time)s ago") % {"time": ago}
