"""Hot statements written out once, prepared once per connection on PostgreSQL.

Django's PostgreSQL cursors bind parameters on the client: the values go into the text, so
PostgreSQL parses and plans every statement afresh, and for the few statements every
consent change or filed report runs, planning costs as much as executing. `fetch_prepared`
sends a fixed text and the values apart (a server-binding cursor); psycopg prepares the text
once it has run five times on a connection (`prepare_threshold` in DATABASES OPTIONS, set in
portal/settings.py) and PostgreSQL then reuses the plan. On other databases it is a plain
cursor.

The text must be fixed (our own table and column names only, values as `%s`), and a
parameter whose type PostgreSQL cannot infer (one in a SELECT list) needs a cast (`%s::text`).
The cursor is wrapped like any Django cursor: errors are Django's, and queries are logged and
counted in tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.postgresql.base import ServerBindingCursor


def fetch_prepared(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run `sql` with `params` on the default database and return every row."""
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql":
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    conn.ensure_connection()
    # django-stubs type these as taking a Django wrapper; they take the driver's cursor.
    raw = ServerBindingCursor(conn.connection)  # type: ignore[call-arg]
    wrapped = (conn.make_debug_cursor(raw) if conn.queries_logged  # type: ignore[arg-type]
               else conn.make_cursor(raw))  # type: ignore[arg-type]
    with wrapped as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
