"""The transparency log: an RFC 6962/9162 Merkle tree over RFC 8785 canonical JSON entries.

`ledger_append` adds an entry inside the caller's transaction (serialized by an advisory lock);
`publish_tree_head` integrates new leaves and signs a C2SP checkpoint in batches; proofs and a
full recomputation (`verify_log`) read the stored leaves and cached subtree hashes.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from consent import verify as v
from consent.models import IntegrityCheck, LogEntry, MerkleNode, TreeHead

APPEND_LOCK_KEY = 0x6C6F67_617070  # "log" "app"
PUBLISH_LOCK_KEY = 0x6C6F67_707562  # "log" "pub"
LEVEL_SHIFT = 48
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.IGNORECASE)
_DEV_SEED = hashlib.sha256(b"civicdesk development log key - never use in production").digest()


class LedgerError(Exception):
    """Misuse of the ledger (no transaction, personal data in an entry, bad proof request)."""


# --- Hashing -------------------------------------------------------------------------------


def canonical(obj: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON."""
    return rfc8785.dumps(obj)


def leaf_hash(data: bytes) -> bytes:
    return v.leaf_hash(data)


def node_id(level: int, index: int) -> int:
    return (level << LEVEL_SHIFT) | index


# --- Signing key -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LogKey:
    private: Ed25519PrivateKey
    verifier: v.VerifierKey

    @property
    def origin(self) -> str:
        return self.verifier.name


@lru_cache(maxsize=4)
def _load_key(seed_b64: str, origin: str, debug: bool) -> LogKey:
    if seed_b64:
        try:
            seed = base64.b64decode(seed_b64, validate=True)
        except ValueError as exc:
            raise ImproperlyConfigured("CIVICDESK_LOG_SIGNING_KEY is not valid base64") from exc
        if len(seed) != 32:
            raise ImproperlyConfigured("CIVICDESK_LOG_SIGNING_KEY must be a 32-byte Ed25519 seed")
    elif debug:
        seed = _DEV_SEED
    else:
        raise ImproperlyConfigured(
            "CIVICDESK_LOG_SIGNING_KEY (base64 Ed25519 seed) is required when DEBUG is off: "
            "the transparency log cannot sign tree heads without it."
        )
    private = Ed25519PrivateKey.from_private_bytes(seed)
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = v.key_id(origin, v.ALG_ED25519, public)
    return LogKey(private=private, verifier=v.VerifierKey(origin, kid, public))


def log_key() -> LogKey:
    conf = settings.CIVICDESK
    debug = settings.DEBUG or getattr(settings, "TESTING", False)
    return _load_key(conf.get("LOG_SIGNING_KEY", ""), conf["LOG_ORIGIN"], debug)


def _sign_checkpoint(key: LogKey, tree_size: int, root: bytes, ts: int) -> str:
    body = f"{key.origin}\n{tree_size}\n{base64.b64encode(root).decode()}\n"
    sig = key.private.sign(body.encode())
    pub = key.verifier.public_key
    cosig_id = v.key_id(key.origin, v.ALG_COSIGNATURE_V1, pub)
    cosig = key.private.sign(f"cosignature/v1\ntime {ts}\n".encode() + body.encode())
    lines = [
        f"\u2014 {key.origin} {base64.b64encode(key.verifier.key_id + sig).decode()}",
        f"\u2014 {key.origin} "
        f"{base64.b64encode(cosig_id + struct.pack('>Q', ts) + cosig).decode()}",
    ]
    return body + "\n" + "\n".join(lines) + "\n"


def sign_statement(obj: dict[str, Any]) -> dict[str, str]:
    """Sign a canonical JSON statement (promise of inclusion, erasure receipt...)."""
    key = log_key()
    statement = canonical(obj).decode()
    signature = base64.b64encode(key.private.sign(statement.encode())).decode()
    return {"statement": statement, "signature": signature, "key_id": key.verifier.key_id.hex()}


# --- Append ----------------------------------------------------------------------------------


def _lock(key: int) -> None:
    # On SQLite the connection opens IMMEDIATE transactions, which already serialize writers.
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _check_no_personal_data(obj: Any) -> None:
    if isinstance(obj, dict):
        for value in obj.values():
            _check_no_personal_data(value)
    elif isinstance(obj, list):
        for value in obj:
            _check_no_personal_data(value)
    elif isinstance(obj, str) and _EMAIL_RE.search(obj):
        raise LedgerError("log entries must not contain e-mail addresses")


