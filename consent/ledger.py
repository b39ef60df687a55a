"""The transparency log: an RFC 6962/9162 Merkle tree over RFC 8785 canonical JSON entries.

`ledger_append` adds an entry inside the caller's transaction (serialized by an advisory lock);
`publish_tree_head` integrates new leaves and signs a C2SP checkpoint in batches; proofs and a
full recomputation (`verify_log`) read the stored leaves and cached subtree hashes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from consent import anchor
from consent import verify as v
from consent import witnesses as witness_config
from consent.models import (
    ConsentReceipt,
    IntegrityCheck,
    LogEntry,
    MerkleNode,
    TreeHead,
    TreeHeadCosignature,
)
from core.security_log import security_event

APPEND_LOCK_KEY = 0x6C6F67_617070  # "log" "app"
PUBLISH_LOCK_KEY = 0x6C6F67_707562  # "log" "pub"
LEVEL_SHIFT = 48
# An address is something@host.tld; anchored at the "@" (with one character before it) so a
# search over a whole entry is linear.
_EMAIL_RE = re.compile(rb"[^@\s]@[^@\s]+\.[a-z]{2,}", re.IGNORECASE)
_KIND_RE = re.compile(r"[a-z][a-z0-9_.-]{0,39}")
_DEV_SEED = hashlib.sha256(b"civicdesk development log key - never use in production").digest()


class LedgerError(Exception):
    """Misuse of the ledger (no transaction, personal data in an entry, bad proof request)."""


# --- Hashing -------------------------------------------------------------------------------


def canonical(obj: Any, *, plain: bool = False) -> bytes:
    """RFC 8785 (JCS) canonical JSON.

    For the shapes log entries use (ASCII keys; strings, integers within ±2^53, booleans,
    null, lists and objects) the standard library's sorted compact output *is* the JCS form
    (same escaping: the short forms and lower-case \\u00xx for control characters, nothing
    else escaped), at a quarter of the cost; anything else (floats, non-ASCII keys) goes
    through the `rfc8785` implementation. A test compares both on many entries.
    `plain=True` skips the shape check for documents built only of those shapes by our own
    code (receipt bodies: a test compares them with `rfc8785` too).
    """
    if plain or _jcs_plain(obj):
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode()
    return rfc8785.dumps(obj)


_MAX_SAFE_INT = 2**53 - 1


def _jcs_plain(obj: Any) -> bool:
    if isinstance(obj, str) or obj is None or obj is True or obj is False:
        return True
    if isinstance(obj, int):
        return -_MAX_SAFE_INT <= obj <= _MAX_SAFE_INT
    if isinstance(obj, dict):
        return all(isinstance(k, str) and k.isascii() and _jcs_plain(v_)
                   for k, v_ in obj.items())
    if isinstance(obj, list):
        return all(_jcs_plain(v_) for v_ in obj)
    return False


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


def dev_origin(origin: str) -> str:
    """The origin of a development log: never the real one, so a dev head cannot pass as real."""
    return origin if origin.endswith(v.DEV_ORIGIN_SUFFIX) else origin + v.DEV_ORIGIN_SUFFIX


def _dev_key_file() -> str:
    """DEBUG without a configured key: a random key made once per checkout (var/), not a
    constant from the source. Tests use the fixed test key (reproducible), also -dev."""
    path = Path(settings.BASE_DIR) / "var" / "dev-log-signing-key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = base64.b64encode(secrets.token_bytes(32)).decode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(seed + "\n")
    return seed


def log_key() -> LogKey:
    """The log's signing key. With DEBUG (or in tests) the origin ends in `-dev`."""
    conf = settings.CIVICDESK
    testing = getattr(settings, "TESTING", False)
    debug = settings.DEBUG or testing
    seed = conf.get("LOG_SIGNING_KEY", "")
    if not seed and settings.DEBUG and not testing:
        seed = _dev_key_file()
    origin = dev_origin(conf["LOG_ORIGIN"]) if debug else conf["LOG_ORIGIN"]
    return _load_key(seed, origin, debug)


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


