"""The database enforces append-only against the application itself: the runtime role the app
(and this whole test run, under .ci/run) connects as may read and insert on the log tables,
never update, delete, truncate or switch the triggers off.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from consent.models import ConsentEvent, LogEntry, MerkleNode, Notice, TreeHead, TreeHeadCosignature
from portal import dbroles
from tests.dbowner import execute_as_owner

pytestmark = [pytest.mark.postgres, pytest.mark.runtime_role, pytest.mark.django_db]

LOG_TABLES = [m._meta.db_table for m in (
    LogEntry, MerkleNode, TreeHead, TreeHeadCosignature, Notice, ConsentEvent)]


def refused(sql: str, *, match: str = "permission denied") -> None:
    with pytest.raises(DatabaseError, match=match), transaction.atomic(), \
            connection.cursor() as cur:
        cur.execute(sql)


@pytest.fixture
def log_rows(register) -> None:
    """A consent change, so every log table has a row (entry, node, head, notice, event)."""
    from consent import ledger, policy
    from consent.services import consent_decide
    from tests.factories import UserFactory

    consent_decide(subject=UserFactory(), purpose_code=policy.PURPOSE_SMS, decision="give",
                   notice_version=1)
    with transaction.atomic():
        ledger.ledger_append(kind="test", body={"n": 1})
    ledger.publish_tree_head()


def test_the_append_only_tables_are_the_log_nodes_heads_notices_and_consent_events() -> None:
    assert set(dbroles.append_only_tables()) == set(LOG_TABLES)


def test_the_application_is_connected_as_neither_the_owner_nor_a_superuser() -> None:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT current_user, r.rolsuper, r.rolbypassrls, pg_get_userbyid(c.relowner) "
            "FROM pg_roles r, pg_class c WHERE r.rolname = current_user "
            "AND c.relname = 'consent_logentry'"
        )
        user, superuser, bypassrls, table_owner = cur.fetchone()
    assert (superuser, bypassrls) == (False, False)
    assert user != table_owner
    with connection.cursor() as cur:
        cur.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", [table_owner])
        assert cur.fetchone()[0] is False


@pytest.mark.parametrize("table", LOG_TABLES)
def test_the_runtime_role_cannot_update_a_log_table(log_rows, table) -> None:
    column = "kind" if table == "consent_logentry" else "id"
    refused(f"UPDATE {table} SET {column} = {column}")  # noqa: S608


@pytest.mark.parametrize("table", LOG_TABLES)
def test_the_runtime_role_cannot_delete_from_a_log_table(log_rows, table) -> None:
    refused(f"DELETE FROM {table}")  # noqa: S608


@pytest.mark.parametrize("table", LOG_TABLES)
def test_the_runtime_role_cannot_truncate_a_log_table(log_rows, table) -> None:
    refused(f"TRUNCATE {table} CASCADE")


def test_ignoring_the_trigger_does_not_let_the_runtime_role_edit_the_log(log_rows) -> None:
    import pgtrigger

    with pgtrigger.ignore():  # what `SET pgtrigger.ignore` does, for every trigger
        refused("UPDATE consent_logentry SET entry = '{}' WHERE \"index\" = 0")
        refused("DELETE FROM consent_logentry")
    assert LogEntry.objects.filter(index=0).exclude(entry="{}").exists()


def test_the_runtime_role_cannot_set_the_trigger_bypass_by_hand(log_rows) -> None:
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT set_config('pgtrigger.ignore', "
                        "'{consent_logentry:pgtrigger_append_only_ec9d8}', true)")
        refused("DELETE FROM consent_logentry")
    assert LogEntry.objects.count() == 2


@pytest.mark.parametrize("statement", [
    "ALTER TABLE consent_logentry DISABLE TRIGGER ALL",
    "ALTER TABLE consent_logentry DISABLE TRIGGER pgtrigger_append_only_ec9d8",
    "DROP TRIGGER pgtrigger_append_only_ec9d8 ON consent_logentry",
])
def test_the_runtime_role_cannot_disable_or_drop_the_trigger(statement) -> None:
    refused(statement, match="must be owner")


def test_the_runtime_role_cannot_create_tables_or_functions() -> None:
    refused("CREATE TABLE shadow_log (id bigint)")
    refused("CREATE FUNCTION _pgtrigger_should_ignore(name) RETURNS boolean "
            "LANGUAGE sql AS 'SELECT true'")


def test_the_runtime_role_cannot_switch_triggers_off_for_its_session() -> None:
    refused("SET session_replication_role = replica")


def test_the_runtime_role_cannot_become_the_owner() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_userbyid(relowner) FROM pg_class "
                    "WHERE relname = 'consent_logentry'")
        owner = cur.fetchone()[0]
    refused(f'SET ROLE "{owner}"')


def test_the_runtime_role_still_reads_and_appends_to_the_log(log_rows) -> None:
    assert ConsentEvent.objects.count() == 1
    assert TreeHead.objects.count() == 1
    assert LogEntry.objects.count() == 2


def test_the_truncate_guard_refuses_even_the_owner(log_rows) -> None:
    with pytest.raises(DatabaseError, match="append-only, TRUNCATE is refused"), \
            transaction.atomic():
        execute_as_owner("TRUNCATE consent_treehead", past_triggers=False)
    assert TreeHead.objects.count() == 1


def test_a_table_the_owner_adds_later_is_insert_only_until_the_grants_run_again() -> None:
    execute_as_owner("CREATE TABLE later_table (id bigint)")
    with connection.cursor() as cur:
        cur.execute("SELECT has_table_privilege('later_table', 'INSERT'), "
                    "has_table_privilege('later_table', 'UPDATE'), "
                    "has_table_privilege('later_table', 'TRUNCATE')")
        assert cur.fetchone() == (True, False, False)


def test_db_roles_check_confirms_select_and_insert_only(capsys) -> None:
    call_command("db_roles", "--check")
    out = capsys.readouterr().out
    assert "consent_logentry: INSERT, SELECT" in out
    assert f"SELECT/INSERT only on {len(LOG_TABLES)} append-only tables" in out


@pytest.mark.django_db(transaction=True)
def test_a_flush_outside_the_test_suite_stops_at_the_truncate_guard(log_rows, settings) -> None:
    settings.TESTING = False

    with pytest.raises(CommandError, match="couldn't be flushed") as refused_flush:
        call_command("flush", interactive=False, verbosity=0)
    assert "append-only, TRUNCATE is refused" in str(refused_flush.value.__cause__)
    assert LogEntry.objects.count() == 2
