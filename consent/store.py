"""Where a consent change is stored: one interface, two implementations side by side.

`consent.services` holds the rules (which decisions are allowed, what the receipt and the log
entry say, the retries). A store only reads a resident's state and writes a prepared change,
atomically and only if the resident's record is still as it was read (compare-and-set):

- `PortableStore`: the ORM inside one transaction. Runs on every database Django supports
  (SQLite in development and in `make test`, PostgreSQL too).
- `PostgresStore`: the production fast path. One read statement and one write statement (a
  CTE that compare-and-sets the record and inserts the log entry, the event and the receipt),
  with no BEGIN/COMMIT round trips; log indexes come from the log's sequence. Both statements
  are fixed texts, bound server-side and prepared once per connection
  (`core.statements.fetch_prepared`): planning the four-table write cost more than executing
  it.

`consent_store()` picks `PostgresStore` on PostgreSQL unless `CIVICDESK["CONSENT_STORE"]` is
`"portable"`. The consent tests run against both stores on PostgreSQL (the `consent_store`
fixture in tests/consent/conftest.py), so the legally most sensitive write is tested on both
paths in `.ci/run`, and the portable path in `make test` on SQLite.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count, Max

from consent import ledger
from consent.models import ConsentEvent, ConsentReceipt, ConsentRecord, LogEntry, Notice, Purpose
from core.statements import fetch_prepared

# purpose id → (record id, state, notice id, last event id, expires_at, updated_at)
RecordRow = tuple[int, str, int, int, datetime | None, datetime]

EVENT_COLUMNS = ("event_id", "subject_pseudonym", "purpose_id", "event_type", "notice_id",
                 "notice_version", "notice_sha256", "language", "method", "actor_role",
                 "recorded_by_id", "created_at", "expires_at")
RECEIPT_COLUMNS = ("event_id", "subject_id", "leaf_hash", "entry", "issued_at", "body",
                   "promise", "promise_signature")


class StaleRecord(Exception):
    """The resident's record changed between the read and the write: read again."""


@dataclass(frozen=True)
class SubjectRows:
    """What a change reads: the register's fingerprint and the resident's records."""

    fingerprint: tuple[Any, Any]
    records: dict[int, RecordRow]


@dataclass(frozen=True)
class RecordVersion:
    """A resident's record as it was read: the row and the event it then pointed at."""

    pk: int
    last_event_id: int


@dataclass(frozen=True)
class PreparedChange:
    """A change ready to store: the unsaved event, log entry and receipt, and the resident's
    record as it was read (None: no record yet)."""

    subject_id: int
    event: ConsentEvent
    entry: LogEntry
    receipt: ConsentReceipt
    record: RecordVersion | None


@dataclass(frozen=True)
class Written:
    record_id: int
    index: int
    event_id: int
    receipt_id: int


class ConsentStore(Protocol):
    name: str

    def transaction(self) -> AbstractContextManager[Any]:
        """The transaction a change (read + write) runs in."""

    def fingerprint(self) -> tuple[Any, Any]:
        """The register's fingerprint alone (to load a snapshot)."""

    def read_subject(self, subject_id: int) -> SubjectRows:
        """The register's fingerprint and the resident's records; takes no lock."""

    def write_change(self, change: PreparedChange) -> Written:
        """Store the change if the record is still as read; raise StaleRecord otherwise."""