def utc_seconds(at: datetime) -> str:
    return at.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Attached:
    """A row to insert together with the log entry, linked to it by `link` (an FK to LogEntry).

    `values` are keyed by attribute name (`purpose_id`, not `purpose`) and may include the
    primary key (e.g. reserved with `reserve_id`).
    """

    model: type[Model]
    values: dict[str, Any]
    link: str


def ledger_append(
    *, kind: str, body: dict[str, Any], at: datetime | None = None,
    attach: Attached | None = None,
) -> LogEntry:
    """Append one entry, in the caller's transaction (so it commits or rolls back with it).

    `body` must hold no personal data in clear (use consent.pseudonyms). Appends are
    serialized (the lock is held until commit), so committed indexes are always a gap-free
    prefix 0..n-1. With `attach`, the row that records the change is inserted in the same
    round trip on PostgreSQL (the returned entry carries it as `entry.attached`): everything
    else is prepared before the lock, to keep the serialized part to two statements.
    """
    if not connection.in_atomic_block:
        raise LedgerError("ledger_append must run inside the transaction of the change it records")
    if not re.fullmatch(r"[a-z][a-z0-9_.-]{0,39}", kind):
        raise LedgerError("entry kind must be a short lower-case code")
    _check_no_personal_data(body)
    at = at or timezone.now()
    data = canonical({"kind": kind, "time": utc_seconds(at), "body": body})
    entry = LogEntry(kind=kind, entry=data.decode(), leaf_hash=leaf_hash(data).hex(),
                     created_at=at)
    table = LogEntry._meta.db_table
    insert_entry = (
        f'INSERT INTO {table} ("index", kind, entry, leaf_hash, created_at) '  # noqa: S608
        f'SELECT COALESCE(MAX("index"), -1) + 1, %s, %s, %s, %s FROM {table} '
        'RETURNING "index"'
    )
    params = [entry.kind, entry.entry, entry.leaf_hash,
              LogEntry._meta.get_field("created_at").get_db_prep_value(at, connection)]
    attached = None
    if attach is not None and connection.vendor == "postgresql":
        sql, extra = _attached_insert(attach)
        sql = f"WITH e AS ({insert_entry}) {sql}"
        params += extra
        _lock(APPEND_LOCK_KEY)
        with connection.cursor() as cur:
            cur.execute(sql, params)
            entry.index = cur.fetchone()[0]
        attached = attach.model(**attach.values,
                                **{_field(attach.model, attach.link).attname: entry.index})
        attached._state.adding = False
        attached._state.db = connection.alias
    else:
        _lock(APPEND_LOCK_KEY)
        with connection.cursor() as cur:
            cur.execute(insert_entry, params)
            entry.index = cur.fetchone()[0]
        if attach is not None:
            attached = attach.model._default_manager.create(
                **attach.values, **{_field(attach.model, attach.link).attname: entry.index},
            )
    entry._state.adding = False
    entry._state.db = connection.alias
    entry.attached = attached  # type: ignore[attr-defined]
    return entry


def _field(model: type[Model], name: str) -> Any:
    return model._meta.get_field(name)


def _attached_insert(attach: Attached) -> tuple[str, list[Any]]:
    meta = attach.model._meta
    columns, values = [], []
    for name, value in attach.values.items():
        f = _field(attach.model, name)
        columns.append(connection.ops.quote_name(f.column))
        values.append(f.get_db_prep_save(value, connection))
    link = connection.ops.quote_name(_field(attach.model, attach.link).column)
    placeholders = ", ".join(["%s"] * len(values))
    sql = (
        f"INSERT INTO {connection.ops.quote_name(meta.db_table)} "  # noqa: S608
        f"({', '.join(columns)}, {link}) SELECT {placeholders}, e.\"index\" FROM e "
        f"RETURNING {link}"
    )
    return sql, values


