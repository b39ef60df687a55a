"""Per-viewer, short-lived photo links for staff: a reveal's photo URL works for the clerk
whose logged reveal made it, for PHOTO_LINK_SECONDS, and for nobody else.

The resident who filed the photo uses its plain token (it is their own data); staff never can.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing

SALT = "civicdesk.photo-grant.v1"


def photo_grant(*, viewer_id: int, attachment_token: str) -> str:
    """A signed, timestamped link token naming the viewer and the photo (URL-path safe)."""
    return signing.dumps([viewer_id, attachment_token], salt=SALT)


def photo_grant_open(*, grant: str, viewer_id: int | None) -> str | None:
    """The photo's token if `grant` is genuine, unexpired and was made for `viewer_id`."""
    try:
        value = signing.loads(
            grant, salt=SALT, max_age=settings.CIVICDESK["PHOTO_LINK_SECONDS"]
        )
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if (
        not isinstance(value, list) or len(value) != 2
        or value[0] != viewer_id or not isinstance(value[1], str)
    ):
        return None
    return value[1]
