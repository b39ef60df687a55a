"""Shared by the data-rights modules: the statuses after which a request is final, the app's
settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings

FINAL_STATUSES = ("closed", "rejected", "withdrawn")


def rights_setting(name: str) -> Any:
    """One of the rights app's settings (settings.CIVICDESK)."""
    return settings.CIVICDESK[name]