def reserve_id(model: type[Model]) -> int | None:
    """The next primary key of `model` on PostgreSQL (so rows that reference it can be written
    before the log lock is taken; foreign keys are checked at commit). None elsewhere."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT nextval(pg_get_serial_sequence(%s, %s))",
                    [model._meta.db_table, model._meta.pk.column])
        return cur.fetchone()[0]


def inclusion_promise(entry: LogEntry) -> dict[str, str]:
    """A signed promise that `entry` will be in a published tree head within the MMD."""
    mmd = int(settings.CIVICDESK["LOG_MAX_MERGE_DELAY"].total_seconds())
    return sign_statement(
        {
            "type": "civicdesk/inclusion-promise/v1",
            "log": log_key().origin,
            "index": entry.index,
            "leaf_hash": entry.leaf_hash,
            "timestamp": utc_seconds(entry.created_at),
            "max_merge_delay_seconds": mmd,
        }
    )


# --- Tree: stored subtree hashes ------------------------------------------------------------


def log_size() -> int:
    last = LogEntry.objects.order_by("-index").values_list("index", flat=True).first()
    return 0 if last is None else last + 1


def latest_head() -> TreeHead | None:
    return TreeHead.objects.order_by("-tree_size").first()


def _fetch_nodes(
    keys: set[tuple[int, int]], *, max_size: int | None = None
) -> dict[tuple[int, int], bytes]:
    """Leaf hashes (level 0) and cached subtree hashes in one round trip.

    With `max_size`, the same round trip reads the latest published tree size and refuses a
    tree larger than it (proofs are served only for published heads).
    """
    leaves = [i for lvl, i in keys if lvl == 0]
    inner = [node_id(lvl, i) for lvl, i in keys if lvl > 0]
    parts: list[str] = []
    params: list[int] = []
    if max_size is not None:
        table = TreeHead._meta.db_table
        parts.append(f"SELECT 2, COALESCE(MAX(tree_size), 0), '' FROM {table}")  # noqa: S608
    if leaves:
        parts.append(
            f'SELECT 0, "index", leaf_hash FROM {LogEntry._meta.db_table} '  # noqa: S608
            f'WHERE "index" IN ({", ".join(["%s"] * len(leaves))})'
        )
        params += leaves
    if inner:
        parts.append(
            f"SELECT 1, id, hash FROM {MerkleNode._meta.db_table} "  # noqa: S608
            f'WHERE id IN ({", ".join(["%s"] * len(inner))})'
        )
        params += inner
    out: dict[tuple[int, int], bytes] = {}
    if parts:
        mask = (1 << LEVEL_SHIFT) - 1
        with connection.cursor() as cur:
            cur.execute(" UNION ALL ".join(parts), params)
            for part, ident, h in cur.fetchall():
                if part == 2:
                    if max_size is not None and max_size > ident:
                        raise LedgerError("tree size is larger than the latest published head")
                    continue
                key = (ident >> LEVEL_SHIFT, ident & mask) if part else (0, ident)
                out[key] = bytes.fromhex(h)
    missing = keys - out.keys()
    if missing:
        raise LedgerError(f"tree nodes missing (not yet integrated?): {sorted(missing)[:5]}")
    return out


def _perfect_pieces(start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) as aligned complete subtrees, largest first: [(level, index), ...]."""
    pieces = []
    while start < end:
        level = 0
        while start % (1 << (level + 1)) == 0 and start + (1 << (level + 1)) <= end:
            level += 1
        pieces.append((level, start >> level))
        start += 1 << level
    return pieces


def _ranges_hash(
    ranges: list[tuple[int, int]], *, published: int | None = None
) -> list[bytes]:
    """MTH of each [start, end) range (ranges as produced by the RFC 6962 recursion)."""
    pieces = [_perfect_pieces(s, e) for s, e in ranges]
    nodes = _fetch_nodes({p for ps in pieces for p in ps}, max_size=published)
    out = []
    for ps in pieces:
        acc = nodes[ps[-1]]
        for p in reversed(ps[:-1]):
            acc = v.node_hash(nodes[p], acc)
        out.append(acc)
    return out


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def _path_ranges(m: int, start: int, end: int) -> list[tuple[int, int]]:
    """RFC 6962 §2.1.1 PATH(m, D[start:end]) as the ranges whose hashes form the proof."""
    n = end - start
    if n <= 1:
        return []
    k = _largest_power_of_two_below(n)
    if m < k:
        return _path_ranges(m, start, start + k) + [(start + k, end)]
    return _path_ranges(m - k, start + k, end) + [(start, start + k)]


def _subproof_ranges(m: int, start: int, end: int, complete: bool) -> list[tuple[int, int]]:
    """RFC 6962 §2.1.2 SUBPROOF(m, D[start:end], b)."""
    n = end - start
    if m == n:
        return [] if complete else [(start, end)]
    k = _largest_power_of_two_below(n)
    if m <= k:
        return _subproof_ranges(m, start, start + k, complete) + [(start + k, end)]
    return _subproof_ranges(m - k, start + k, end, False) + [(start, start + k)]


def _integrated_size() -> int:
    head = latest_head()
    return head.tree_size if head else 0


