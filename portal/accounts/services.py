"""Writes to a person's own account settings (language now; the profile in issue 19 item 7)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import Invalid


def user_language_set(*, user: Any, language: str) -> bool:
    """Store the account's language (the portal, e-mails and texts use it). Returns whether
    it changed; an unknown language is refused with a field error."""
    if language not in dict(settings.LANGUAGES):
        raise Invalid(_("Choose one of the offered languages."),
                      errors={"language": [_("Unknown language.")]})
    if user.preferred_language == language:
        return False
    user.preferred_language = language
    user.save(update_fields=["preferred_language"])
    return True
