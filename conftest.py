"""Root pytest configuration: which integration tests can run here, and why not."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("CIVICDESK_TESTING", "1")


def _postgres_available() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def _redis_available() -> bool:
    return bool(os.environ.get("REDIS_URL"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(reason="NOT RUN: needs PostgreSQL; set DATABASE_URL=postgres://…")
    skip_redis = pytest.mark.skip(reason="NOT RUN: needs Redis; set REDIS_URL=redis://…")
    for item in items:
        if "postgres" in item.keywords and not _postgres_available():
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not _redis_available():
            item.add_marker(skip_redis)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    missing = []
    if not _postgres_available():
        missing.append("PostgreSQL (DATABASE_URL unset)")
    if not _redis_available():
        missing.append("Redis (REDIS_URL unset)")
    if missing:
        terminalreporter.write_line(
            "Integration tests NOT RUN for lack of: " + ", ".join(missing)
            + " — see the skipped tests above; .ci/run runs them all.",
            yellow=True,
        )
