"""Transparency-log benchmark: consent changes/s, inclusion-proof time and full verification.

    .venv/bin/python bench/ledger.py [--database-url postgres://…/civic_b_bench]
        [--entries 1000000] [--changes 3000] [--processes 4] [--proofs 500]

1. Consent changes per second through `consent.services.consent_decide` (event + record + log
   entry, each in its own transaction) from several processes; baseline: a raw one-row INSERT
   transaction on the same connections (also reported: the same insert serialized by an
   advisory lock held to commit, the ceiling of the earlier design that locked the log for
   the whole transaction; appends now draw indexes from a sequence and take no lock).
2. The log is filled to `--entries` with synthetic consent-shaped entries (COPY), a tree head is
   published (integration of the new leaves is timed), then inclusion proofs at random indexes
   are timed; baseline: a primary-key SELECT of one entry.
3. `verify_log` over the whole log, with the outside check (the mirror and a witness, which
   tools/witness.py runs in a thread; each published head is sent to it first, timed);
   baseline: reading every entry row once.

Needs PostgreSQL (the targets are for it); creates and migrates the database if missing.
Prints BENCH_RESULT lines (bench/common.py convention).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit_result, summary  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/civic_b_bench"


def setup_django(database_url: str) -> None:
    """Production settings (DEBUG off: no query log wrapped around every statement), like the
    app servers bench/common.py starts; a fixed bench signing key per database."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("DATABASE_POOL", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("CIVICDESK_TESTING", "0")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-" + "k" * 50)
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
    os.environ.setdefault("CIVICDESK_LOG_SIGNING_KEY", base64.b64encode(
        hashlib.sha256(database_url.encode()).digest()).decode())
    # The outside mirror of this run (the heads of the bench database are written there).
    os.environ.setdefault("CIVICDESK_TLOG_MIRROR_DIR", tempfile.mkdtemp(prefix="bench-mirror-"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def ensure_database(database_url: str) -> None:
    import psycopg

    base, _, name = database_url.rpartition("/")
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def make_residents(n: int) -> list:
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    prefix = uuid.uuid4().hex[:8]
    users = [
        user_model(email=f"bench-{prefix}-{i}@bench.invalid", password="!")  # noqa: S106
        for i in range(n)
    ]
    return user_model.objects.bulk_create(users, batch_size=1000)


_CHANGE_CTX: dict = {}


def _change_worker(args: tuple[int, int, str, int]) -> list[float]:
    """One process (like one gunicorn worker): its own connection, no shared GIL."""
    from django.contrib.auth import get_user_model
    from django.db import connection, connections, transaction

    from consent import services

    t, processes, raw, per_process = args
    purposes, versions, resident_ids = (
        _CHANGE_CTX["purposes"], _CHANGE_CTX["versions"], _CHANGE_CTX["residents"],
    )
    mine = list(get_user_model().objects.filter(pk__in=resident_ids[t::processes]))
    local = []
    try:
        for i in range(per_process):
            user = mine[i % len(mine)]
            purpose = purposes[(i // len(mine)) % len(purposes)]
            decision = "give" if (i // (len(mine) * len(purposes))) % 2 == 0 else "withdraw"
            start = time.perf_counter()
            if raw:
                with transaction.atomic(), connection.cursor() as cur:
                    if raw == "serialized":
                        cur.execute("SELECT pg_advisory_xact_lock(42)")
                    cur.execute("INSERT INTO bench_raw_insert (body) VALUES (%s)",
                                [f"{user.pk}:{purpose}:{decision}"])
            else:
                services.consent_decide(subject=user, purpose_code=purpose, decision=decision,
                                        notice_version=versions[purpose])
            local.append((time.perf_counter() - start) * 1000)
    finally:
        connections.close_all()
    return local


def bench_changes(changes: int, processes: int) -> float:
    import multiprocessing

    from django.db import connection, connections

    from consent import policy
    from consent.demo import seed_register
    from consent.models import Notice

    seed_register()
    purposes = [policy.PURPOSE_SMS, policy.PURPOSE_SURVEY, policy.PURPOSE_CONTRACTOR,
                policy.PURPOSE_ROUTING_TRAINING]
    _CHANGE_CTX["purposes"] = purposes
    _CHANGE_CTX["versions"] = {
        p: Notice.objects.filter(purpose__code=p).order_by("-version").first().version
        for p in purposes
    }
    _CHANGE_CTX["residents"] = [u.pk for u in make_residents(max(processes * 50, 200))]
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_raw_insert (id bigserial primary key, "
                    "body text, at timestamptz default now())")
    connections.close_all()  # children open their own
    per_process = changes // processes
    ctx = multiprocessing.get_context("fork")

    def run(raw: str) -> tuple[float, list[float]]:
        with ctx.Pool(processes) as pool:
            start = time.perf_counter()
            parts = pool.map(_change_worker, [(t, processes, raw, per_process)
                                              for t in range(processes)])
            took = time.perf_counter() - start
        out = [x for part in parts for x in part]
        return len(out) / took, out

    base_rate, base_latencies = run("plain")
    serialized_rate, _ = run("serialized")
    rate, latencies = run("")
    s, b = summary(latencies), summary(base_latencies)
    emit_result("ledger", "consent_change_latency", median=s["median"], p99=s["p99"], unit="ms",
                baseline_median=b["median"], baseline_p99=b["p99"], processes=processes,
                n=s["n"])
    emit_result("ledger", "consent_changes_per_second", median=round(rate, 1), p99=None,
                unit="changes/s", baseline_median=round(base_rate, 1),
                ratio=round(rate / base_rate, 3), target=">= 1000", processes=processes,
                serialized_raw_insert_per_second=round(serialized_rate, 1))
    return rate


def fill_log(entries: int) -> None:
    """COPY synthetic consent-shaped entries up to `entries` (sorted-key compact JSON of ASCII
    strings and ints is already RFC 8785 canonical)."""
    from django.db import connection
    from django.utils import timezone

    from consent import ledger

    start_index = ledger.log_size()
    if start_index >= entries:
        return
    now = timezone.now()
    stamp = ledger.utc_seconds(now)
    t0 = time.perf_counter()
    with connection.cursor() as cur, cur.cursor.copy(
        "COPY consent_logentry (index, kind, entry, leaf_hash, created_at) FROM STDIN"
    ) as copy:
        for i in range(start_index, entries):
            body = {
                "actor": "subject", "event": "given" if i % 3 else "withdrawn",
                "event_id": str(uuid.UUID(int=i)), "expires": None, "legal_basis": "consent",
                "method": "web",
                "notice": {"language": "en", "sha256": "0" * 64, "version": 1},
                "purpose": "status-notifications-sms",
                "subject": hashlib.sha256(i.to_bytes(8, "big")).hexdigest(), "type": "consent",
            }
            data = json.dumps({"body": body, "kind": "consent", "time": stamp},
                              sort_keys=True, separators=(",", ":"))
            leaf = hashlib.sha256(b"\x00" + data.encode()).hexdigest()
            copy.write_row((i, "consent", data, leaf, now))
    ledger.resync_index_sequence()  # the rows carry explicit indexes: move the sequence on
    print(f"filled {entries - start_index} entries in {time.perf_counter() - t0:.1f}s",
          flush=True)


def bench_publish() -> None:
    from consent import ledger

    t0 = time.perf_counter()
    head = ledger.publish_tree_head()
    took = time.perf_counter() - t0
    if head is not None:
        emit_result("ledger", "publish_tree_head_integration", median=round(took, 3), p99=None,
                    unit="s", tree_size=head.tree_size)


def bench_proofs(proofs: int) -> None:
    from django.db import connection

    from consent import ledger
    from consent import verify as v

    head = ledger.latest_head()
    size = head.tree_size
    root = bytes.fromhex(head.root_hash)
    rng = random.Random(7)
    times, base = [], []
    for _ in range(proofs):
        index = rng.randrange(size)
        t0 = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute('SELECT leaf_hash FROM consent_logentry WHERE "index" = %s', [index])
            leaf = cur.fetchone()[0]
        base.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        path = ledger.inclusion_proof(index=index, tree_size=size)
        times.append((time.perf_counter() - t0) * 1000)
        v.verify_inclusion(index=index, tree_size=size, leaf=bytes.fromhex(leaf), proof=path,
                           root=root)
    s, b = summary(times), summary(base)
    emit_result("ledger", "inclusion_proof", median=s["median"], p99=s["p99"], unit="ms",
                baseline_median=b["median"], baseline_p99=b["p99"], tree_size=size,
                target="< 5 ms", n=s["n"])


def start_witness() -> None:
    """A real witness (tools/witness.py) in a thread, configured as the log's witness, so
    publishing includes the witness round trip and verify_log the outside check."""
    from django.conf import settings

    from consent import ledger
    from tools import witness

    key = witness.key_from_seed("witness.bench.example", os.urandom(32))
    server = witness.serve(key=key, logs=[ledger.log_key().verifier],
                           state_dir=Path(tempfile.mkdtemp(prefix="bench-witness-")),
                           host="127.0.0.1", port=0, ready=threading.Event())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.CIVICDESK["WITNESS_URLS"] = [f"http://127.0.0.1:{server.server_port}"]
    settings.CIVICDESK["WITNESS_KEYS"] = [str(key.verifier)]


def bench_witness() -> None:
    """The latest head sent to the witness (consistency proof, cosignature, mirror)."""
    from consent import witnessing

    t0 = time.perf_counter()
    outcome = witnessing.cosign_latest_head()
    took = time.perf_counter() - t0
    emit_result("ledger", "witness_cosign_latest_head", median=round(took * 1000, 1), p99=None,
                unit="ms", outcome=";".join(f"{k}={v}" for k, v in outcome.items()))


def bench_verify() -> None:
    from django.db import connection

    from consent import ledger

    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute('SELECT "index", entry, leaf_hash FROM consent_logentry ORDER BY "index"')
        while cur.fetchmany(20000):
            pass
    scan = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = ledger.verify_log(record=False)
    took = time.perf_counter() - t0
    if not result.ok:
        print("verify_log problems:", result.problems[:5], flush=True)
    emit_result("ledger", "verify_log_full", median=round(took, 2), p99=None, unit="s",
                baseline_median=round(scan, 2), ratio=round(scan / took, 3),
                tree_size=result.tree_size, ok=result.ok, target="< 30 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DB)
    parser.add_argument("--entries", type=int, default=int(os.environ.get(
        "BENCH_LEDGER_ENTRIES", "200000")),
                        help="log size for the proof/verify figures (the target is 1000000; "
                        "the default keeps `make bench` within its budget)")
    parser.add_argument("--changes", type=int, default=3000)
    parser.add_argument("--processes", type=int, default=4,
                        help="concurrent writers (processes, like gunicorn workers)")
    parser.add_argument("--proofs", type=int, default=500)
    parser.add_argument("--skip-changes", action="store_true")
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        print("bench/ledger.py needs PostgreSQL (--database-url postgres://…)")
        return 2
    ensure_database(args.database_url)
    setup_django(args.database_url)
    if not args.skip_changes:
        bench_changes(args.changes, args.processes)
        bench_publish()
    start_witness()
    bench_witness()
    fill_log(args.entries)
    bench_publish()
    bench_witness()
    bench_proofs(args.proofs)
    bench_verify()
    return 0


if __name__ == "__main__":
    sys.exit(main())