def sign_statement(obj: dict[str, Any], *, plain: bool = False) -> dict[str, str]:
    """Sign a canonical JSON statement (promise of inclusion, erasure receipt...); `plain` as
    for `canonical`.

    The signature covers the statement's `type` on a line of its own, then the canonical JSON
    (`verify.statement_message`): domain separation, so no statement can pass as another kind
    or as a checkpoint (whose signed body starts with the origin line).
    """
    key = log_key()
    statement = canonical(obj, plain=plain).decode()
    message = v.statement_message(statement)
    signature = base64.b64encode(key.private.sign(message)).decode()
    return {"statement": statement, "signature": signature, "key_id": key.verifier.key_id.hex()}


# --- Append ----------------------------------------------------------------------------------


def _lock(key: int) -> None:
    # On SQLite the connection opens IMMEDIATE transactions, which already serialize writers.
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def utc_seconds(at: datetime) -> str:
    return at.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# Log indexes on PostgreSQL come from this sequence (created by migration 0002): appends take
# no lock and commit in parallel. An index drawn by a change that rolls back leaves a hole,
# which the tree-head publisher fills with a `void` entry before it integrates (so the tree
# stays contiguous); see `_fill_holes`.
INDEX_SEQUENCE = "consent_logentry_index_seq"


def prepare_entry(
    *, kind: str, body: dict[str, Any], at: datetime | None = None, plain: bool = False,
) -> LogEntry:
    """Validate and canonicalise an entry (no database access); `index` is still unset.
    `plain` as for `canonical` (a body our own code built of strings, integers and nulls)."""
    if not _KIND_RE.fullmatch(kind):
        raise LedgerError("entry kind must be a short lower-case code")
    at = at or timezone.now()
    data = canonical({"kind": kind, "time": utc_seconds(at), "body": body}, plain=plain)
    # One search over the whole entry, keys and values alike: an address anywhere in it
    # is found (JSON's quotes and separators are not whitespace, so a match may also span
    # two strings; entries hold codes and hashes, never an "@").
    if _EMAIL_RE.search(data):
        raise LedgerError("log entries must not contain e-mail addresses")
    return LogEntry(kind=kind, entry=data.decode(), leaf_hash=leaf_hash(data).hex(),
                    created_at=at)


def insert_statement(source: str = "") -> str:
    """PostgreSQL: an `INSERT ... RETURNING "index"` of a prepared entry that draws its index
    from the sequence, for use as a CTE of a bigger statement (`source`: a FROM clause that
    makes the insert conditional on an earlier CTE returning a row); its parameters are
    `insert_params(entry)`. The parameters carry casts, so the statement also runs
    server-bound and prepared (consent.store); a cast to `text` keeps the columns' own length
    checks.

    No ON CONFLICT: the only conflict possible is with a `void` filler the publisher wrote
    for this very index while this statement was between drawing it and inserting (see
    `_fill_holes`); it raises IntegrityError and the caller retries (`is_index_conflict`).
    """
    table = LogEntry._meta.db_table
    return (
        f'INSERT INTO {table} ("index", kind, entry, leaf_hash, created_at) '  # noqa: S608
        f"SELECT nextval('{INDEX_SEQUENCE}'), %s::text, %s::text, %s::text, %s::timestamptz "
        f'{source} RETURNING "index"'
    )


def insert_params(entry: LogEntry) -> list[Any]:
    return [entry.kind, entry.entry, entry.leaf_hash, entry.created_at]


def is_index_conflict(exc: BaseException) -> bool:
    """Whether an IntegrityError is a log index taken by the publisher's filler (retry)."""
    cause = getattr(exc, "__cause__", None)
    diag = getattr(cause, "diag", None)
    return getattr(diag, "constraint_name", None) == f"{LogEntry._meta.db_table}_pkey"


def saved(entry: LogEntry, index: int) -> LogEntry:
    """Mark a prepared entry as stored at `index`."""
    entry.index = index
    entry._state.adding = False
    entry._state.db = connection.alias
    return entry


def ledger_append(
    *, kind: str, body: dict[str, Any], at: datetime | None = None,
) -> LogEntry:
    """Append one entry, in the caller's transaction (so it commits or rolls back with it).

    `body` must hold no personal data in clear (use consent.pseudonyms). On PostgreSQL the
    index comes from a sequence: no lock, so concurrent changes commit in parallel (a rolled
    back change leaves a hole that the publisher fills with a `void` entry). On SQLite the
    IMMEDIATE transactions serialize writers and the index is MAX + 1 (gap-free).
    """
    return ledger_append_prepared(prepare_entry(kind=kind, body=body, at=at))


