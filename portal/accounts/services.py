"""Writes to a person's own account: name, phone, language and notification choices. Each
change is recorded for them (ProfileChange: which field, when, how; never the values)."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import Invalid
from portal.accounts.models import ProfileChange, User

PROFILE_FIELDS = ("display_name", "phone", "preferred_language", "email_updates")
PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{4,30}$")
FIELD_LABELS = {
    "display_name": gettext_lazy("name"),
    "phone": gettext_lazy("phone"),
    "preferred_language": gettext_lazy("language"),
    "email_updates": gettext_lazy("e-mails about my requests"),
    "email": gettext_lazy("e-mail address"),
}


def _clean(field: str, value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str):
        return None, _("Enter text.")
    value = value.strip()
    if field == "display_name":
        if len(value) > 100:
            return None, _("At most 100 characters.")
    elif field == "phone":
        if value and not PHONE.match(value):
            return None, _("Enter a phone number such as +86 138 0000 0000, or leave it empty.")
    elif field == "preferred_language":
        if value not in dict(settings.LANGUAGES):
            return None, _("Choose one of the offered languages.")
    elif field == "email_updates" and value not in User.EmailUpdates.values:
        return None, _("Choose one of the offered choices.")
    return value, None


@transaction.atomic
def profile_update(*, user: Any, changes: dict[str, Any], via: str) -> list[str]:
    """Change some of the person's own profile fields, all or none; returns the changed ones.

    Bad input raises Invalid with field errors and changes nothing.
    """
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for field, value in changes.items():
        if field not in PROFILE_FIELDS:
            errors[field] = [_("This cannot be changed here.")]
            continue
        cleaned, error = _clean(field, value)
        if error:
            errors[field] = [error]
        else:
            clean[field] = cleaned
    if errors:
        raise Invalid(_("Some fields are not valid."), errors=errors)
    locked = User.objects.select_for_update().get(pk=user.pk)
    changed = [f for f, v in clean.items() if getattr(locked, f) != v]
    if not changed:
        return []
    for field in changed:
        setattr(locked, field, clean[field])
        setattr(user, field, clean[field])
    locked.save(update_fields=changed)
    ProfileChange.objects.bulk_create(
        [ProfileChange(user_id=user.pk, field=field, via=via) for field in changed]
    )
    return changed


def user_language_set(*, user: Any, language: str) -> bool:
    """The language switcher: store the account's language (the portal and e-mails use it)."""
    try:
        return bool(profile_update(user=user, changes={"preferred_language": language},
                                   via=ProfileChange.Via.WEB))
    except Invalid:
        return False


def email_change_record(*, user: Any) -> None:
    """allauth confirmed a new e-mail address and made it the primary one."""
    ProfileChange.objects.create(user=user, field="email", via=ProfileChange.Via.EMAIL_FLOW)


def profile_changes_of(*, user: Any, limit: int = 50) -> list[ProfileChange]:
    return list(ProfileChange.objects.filter(user_id=user.pk)[:limit])