class PortableStore:
    """The ORM in one transaction (SQLite's IMMEDIATE transactions serialize writers; on
    PostgreSQL the record update is a compare-and-set and a concurrent first record fails
    its unique constraint, both answered with StaleRecord)."""

    name = "portable"

    def transaction(self) -> AbstractContextManager[Any]:
        return transaction.atomic()

    def fingerprint(self) -> tuple[Any, Any]:
        # Every purpose row as stored (any edit, even a queryset update(), changes it);
        # notices are immutable, so their count and highest id name them.
        columns = [f.attname for f in Purpose._meta.concrete_fields]
        purposes = tuple(Purpose.objects.order_by("pk").values_list(*columns))
        notices = Notice.objects.aggregate(count=Count("pk"), newest=Max("pk"))
        return purposes, (notices["count"], notices["newest"])

    def read_subject(self, subject_id: int) -> SubjectRows:
        rows = ConsentRecord.objects.filter(subject_id=subject_id).values_list(
            "purpose_id", "id", "state", "notice_id", "last_event_id", "expires_at",
            "updated_at")
        return SubjectRows(fingerprint=self.fingerprint(),
                           records={row[0]: row[1:] for row in rows})

    def write_change(self, change: PreparedChange) -> Written:
        event, entry, receipt, record = change.event, change.entry, change.receipt, change.record
        ledger.ledger_append_prepared(entry)
        event.log_entry_id = entry.index
        event.save(force_insert=True)
        receipt.log_index = entry.index
        receipt.save(force_insert=True)
        fields = {"state": event.event_type, "notice_id": event.notice_id, "last_event": event,
                  "expires_at": event.expires_at, "updated_at": event.created_at}
        if record is None:
            try:
                with transaction.atomic():  # a savepoint: a concurrent first record wins
                    record_id = ConsentRecord.objects.create(
                        subject_id=change.subject_id, purpose_id=event.purpose_id, **fields).pk
            except IntegrityError as exc:
                raise StaleRecord from exc
        else:
            record_id = record.pk
            applied = ConsentRecord.objects.filter(
                pk=record.pk, last_event_id=record.last_event_id).update(**fields)
            if not applied:
                raise StaleRecord
        return Written(record_id=record_id, index=entry.index, event_id=event.pk,
                       receipt_id=receipt.pk)


def _param(model: type[models.Model], column: str) -> str:
    """A placeholder cast to the column's type: a server-bound parameter in a SELECT list has
    no type PostgreSQL can infer. `varchar(n)` is cast to `text`, so the column's own length
    check still refuses an over-long value (an explicit cast to varchar(n) would truncate)."""
    db_type = model._meta.get_field(column).db_type(connection) or "text"
    if db_type.startswith("varchar"):
        db_type = "text"
    return f"%s::{db_type}"


@functools.cache
def _write_statement(*, new_record: bool) -> str:
    """The store's one write: compare-and-set (or create) the record, then append the log
    entry, the event and the receipt, each only if the step before it returned a row."""
    rec_t, ev_t = ConsentRecord._meta.db_table, ConsentEvent._meta.db_table
    state, notice, expires, updated = (_param(ConsentRecord, c) for c in
                                       ("state", "notice_id", "expires_at", "updated_at"))
    if new_record:
        rec_sql = (
            f"INSERT INTO {rec_t} (subject_id, purpose_id, state, notice_id, "  # noqa: S608
            "expires_at, updated_at, last_event_id) "
            f"SELECT %s::bigint, %s::bigint, {state}, {notice}, {expires}, {updated}, ids.eid "
            "FROM ids ON CONFLICT (subject_id, purpose_id) DO NOTHING "
            "RETURNING id, last_event_id"
        )
    else:
        rec_sql = (
            f"UPDATE {rec_t} AS r SET state = {state}, notice_id = {notice}, "  # noqa: S608
            f"expires_at = {expires}, updated_at = {updated}, last_event_id = ids.eid "
            "FROM ids WHERE r.id = %s::bigint AND r.last_event_id = %s::bigint "
            "RETURNING r.id, r.last_event_id"
        )
    ev_sql = (
        f"INSERT INTO {ev_t} (id, log_entry_id, {', '.join(EVENT_COLUMNS)}) "  # noqa: S608
        f"SELECT rec.last_event_id, le.\"index\", "
        f"{', '.join(_param(ConsentEvent, c) for c in EVENT_COLUMNS)} FROM rec, le RETURNING id"
    )
    rc_sql = (
        f"INSERT INTO {ConsentReceipt._meta.db_table} "  # noqa: S608
        f"(log_index, {', '.join(RECEIPT_COLUMNS)}) SELECT le.\"index\", "
        f"{', '.join(_param(ConsentReceipt, c) for c in RECEIPT_COLUMNS)} FROM le RETURNING id"
    )
    return (
        f"WITH ids AS (SELECT nextval(pg_get_serial_sequence('{ev_t}', 'id')) AS eid), "  # noqa: S608
        f"rec AS ({rec_sql}), le AS ({ledger.insert_statement('FROM rec')}), "
        f"ev AS ({ev_sql}), rc AS ({rc_sql}) "
        'SELECT rec.id, le."index", ev.id, rc.id FROM rec, le, ev, rc'
    )


