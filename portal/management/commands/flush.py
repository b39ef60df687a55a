"""`flush` as the owner role when DATABASE_OWNER_URL is set (the runtime role has no TRUNCATE).

The append-only tables' TRUNCATE guard refuses a flush, even the owner's; only the test
suite (CIVICDESK_TESTING, which empties its own test database between tests) steps past it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pgtrigger
from django.conf import settings
from django.core.management.commands import flush

from portal import dbroles


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        database = options["database"]
        with dbroles.as_owner(database) as owner, contextlib.ExitStack() as stack:
            if getattr(settings, "TESTING", False) and owner.vendor == "postgresql":
                stack.enter_context(
                    pgtrigger.ignore(*dbroles.truncate_guard_uris(), databases=[database])
                )
            super().handle(**options)
