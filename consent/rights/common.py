"""Shared by the data-rights modules: the marker that replaces removed text, the
statuses after which a request is final, the app's settings.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

#: What replaces free text a resident wrote once it may no longer be kept.
REMOVED_MARKER = "[removed at the resident's request or at the end of its retention period]"
REDACTED = "[removed]"

FINAL_STATUSES = ("closed", "rejected", "withdrawn")


def rights_setting(name: str) -> Any:
    """One of the rights app's settings (settings.CIVICDESK)."""
    return settings.CIVICDESK[name]