class PostgresStore:
    """One read statement, one write statement, no explicit transaction; both prepared."""

    name = "postgresql"

    def transaction(self) -> AbstractContextManager[Any]:
        # Outside a caller's transaction none: the write is one statement that commits by
        # itself, and the read before it takes no lock (the write compare-and-sets what it
        # read). That saves BEGIN and COMMIT, two of four round trips.
        if connection.in_atomic_block:
            return transaction.atomic()
        return nullcontext()

    @staticmethod
    def _fingerprint_sql() -> str:
        purposes, notices = Purpose._meta.db_table, Notice._meta.db_table
        # Every insert or update of a row gives it a new xmin (the writing transaction).
        return (
            f"(SELECT string_agg(p.id || '.' || p.xmin, ',' ORDER BY p.id) "  # noqa: S608
            f"FROM {purposes} p) AS p, "
            f"(SELECT COUNT(*) || ':' || COALESCE(MAX(id), 0) FROM {notices}) AS n"
        )

    def fingerprint(self) -> tuple[Any, Any]:
        with connection.cursor() as cur:
            cur.execute(f"SELECT {self._fingerprint_sql()}")  # noqa: S608
            p, n = cur.fetchone()
        return p, n

    def read_subject(self, subject_id: int) -> SubjectRows:
        rec = ConsentRecord._meta.db_table
        rows = fetch_prepared(
            f"SELECT fp.p, fp.n, r.purpose_id, r.id, r.state, "  # noqa: S608
            f"r.notice_id, r.last_event_id, r.expires_at, r.updated_at "
            f"FROM (SELECT {self._fingerprint_sql()}) AS fp "
            f"LEFT JOIN {rec} r ON r.subject_id = %s::bigint",
            [subject_id],
        )
        return SubjectRows(fingerprint=(rows[0][0], rows[0][1]),
                           records={row[2]: row[3:] for row in rows if row[2] is not None})

    def write_change(self, change: PreparedChange) -> Written:
        event, entry, receipt, record = change.event, change.entry, change.receipt, change.record
        new_values: list[Any] = [event.event_type, event.notice_id, event.expires_at,
                                 event.created_at]
        if record is None:
            rec_params: list[Any] = [change.subject_id, event.purpose_id, *new_values]
        else:
            rec_params = [*new_values, record.pk, record.last_event_id]
        params = [*rec_params, *ledger.insert_params(entry),
                  *[getattr(event, c) for c in EVENT_COLUMNS],
                  *[getattr(receipt, c) for c in RECEIPT_COLUMNS]]
        sql = _write_statement(new_record=record is None)
        rows = fetch_prepared(sql, params)
        if not rows:
            raise StaleRecord
        row = rows[0]
        ledger.saved(entry, row[1])
        event.pk, event.log_entry_id = row[2], row[1]
        receipt.pk, receipt.log_index = row[3], row[1]
        for obj in (event, receipt):
            obj._state.adding = False
            obj._state.db = connection.alias
        return Written(record_id=row[0], index=row[1], event_id=row[2], receipt_id=row[3])


_STORES: dict[str, ConsentStore] = {"portable": PortableStore(), "postgresql": PostgresStore()}


def available_stores() -> list[str]:
    """The stores that run on this connection's database."""
    return ["portable", "postgresql"] if connection.vendor == "postgresql" else ["portable"]


def consent_store() -> ConsentStore:
    choice = settings.CIVICDESK.get("CONSENT_STORE", "auto")
    if choice == "portable" or connection.vendor != "postgresql":
        return _STORES["portable"]
    return _STORES["postgresql"]