def root_hash(tree_size: int) -> bytes:
    if tree_size == 0:
        return v.EMPTY_ROOT
    return _ranges_hash([(0, tree_size)])[0]


def inclusion_proof(*, index: int, tree_size: int) -> list[bytes]:
    if not 0 <= index < tree_size:
        raise LedgerError("index must be at least 0 and below tree_size")
    ranges = _path_ranges(index, 0, tree_size)
    if not ranges:
        if tree_size > _integrated_size():
            raise LedgerError("tree_size is larger than the latest published tree head")
        return []
    return _ranges_hash(ranges, published=tree_size)


def consistency_proof(*, first: int, second: int) -> list[bytes]:
    if not 0 < first <= second:
        raise LedgerError("need 0 < first <= second")
    if first == second:
        if second > _integrated_size():
            raise LedgerError("second is larger than the latest published tree head")
        return []
    return _ranges_hash(_subproof_ranges(first, 0, second, True), published=second)


def _integrate(old: int, new: int) -> None:
    """Store the hashes of every complete subtree finished by leaves [old, new)."""
    if new <= old:
        return
    lo = old - (old & 1)  # a left sibling of the first new leaf may be an old leaf
    level_hashes = [
        bytes.fromhex(h)
        for h in LogEntry.objects.filter(index__gte=lo, index__lt=new)
        .order_by("index")
        .values_list("leaf_hash", flat=True)
    ]
    first = lo  # index (at this level) of level_hashes[0]
    rows: list[MerkleNode] = []
    level = 0
    while (new >> (level + 1)) > (old >> (level + 1)):
        level += 1
        j0, j1 = old >> level, new >> level  # new nodes at this level: [j0, j1)
        # children at level-1: [2*j0, 2*j1); those before `first` must be read from the table
        need = 2 * j0
        if need < first:
            prev = MerkleNode.objects.get(id=node_id(level - 1, need)).hash
            level_hashes.insert(0, bytes.fromhex(prev))
            first = need
        offset = need - first
        nxt = [
            v.node_hash(level_hashes[offset + 2 * t], level_hashes[offset + 2 * t + 1])
            for t in range(j1 - j0)
        ]
        rows.extend(MerkleNode(id=node_id(level, j0 + t), hash=h.hex()) for t, h in enumerate(nxt))
        # keep an odd left sibling for the next level
        level_hashes, first = nxt, j0
    MerkleNode.objects.bulk_create(rows, batch_size=5000)


def publish_tree_head(*, at: datetime | None = None) -> TreeHead | None:
    """Sign a new tree head if the log grew since the last one (one batch). Idempotent."""
    key = log_key()
    with transaction.atomic():
        _lock(PUBLISH_LOCK_KEY)
        head = latest_head()
        old = head.tree_size if head else 0
        new = log_size()
        if new == old and head is not None:
            return None
        _integrate(old, new)
        at = at or timezone.now()
        root = v.EMPTY_ROOT if new == 0 else _root_after_integration(new)
        ts = int(at.timestamp())
        return TreeHead.objects.create(
            tree_size=new,
            root_hash=root.hex(),
            timestamp=datetime.fromtimestamp(ts, tz=UTC),
            key_id=key.verifier.key_id.hex(),
            checkpoint=_sign_checkpoint(key, new, root, ts),
        )


def _root_after_integration(size: int) -> bytes:
    return _ranges_hash([(0, size)])[0]


def tree_head_json(head: TreeHead) -> dict[str, Any]:
    return {
        "tree_size": head.tree_size,
        "root_hash": head.root_hash,
        "timestamp": head.timestamp,
        "key_id": head.key_id,
        "checkpoint": head.checkpoint,
        "verifier_key": str(log_key().verifier),
    }


# --- Full verification ---------------------------------------------------------------------


@dataclass
class VerifyResult:
    tree_size: int = 0
    heads_checked: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: str, **where: Any) -> None:
        self.problems.append({"problem": problem, **where})


def _iter_rows(sql: str, chunk: int = 20000) -> Iterator[tuple[Any, ...]]:
    """Keyset-paginated raw reads (cheaper than the ORM for a million rows)."""
    last = -1
    while True:
        with connection.cursor() as cur:
            cur.execute(sql, [last, chunk])
            rows = cur.fetchall()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def _iter_entries() -> Iterator[tuple[int, str, str]]:
    table = LogEntry._meta.db_table
    return _iter_rows(  # type: ignore[return-value]
        f'SELECT "index", entry, leaf_hash FROM {table} '  # noqa: S608
        'WHERE "index" > %s ORDER BY "index" LIMIT %s'
    )


