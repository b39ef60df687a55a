"""core.statements: hot statements written out once, prepared once per connection."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from core.statements import fetch_prepared, server_bound
from services.models import Department

pytestmark = pytest.mark.django_db

FIND = "SELECT id, code FROM services_department WHERE code = %s"


def test_a_prepared_statement_returns_the_rows_the_plain_query_returns() -> None:
    Department.objects.create(code="roads", name_en="Roads")

    assert fetch_prepared(FIND, ["roads"]) == list(
        Department.objects.filter(code="roads").values_list("id", "code")
    )


def test_a_prepared_statement_is_logged_like_any_other_query() -> None:
    with CaptureQueriesContext(connection) as queries:
        fetch_prepared(FIND, ["roads"])

    assert len(queries) == 1


def test_a_failing_prepared_statement_raises_django_s_error_and_changes_nothing() -> None:
    Department.objects.create(code="roads", name_en="Roads")

    with pytest.raises(IntegrityError, match="code"), transaction.atomic():
        fetch_prepared(
            "INSERT INTO services_department "
            "(code, name_en, name_zh_hans, email, is_triage, is_active) "
            "VALUES (%s, %s, '', '', false, true) RETURNING id",
            ["roads", "Roads again"],
        )

    assert Department.objects.filter(code="roads").count() == 1


@pytest.mark.postgres
def test_on_postgresql_the_statement_is_prepared_on_the_connection_after_five_runs() -> None:
    def prepared() -> list[str]:
        with connection.cursor() as cur:
            cur.execute("SELECT statement FROM pg_prepared_statements")
            return [row[0] for row in cur.fetchall()]

    for _ in range(5):
        fetch_prepared(FIND, ["roads"])
    assert not any("services_department" in s for s in prepared())

    fetch_prepared(FIND, ["roads"])

    assert any("services_department WHERE code = $1" in s for s in prepared())


def _prepared_statements() -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cur.fetchall()]


@pytest.mark.postgres
def test_orm_writes_inside_server_bound_are_prepared_once_they_repeat() -> None:
    for i in range(6):
        with transaction.atomic(), server_bound():
            Department.objects.create(code=f"d{i}", name_en=f"D{i}")

    assert Department.objects.filter(code__startswith="d").count() == 6
    assert any('INSERT INTO "services_department"' in s for s in _prepared_statements())


@pytest.mark.postgres
def test_after_server_bound_even_a_failed_block_the_orm_binds_on_the_client_again() -> None:
    Department.objects.create(code="same", name_en="A")

    with pytest.raises(IntegrityError), transaction.atomic(), server_bound():
        Department.objects.create(code="same", name_en="B")

    for i in range(6):
        Department.objects.filter(code=f"x{i}").exists()

    assert not any("services_department" in s for s in _prepared_statements())
