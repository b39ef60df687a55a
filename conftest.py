"""Root pytest configuration: which integration tests can run here, and why not."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("CIVICDESK_TESTING", "1")


def _postgres_available() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def _redis_available() -> bool:
    return bool(os.environ.get("REDIS_URL"))


def _two_roles() -> bool:
    """PostgreSQL with an owner role apart from the runtime role (DATABASE_OWNER_URL)."""
    return _postgres_available() and bool(
        os.environ.get("DATABASE_OWNER_URL") or os.environ.get("MIGRATE_DATABASE_URL")
    )


def _login_default_as(user: object, password: object) -> None:
    from django.conf import settings
    from django.db import connections

    connections["default"].close()
    settings.DATABASES["default"]["USER"] = user
    settings.DATABASES["default"]["PASSWORD"] = password


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """Two roles: the owner creates and migrates the test database (the runtime role may not
    create databases or tables); see `django_db_setup` for the switch to the runtime role."""
    if _two_roles():
        from django.conf import settings

        _login_default_as(settings.DATABASE_OWNER["USER"], settings.DATABASE_OWNER["PASSWORD"])


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: object) -> object:
    """Two roles: once the owner has created and migrated the test database (migrate grants
    the runtime role its privileges), every test connects as the runtime role, as the
    application does. Tests that play an attacker with the owner's rights use
    tests/dbowner.py. The owner drops the test database at the end."""
    if not _two_roles():
        yield
        return
    from django.conf import settings

    from tests.dbowner import install_owner_function

    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        install_owner_function()
    _login_default_as(settings.DATABASE_RUNTIME["USER"], settings.DATABASE_RUNTIME["PASSWORD"])
    yield
    _login_default_as(settings.DATABASE_OWNER["USER"], settings.DATABASE_OWNER["PASSWORD"])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(reason="NOT RUN: needs PostgreSQL; set DATABASE_URL=postgres://…")
    skip_redis = pytest.mark.skip(reason="NOT RUN: needs Redis; set REDIS_URL=redis://…")
    skip_roles = pytest.mark.skip(
        reason="NOT RUN: needs two PostgreSQL roles; set DATABASE_OWNER_URL (see .ci/run)")
    for item in items:
        if "postgres" in item.keywords and not _postgres_available():
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not _redis_available():
            item.add_marker(skip_redis)
        if "runtime_role" in item.keywords and not _two_roles():
            item.add_marker(skip_roles)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    missing = []
    if not _postgres_available():
        missing.append("PostgreSQL (DATABASE_URL unset)")
    if not _redis_available():
        missing.append("Redis (REDIS_URL unset)")
    if _postgres_available() and not _two_roles():
        missing.append("the runtime database role (DATABASE_OWNER_URL unset)")
    if missing:
        terminalreporter.write_line(
            "Integration tests NOT RUN for lack of: " + ", ".join(missing)
            + " — see the skipped tests above; .ci/run runs them all.",
            yellow=True,
        )