def ledger_append_prepared(entry: LogEntry) -> LogEntry:
    """`ledger_append` of an entry from `prepare_entry`."""
    if not connection.in_atomic_block:
        raise LedgerError("ledger_append must run inside the transaction of the change it records")
    table = LogEntry._meta.db_table
    if connection.vendor == "postgresql":
        sql, params = insert_statement(), insert_params(entry)
        # ON CONFLICT DO NOTHING: an index lost to a filler is simply drawn again.
        sql = sql.replace(' RETURNING "index"', ' ON CONFLICT ("index") DO NOTHING '
                          'RETURNING "index"')
        with connection.cursor() as cur:
            for _ in range(100):
                cur.execute(sql, params)
                row = cur.fetchone()
                if row is not None:
                    return saved(entry, row[0])
        raise LedgerError("could not draw a free log index")  # pragma: no cover
    with connection.cursor() as cur:
        cur.execute(
            f'INSERT INTO {table} ("index", kind, entry, leaf_hash, created_at) '  # noqa: S608
            f'SELECT COALESCE(MAX("index"), -1) + 1, %s, %s, %s, %s FROM {table} '
            'RETURNING "index"',
            [entry.kind, entry.entry, entry.leaf_hash,
             LogEntry._meta.get_field("created_at").get_db_prep_value(entry.created_at,
                                                                       connection)],
        )
        return saved(entry, cur.fetchone()[0])


