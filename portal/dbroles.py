"""Two PostgreSQL roles: the owner runs migrations; the application runs as a runtime role that
may only read and insert on the append-only log tables (no UPDATE, DELETE or TRUNCATE).

`as_owner` puts an owner connection in place of an alias for one command (migrate, flush,
db_roles); `grant_runtime_role` creates the runtime role if it is missing and sets its
privileges from the models (idempotent). See docs/deployment.md §2 and docs/security.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pgtrigger
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

APPEND_ONLY_TRIGGER = "append_only"
TRUNCATE_GUARD_TRIGGER = "no_truncate"
_OWNER_MARK = "_civicdesk_owner"


class RoleError(Exception):
    """The runtime role is unsafe (superuser, owner, member of the owner) or misconfigured."""


def two_roles(alias: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether a separate owner is configured for this alias (PostgreSQL only)."""
    return (
        alias == DEFAULT_DB_ALIAS
        and getattr(settings, "DATABASE_OWNER", None) is not None
        and connections[alias].vendor == "postgresql"
    )


def runtime_credentials() -> tuple[str, str]:
    """The runtime role's user name and password, from DATABASE_URL."""
    runtime = settings.DATABASE_RUNTIME
    return str(runtime["USER"]), str(runtime.get("PASSWORD") or "")


def append_only_tables() -> list[str]:
    """Tables whose models carry the append-only trigger (the transparency log, its nodes and
    heads, notices, consent events, and any append-only table added later)."""
    return sorted({
        model._meta.db_table
        for model, trigger in pgtrigger.registered()
        if trigger.name == APPEND_ONLY_TRIGGER
    })


def truncate_guard_uris() -> list[str]:
    return sorted({
        f"{model._meta.label}:{trigger.name}"
        for model, trigger in pgtrigger.registered()
        if trigger.name == TRUNCATE_GUARD_TRIGGER
    })


@contextlib.contextmanager
def as_owner(alias: str = DEFAULT_DB_ALIAS) -> Iterator[BaseDatabaseWrapper]:
    """Run the enclosed code with `connections[alias]` logged in as the owner role.

    The owner connection talks to the same database as the alias does now (in tests: the
    test database) and never uses the pool. Without a configured owner, the alias as is.
    """
    current = connections[alias]
    if not two_roles(alias) or getattr(current, _OWNER_MARK, False):
        yield current
        return
    owner: dict[str, Any] = settings.DATABASE_OWNER or {}
    owner_settings = dict(current.settings_dict)
    for key in ("USER", "PASSWORD", "HOST", "PORT"):
        owner_settings[key] = owner.get(key) or ""
    options = dict(owner_settings.get("OPTIONS") or {})
    options.pop("pool", None)
    owner_settings["OPTIONS"] = options
    wrapper = current.__class__(owner_settings, alias)
    setattr(wrapper, _OWNER_MARK, True)
    connections[alias] = wrapper
    try:
        yield wrapper
    finally:
        wrapper.close()
        connections[alias] = current


@dataclass
class RoleReport:
    role: str
    created: bool = False
    append_only: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def grant_runtime_role(
    connection: BaseDatabaseWrapper, *, role: str, password: str = "", create: bool = True
) -> RoleReport:
    """As the owner on `connection`: create `role` if missing, refuse an unsafe one, and grant
    it exactly SELECT/INSERT on append-only tables and SELECT/INSERT/UPDATE/DELETE elsewhere
    (never TRUNCATE, REFERENCES or TRIGGER), USAGE/SELECT on sequences, and the same by
    default for tables the owner creates later (minus UPDATE/DELETE until this runs again)."""
    report = RoleReport(role=role, append_only=append_only_tables())
    ident = _quote_ident(role)
    with connection.cursor() as cur:
        cur.execute("SELECT current_user, current_database()")
        owner, database = cur.fetchone()
        if owner == role:
            raise RoleError(f"the runtime role {role!r} is the role running migrations")
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cur.fetchone() is None:
            if not create:
                raise RoleError(f"the runtime role {role!r} does not exist")
            stmt = (f"CREATE ROLE {ident} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                    "NOREPLICATION NOBYPASSRLS NOINHERIT")
            if password:
                stmt += f" PASSWORD {_quote_literal(password)}"
            # Parallel test workers may race to create the (cluster-wide) role.
            cur.execute(f"DO $civicdesk$ BEGIN EXECUTE {_quote_literal(stmt)}; EXCEPTION WHEN "
                        "duplicate_object OR unique_violation THEN NULL; END $civicdesk$")
            report.created = True
        _check_role_is_safe(cur, role=role, owner=owner)
        tables = ", ".join(_quote_ident(t) for t in report.append_only)
        statements = [
            f"GRANT CONNECT ON DATABASE {_quote_ident(database)} TO {ident}",
            f"GRANT USAGE ON SCHEMA public TO {ident}",
            f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ident}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {ident}",
            *([f"REVOKE UPDATE, DELETE ON {tables} FROM {ident}"] if tables else []),
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {ident}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {ident}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT ON TABLES TO {ident}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES "
            f"TO {ident}",
        ]
        for stmt in statements:
            cur.execute(stmt)
        report.statements = statements
    return report


def check_runtime_role(connection: BaseDatabaseWrapper, *, role: str) -> None:
    """Raise RoleError if `role` could get past the append-only triggers."""
    with connection.cursor() as cur:
        cur.execute("SELECT current_user")
        owner = cur.fetchone()[0]
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cur.fetchone() is None:
            raise RoleError(f"the runtime role {role!r} does not exist")
        if owner == role:
            raise RoleError(f"the runtime role {role!r} is the role running migrations")
        _check_role_is_safe(cur, role=role, owner=owner)


def _check_role_is_safe(cur: Any, *, role: str, owner: str) -> None:
    cur.execute(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, pg_has_role(%s, %s, 'MEMBER') "
        "FROM pg_roles WHERE rolname = %s",
        [role, owner, role],
    )
    superuser, bypassrls, createrole, member_of_owner = cur.fetchone()
    if superuser or bypassrls or createrole:
        raise RoleError(f"the runtime role {role!r} is a superuser or may bypass security "
                        "or create roles: it could switch the triggers off")
    if member_of_owner:
        raise RoleError(f"the runtime role {role!r} is a member of the owner {owner!r}: "
                        "it could SET ROLE to it")
    cur.execute("SELECT has_schema_privilege(%s, 'public', 'CREATE')", [role])
    if cur.fetchone()[0]:
        raise RoleError(f"the runtime role {role!r} may create objects in schema public "
                        "(PostgreSQL < 15 grants that to PUBLIC): as the schema's owner run "
                        "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    cur.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = %s",
        [role],
    )
    if cur.fetchone()[0]:
        raise RoleError(f"the runtime role {role!r} owns tables: the owner could drop the "
                        "triggers; run migrations as another role")


def runtime_privileges(connection: BaseDatabaseWrapper, *, role: str) -> dict[str, set[str]]:
    """What `role` may do on each append-only table (for `db_roles --check` and tests)."""
    out: dict[str, set[str]] = {}
    with connection.cursor() as cur:
        for table in append_only_tables():
            cur.execute(
                "SELECT p FROM unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE',"
                "'REFERENCES','TRIGGER']) AS p WHERE has_table_privilege(%s, %s, p)",
                [role, table],
            )
            out[table] = {row[0] for row in cur.fetchall()}
    return out
