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

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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


@contextmanager
def server_bound() -> Iterator[None]:
    """Inside the block, the ORM's statements on the default database are bound on the server
    too, so the ones that repeat with the same text (a model's INSERT, an UPDATE of the same
    columns) are prepared like `fetch_prepared`'s.

    For a few hot write paths only (filing a report, routing it): Django compiles its SQL for
    client-side binding, and not every statement it compiles can be typed by PostgreSQL
    without the values in the text, so the whole application does not run this way (see
    docs/capacity.md). Wrap writes, not the commit: on-commit hooks run after the block.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql":
        yield
        return
    conn.ensure_connection()
    raw = conn.connection
    previous = raw.cursor_factory
    raw.cursor_factory = ServerBindingCursor
    try:
        yield
    finally:
        raw.cursor_factory = previous
