"""Tests that play an attacker with the owner's rights (editing or truncating the log past its
triggers), inside the test's own transaction.

With two roles (DATABASE_OWNER_URL) the tests connect as the runtime role, which cannot do
this. The test set-up (conftest.py) then creates, in the test database only, one SECURITY
DEFINER function owned by the owner that runs a statement with the owner's rights in the
caller's transaction; migrations never create it, so no real database has it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pgtrigger
from django.conf import settings
from django.db import connection

OWNER_FUNCTION = "civicdesk_test_as_owner"


def two_roles() -> bool:
    return connection.vendor == "postgresql" and settings.DATABASE_OWNER is not None


def install_owner_function() -> None:
    """As the owner (the set-up's login): the function, callable by the runtime role."""
    role = settings.DATABASE_RUNTIME["USER"]
    with connection.cursor() as cur:
        cur.execute(
            f"CREATE OR REPLACE FUNCTION {OWNER_FUNCTION}(statement text) RETURNS void "
            "LANGUAGE plpgsql SECURITY DEFINER SET search_path = public "
            "AS $$ BEGIN EXECUTE statement; END $$"
        )
        cur.execute(f"REVOKE ALL ON FUNCTION {OWNER_FUNCTION}(text) FROM PUBLIC")
        cur.execute(f'GRANT EXECUTE ON FUNCTION {OWNER_FUNCTION}(text) TO "{role}"')


def execute_as_owner(
    sql: str, params: list[Any] | tuple[Any, ...] = (), *, past_triggers: bool = True
) -> None:
    """Run one statement with the owner's rights in the current transaction, by default past
    every pgtrigger (append-only, TRUNCATE guard) as an owner could (on SQLite: run it)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cur:
            cur.execute(sql, params)
        return
    with (pgtrigger.ignore() if past_triggers else contextlib.nullcontext()), \
            connection.cursor() as cur:
        if two_roles():
            statement = connection.ops.compose_sql(sql, params) if params else sql
            cur.execute(f"SELECT {OWNER_FUNCTION}(%s)", [statement])  # noqa: S608
        else:
            cur.execute(sql, params)