def _iter_nodes() -> Iterator[tuple[int, str]]:
    table = MerkleNode._meta.db_table
    return _iter_rows(  # type: ignore[return-value]
        f"SELECT id, hash FROM {table} WHERE id > %s ORDER BY id LIMIT %s"  # noqa: S608
    )


def verify_log(*, record: bool = True) -> VerifyResult:
    """Recompute the whole tree from the stored entries; check nodes, heads and signatures."""
    started = timezone.now()
    result = VerifyResult()
    key = log_key()
    sha256 = hashlib.sha256
    level0 = bytearray()
    expected = 0
    for index, entry, stored in _iter_entries():
        if index != expected:
            result.add("missing entries (deleted rows)", index=expected, until=index - 1)
            # keep positions aligned to the stored indexes so later checks still work
            level0 += b"\x00" * 32 * (index - expected)
            expected = index
        digest = sha256(b"\x00" + entry.encode()).digest()
        if digest != bytes.fromhex(stored):
            result.add("entry content does not match its leaf hash (edited row)", index=index)
        level0 += digest
        expected += 1
    size = expected
    result.tree_size = size
    levels = [bytes(level0)]
    while len(levels[-1]) >= 64:
        prev = memoryview(levels[-1])
        levels.append(b"".join(
            sha256(b"\x01" + prev[off : off + 64]).digest()
            for off in range(0, len(prev) - 63, 64)
        ))

    def hash_at(level: int, idx: int) -> bytes:
        return levels[level][idx * 32 : idx * 32 + 32]

    # Cached subtree hashes must match the recomputed ones.
    mask = (1 << LEVEL_SHIFT) - 1
    for nid, stored in _iter_nodes():
        level, idx = nid >> LEVEL_SHIFT, nid & mask
        span = 1 << level
        if level >= len(levels) or (idx + 1) * 32 > len(levels[level]):
            result.add("stored subtree beyond the log (entries deleted?)", index=idx * span,
                       until=(idx + 1) * span - 1)
            continue
        if hash_at(level, idx) != bytes.fromhex(stored):
            result.add("entries do not match a stored subtree hash (edited or reordered rows)",
                       index=idx * span, until=(idx + 1) * span - 1)

    def root(n: int) -> bytes:
        if n == 0:
            return v.EMPTY_ROOT
        pieces = _perfect_pieces(0, n)
        acc = hash_at(*pieces[-1])
        for p in reversed(pieces[:-1]):
            acc = v.node_hash(hash_at(*p), acc)
        return acc

    for head_id, tree_size, root_hex, checkpoint in TreeHead.objects.order_by(
        "tree_size"
    ).values_list("id", "tree_size", "root_hash", "checkpoint"):
        result.heads_checked += 1
        try:
            cp = v.verify_checkpoint(checkpoint, key.verifier)
        except v.VerificationError as exc:
            result.add(f"tree head signature: {exc}", tree_size=tree_size, head=head_id)
            continue
        if cp.tree_size != tree_size or cp.root_hash.hex() != root_hex:
            result.add("tree head row differs from its signed checkpoint", tree_size=tree_size)
        if tree_size > size:
            result.add("tree head is larger than the log (entries deleted)", tree_size=tree_size)
            continue
        if root(tree_size) != cp.root_hash:
            result.add("recomputed root differs from the signed tree head", tree_size=tree_size)
    if record:
        IntegrityCheck.objects.create(
            started_at=started,
            finished_at=timezone.now(),
            tree_size=size,
            heads_checked=result.heads_checked,
            ok=result.ok,
            problems=result.problems[:1000],
        )
    return result


def verify_against_head(checkpoint: str) -> None:
    """Check that a saved older checkpoint is consistent with today's latest head."""
    key = log_key()
    old = v.verify_checkpoint(checkpoint, key.verifier)
    head = latest_head()
    if head is None:
        raise v.VerificationError("the log has no tree head yet")
    new = v.verify_checkpoint(head.checkpoint, key.verifier)
    if old.tree_size > new.tree_size:
        raise v.VerificationError("the saved head is larger than today's: the log was truncated")
    proof = consistency_proof(first=old.tree_size, second=new.tree_size) if old.tree_size else []
    v.verify_consistency(
        first=old.tree_size,
        second=new.tree_size,
        first_root=old.root_hash,
        second_root=new.root_hash,
        proof=proof,
    )