def resync_index_sequence() -> None:
    """Move the index sequence just past the largest stored index (after rows were written
    with explicit indexes, e.g. a bulk load, or when a test database was emptied)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT setval('{INDEX_SEQUENCE}', "  # noqa: S608
            f'COALESCE((SELECT MAX("index") FROM {LogEntry._meta.db_table}), -1) + 1, false)'
        )


def max_merge_delay_seconds() -> int:
    return int(settings.CIVICDESK["LOG_MAX_MERGE_DELAY"].total_seconds())


def inclusion_promise(entry: LogEntry) -> dict[str, str]:
    """A signed promise (like a CT SCT) that `entry` will be in a published tree head within
    the maximum merge delay. Signed once, when the entry is prepared: it needs no index (the
    leaf hash names the entry, which names the event and the receipt hash), so it is stored
    with the receipt in the same statement as the entry."""
    return sign_statement(
        {
            "type": v.PROMISE_TYPE,
            "log": log_key().origin,
            "leaf_hash": entry.leaf_hash,
            "timestamp": utc_seconds(entry.created_at),
            "max_merge_delay_seconds": max_merge_delay_seconds(),
        },
        plain=True,  # strings and a small integer, built here
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


VOID_KIND = "void"
HOLE_GRACE_SECONDS = 0.2
HOLE_WAIT = "2s"


def _holes(start: int) -> list[int]:
    """Indexes at or after `start` below the largest committed one that have no row."""
    table = LogEntry._meta.db_table
    with connection.cursor() as cur:
        cur.execute(f'SELECT COUNT(*), MAX("index") FROM {table} WHERE "index" >= %s',  # noqa: S608
                    [start])
        count, last = cur.fetchone()
        if not count or count == last - start + 1:
            return []
        cur.execute(
            f'SELECT "index" + 1, nxt FROM (SELECT "index", LEAD("index") OVER '  # noqa: S608
            f'(ORDER BY "index") AS nxt FROM {table} WHERE "index" >= %s) AS t '
            'WHERE nxt > "index" + 1 ORDER BY 1',
            [start - 1],
        )
        gaps = cur.fetchall()
        cur.execute(f'SELECT MIN("index") FROM {table} WHERE "index" >= %s', [start])  # noqa: S608
        first = cur.fetchone()[0]
    out = list(range(start, first))
    for lo, hi in gaps:
        out.extend(range(max(lo, start), hi))
    return sorted(set(out))


def _fill_holes(start: int) -> int | None:
    """PostgreSQL: make the committed entries from `start` on contiguous. Returns the first
    index that could not be resolved (the tree head stops before it), or None.

    A hole is an index drawn by a change that is still running, or that rolled back. For each
    one a `void` entry is inserted with ON CONFLICT DO NOTHING: PostgreSQL then waits for a
    running change holding that index and inserts nothing if it commits, the void if it rolled
    back. A change that drew the index but had not inserted its row yet loses it to the void
    and draws another (`is_index_conflict`); the short grace before filling makes that rare.
    A change running longer than HOLE_WAIT (a long erasure) is left for the next batch.
    Called outside a transaction (the beat task), each fill commits on its own, so appenders
    never wait for a tree-head transaction.
    """
    holes = _holes(start)
    if not holes:
        return None
    time.sleep(HOLE_GRACE_SECONDS)
    holes = _holes(start)
    if not holes:
        return None
    void = prepare_entry(kind=VOID_KIND, body={
        "type": "void", "reason": "the change that drew this index was rolled back"})
    table = LogEntry._meta.db_table
    with connection.cursor() as cur:
        cur.execute("SELECT current_setting('lock_timeout')")
        previous = cur.fetchone()[0]

    def fill(indexes: list[int]) -> bool:
        try:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute("SELECT set_config('lock_timeout', %s, true)", [HOLE_WAIT])
                cur.execute(
                    f'INSERT INTO {table} ("index", kind, entry, leaf_hash, created_at) '  # noqa: S608
                    "SELECT i, %s, %s, %s, %s FROM unnest(%s::bigint[]) AS i ORDER BY i "
                    'ON CONFLICT ("index") DO NOTHING',
                    [void.kind, void.entry, void.leaf_hash, void.created_at, indexes],
                )
                cur.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
        except OperationalError:  # lock_timeout: a long change still holds an index
            return False
        return True

    if fill(holes):
        return None
    for index in holes:  # find the one still held; everything before it is filled
        if not fill([index]):
            return index
    return None  # pragma: no cover - the blocking change ended meanwhile


def publish_tree_head(*, at: datetime | None = None) -> TreeHead | None:
    """Sign a new tree head if the log grew since the last one (one batch). Idempotent.

    The head covers the longest contiguous run of committed entries (holes are filled first,
    see `_fill_holes`), so it never covers an index that could still change.
    """
    key = log_key()
    if connection.vendor == "postgresql":
        _fill_holes(_integrated_size())
    with transaction.atomic():
        _lock(PUBLISH_LOCK_KEY)
        head = latest_head()
        old = head.tree_size if head else 0
        new = log_size()
        if connection.vendor == "postgresql":
            holes = _holes(old)
            if holes:
                new = holes[0]
        if new <= old and head is not None:
            return None
        _integrate(old, new)
        at = at or timezone.now()
        root = v.EMPTY_ROOT if new == 0 else _root_after_integration(new)
        ts = int(at.timestamp())
        head = TreeHead.objects.create(
            tree_size=new,
            root_hash=root.hex(),
            timestamp=datetime.fromtimestamp(ts, tz=UTC),
            key_id=key.verifier.key_id.hex(),
            checkpoint=_sign_checkpoint(key, new, root, ts),
        )
    # The outside anchor: written once the head is committed (beat task: no outer transaction).
    anchor.mirror_note(origin=key.origin, tree_size=new, note=head.checkpoint)
    return head


def _root_after_integration(size: int) -> bytes:
    return _ranges_hash([(0, size)])[0]


def tree_head_json(head: TreeHead) -> dict[str, Any]:
    witnesses = witness_config.configured_witnesses()
    lines = witness_config.cosignature_lines(head.tree_size)
    return {
        "tree_size": head.tree_size,
        "root_hash": head.root_hash,
        "timestamp": head.timestamp,
        "key_id": head.key_id,
        "checkpoint": head.checkpoint + "".join(lines),
        "verifier_key": str(log_key().verifier),
        "cosignatures": [
            {"witness": line[2:].rsplit(" ", 1)[0], "line": line.rstrip("\n")} for line in lines
        ],
        "witness_keys": [str(w.key) for w in witnesses],
        "witness_quorum": witness_config.quorum(),
    }


# --- Full verification ---------------------------------------------------------------------


@dataclass
class VerifyResult:
    tree_size: int = 0
    heads_checked: int = 0
    outside_heads: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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


def verify_log(*, record: bool = True, now: datetime | None = None) -> VerifyResult:
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

    witnesses = witness_config.configured_witnesses()
    witness_keys = [w.key for w in witnesses]
    cosigs: dict[int, list[str]] = {}
    for ts_, line in TreeHeadCosignature.objects.order_by("witness").values_list(
            "tree_size", "line"):
        cosigs.setdefault(ts_, []).append(line.rstrip("\n") + "\n")
    db_heads: dict[int, tuple[str, datetime, int]] = {}  # size → (root hex, time, cosigners)
    for head_id, tree_size, root_hex, checkpoint, stamp in TreeHead.objects.order_by(
        "tree_size"
    ).values_list("id", "tree_size", "root_hash", "checkpoint", "timestamp"):
        result.heads_checked += 1
        try:
            cp = v.verify_checkpoint(checkpoint + "".join(cosigs.get(tree_size, [])),
                                     key.verifier, witnesses=witness_keys)
        except v.VerificationError as exc:
            result.add(f"tree head signature: {exc}", tree_size=tree_size, head=head_id)
            continue
        db_heads[tree_size] = (root_hex, stamp, len(cp.cosigned_by))
        if cp.tree_size != tree_size or cp.root_hash.hex() != root_hex:
            result.add("tree head row differs from its signed checkpoint", tree_size=tree_size)
        if tree_size > size:
            result.add("tree head is larger than the log (entries deleted)", tree_size=tree_size)
            continue
        if root(tree_size) != cp.root_hash:
            result.add("recomputed root differs from the signed tree head", tree_size=tree_size)
    _check_outside(result, key=key, size=size, root=root, db_heads=db_heads,
                   witnesses=witnesses, now=now or timezone.now())
    published = max(db_heads, default=0)
    now = now or timezone.now()
    deadline = now - settings.CIVICDESK["LOG_MAX_MERGE_DELAY"]
    for index, leaf in ConsentReceipt.objects.filter(issued_at__lte=deadline).order_by(
            "log_index").values_list("log_index", "leaf_hash").iterator(chunk_size=20000):
        problem = _promise_problem(index, leaf, published=published,
                                   stored=hash_at(0, index).hex() if index < size else None)
        if problem:
            result.add(problem, index=index)
    if record:
        IntegrityCheck.objects.create(
            started_at=started,
            finished_at=timezone.now(),
            tree_size=size,
            heads_checked=result.heads_checked,
            ok=result.ok,
            problems=result.problems[:1000],
        )
    if not result.ok:
        security_event("tlog.integrity.alarm", check="full", problems=len(result.problems))
    return result


def _promise_problem(index: int, leaf: str, *, published: int, stored: str | None) -> str | None:
    """What is wrong with a promise of inclusion whose merge delay has passed, if anything."""
    if stored is None or stored == "00" * 32:
        return ("a promised entry is missing: deleted inside the merge delay, or the log was "
                "truncated (broken promise of inclusion)")
    if stored != leaf:
        return ("a promised entry was replaced by another (deleted inside the merge delay and "
                "its index filled; broken promise of inclusion)")
    if index >= published:
        return "a promised entry is not in any tree head within the maximum merge delay"
    return None


def _check_outside(
    result: VerifyResult, *, key: LogKey, size: int, root: Callable[[int], bytes],
    db_heads: dict[int, tuple[str, datetime, int]], witnesses: list[Any], now: datetime,
) -> None:
    """Compare the database log with the heads kept outside it: the mirror and the witnesses'
    own state. Names rollback, truncation, forks and heads no witness cosigned."""
    outside: dict[tuple[int, bytes], str] = {}
    notes = anchor.mirrored_notes(key.origin)
    for note in notes[-OUTSIDE_NOTES_CHECKED:]:
        try:
            cp = v.verify_checkpoint(anchor.read_note(note.name), key.verifier)
        except (v.VerificationError, OSError, UnicodeDecodeError) as exc:
            result.add(f"a head in the outside mirror does not verify: {exc}", source=note.name)
            continue
        outside.setdefault((cp.tree_size, cp.root_hash), f"mirror:{note.name}")
    for witness in witnesses:
        try:
            text = witness_config.witness_latest(witness, key.origin)
            if text is None:
                continue
            cp = v.verify_checkpoint(text, key.verifier, witnesses=[witness.key], quorum=1)
        except witness_config.WitnessError as exc:
            result.notes.append(f"witness {witness.name} could not be asked: {exc}")
            continue
        except v.VerificationError as exc:
            result.add(f"witness {witness.name} holds a head that does not verify: {exc}")
            continue
        outside.setdefault((cp.tree_size, cp.root_hash), f"witness:{witness.name}")
    result.outside_heads = len(outside)
    if outside and size == 0:
        biggest = max(s for s, _ in outside)
        result.add("the log is empty but heads of it exist outside the database (truncated)",
                   outside_tree_size=biggest)
    by_size: dict[int, set[bytes]] = {}
    for (tree_size, root_hash), source in sorted(outside.items()):
        by_size.setdefault(tree_size, set()).add(root_hash)
        if tree_size > size:
            if size:
                result.add("the log is shorter than a head kept outside the database "
                           "(rolled back or truncated)", tree_size=size,
                           outside_tree_size=tree_size, source=source)
            continue
        if root(tree_size) != root_hash:
            result.add("the log's entries differ from a head kept outside the database "
                       "(edited, removed or reordered entries)", tree_size=tree_size,
                       source=source)
        db = db_heads.get(tree_size)
        if db is not None and db[0] != root_hash.hex():
            result.add("fork: the database's tree head and one kept outside have the same size "
                       "but different roots", tree_size=tree_size, source=source)
    for tree_size, roots in by_size.items():
        if len(roots) > 1:
            result.add("fork: two signed heads of the same size with different roots exist "
                       "outside the database", tree_size=tree_size)
    wanted = witness_config.quorum()
    if wanted and db_heads:
        newest = max(db_heads)
        _, stamp, cosigners = db_heads[newest]
        grace = settings.CIVICDESK["LOG_MAX_MERGE_DELAY"]
        if cosigners < wanted and now - stamp > grace:
            result.add(f"the newest tree head is cosigned by {cosigners} witness(es), "
                       f"{wanted} required (no witness vouches for it)", tree_size=newest)


OUTSIDE_NOTES_CHECKED = 200


def check_promises(*, now: datetime | None = None, limit: int = 20000) -> IntegrityCheck | None:
    """Check the promises of inclusion whose merge delay ended since the last check: each
    promised entry must be in a published head, unchanged. Records the result; a broken
    promise raises an integrity alarm (security log, health, officer page)."""
    now = now or timezone.now()
    deadline = now - settings.CIVICDESK["LOG_MAX_MERGE_DELAY"]
    last = IntegrityCheck.objects.filter(kind=IntegrityCheck.Kind.PROMISES).order_by(
        "-checked_through").first()
    since = datetime.fromtimestamp(last.checked_through / 1e6, tz=UTC) if last else None
    rows = ConsentReceipt.objects.filter(issued_at__lte=deadline)
    if since is not None:
        rows = rows.filter(issued_at__gt=since)
    batch = list(rows.order_by("issued_at").values_list("log_index", "leaf_hash",
                                                        "issued_at")[:limit])
    if not batch:
        return None
    published = _integrated_size()
    stored = dict(LogEntry.objects.filter(index__in=[r[0] for r in batch]).values_list(
        "index", "leaf_hash"))
    problems = []
    for index, leaf, _ in batch:
        problem = _promise_problem(index, leaf, published=published, stored=stored.get(index))
        if problem:
            problems.append({"problem": problem, "index": index})
    through = batch[-1][2] if len(batch) == limit else deadline
    check = IntegrityCheck.objects.create(
        kind=IntegrityCheck.Kind.PROMISES, started_at=now, finished_at=timezone.now(),
        tree_size=published, heads_checked=0, ok=not problems, problems=problems[:1000],
        checked_through=int(through.timestamp() * 1e6),
    )
    if problems:
        security_event("tlog.integrity.alarm", check="promises", problems=len(problems))
    return check


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
