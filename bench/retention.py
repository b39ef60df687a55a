"""Retention benchmark: the nightly `apply_retention` on a large table, batch by batch.

    .venv/bin/python bench/retention.py [--database-url postgres://…/civic_f_bench]
        [--requests 5000] [--batch 200]

1. Fills the database with `--requests` closed requests past the register's retention period
   (each with a resident comment and a staff reply quoting the reporter's name), then times
   every batch of `apply_retention` (anonymise reporter, text, photos, Open311 contact, marker
   row, all in one transaction per batch); baseline: a raw UPDATE of the same batch of rows
   (reporter and description only) in one transaction — the floor of any anonymisation.
2. Times the second run on the same data (idempotent: nothing left to do) and a dry run.
3. Reports the process's peak RSS growth during the run (bounded memory: batches are id lists).

Needs PostgreSQL; creates and migrates the database if missing. BENCH_RESULT lines as in
bench/common.py.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit_result, summary  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/civic_f_bench"


def setup_django(database_url: str) -> None:
    import psycopg

    base, _, name = database_url.rpartition("/")
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("DATABASE_POOL", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def fill(n: int, days: int) -> list[int]:
    """n closed requests older than the retention period, with a comment and a staff reply."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from consent.demo import seed_register
    from services.models import Category, Department, Event, ServiceRequest

    with connection.cursor() as cur:
        cur.execute("TRUNCATE services_event, rights_anonymisedrequest, "
                    "services_servicerequest CASCADE")
    dept, _ = Department.objects.get_or_create(code="bench-lighting",
                                               defaults={"name_en": "Bench Lighting"})
    seed_register()
    cat, _ = Category.objects.get_or_create(code="bench-lamp", defaults={
        "name_en": "Lamp", "department": dept})
    users = []
    User = get_user_model()  # noqa: N806
    for i in range(50):
        u, _ = User.objects.get_or_create(
            email=f"bench-retention-{i}@example.org",
            defaults={"display_name": f"Bench Person {i}", "phone": f"+86 139 0000 {i:04d}"},
        )
        users.append(u)
    closed = timezone.now() - timedelta(days=days + 10)
    ids: list[int] = []
    for start in range(0, n, 1000):
        rows = [
            ServiceRequest(
                category=cat, kind="request", department=dept, reporter=users[i % 50],
                description=f"Lamp {i} outside my house is dark.", address=f"{i} Bench Road",
                status="closed", closed_at=closed, lat=39.05, lon=116.05,
                is_private_address=bool(i % 2),
            )
            for i in range(start, min(n, start + 1000))
        ]
        made = ServiceRequest.objects.bulk_create(rows)
        events = []
        for r in made:
            u = r.reporter
            events.append(Event(request=r, type="comment_by_resident", actor=u,
                                actor_role="resident", text="Please call me after six."))
            events.append(Event(request=r, type="public_reply", actor_role="clerk",
                                text=f"Dear {u.display_name}, we called {u.phone}."))
        Event.objects.bulk_create(events)
        ids.extend(r.pk for r in made)
    return ids


def baseline(ids: list[int], batch: int) -> list[float]:
    from django.db import connection, transaction

    times = []
    for start in range(0, len(ids), batch):
        chunk = ids[start:start + batch]
        t0 = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "UPDATE services_servicerequest SET reporter_id = NULL, description = 'x' "
                "WHERE id = ANY(%s)", [chunk],
            )
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    setup_django(args.database_url)

    from consent.models import Purpose
    from consent.rights import retention
    from consent.rights.retention import apply_retention

    days = Purpose.objects.filter(code="service-delivery").values_list(
        "retention_days", flat=True).first() or 730

    # Baseline first, on its own copy of the data.
    ids = fill(args.requests, days)
    base = baseline(ids, args.batch)

    fill(args.requests, days)
    batch_ms: list[float] = []
    original = retention.requests_anonymise

    def timed(**kwargs):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            return original(**kwargs)
        finally:
            batch_ms.append((time.perf_counter() - t0) * 1000)

    retention.requests_anonymise = timed  # type: ignore[assignment]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    first = apply_retention(batch_size=args.batch)
    total = time.perf_counter() - t0
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    retention.requests_anonymise = original  # type: ignore[assignment]

    t1 = time.perf_counter()
    second = apply_retention(batch_size=args.batch)
    again = (time.perf_counter() - t1) * 1000
    t2 = time.perf_counter()
    apply_retention(dry_run=True)
    dry = (time.perf_counter() - t2) * 1000

    b, s = summary(base), summary(batch_ms)
    emit_result(
        "retention", f"batch of {args.batch} requests anonymised",
        median=s["median"], p99=s["p99"], unit="ms",
        baseline_median=b["median"], baseline_p99=b["p99"],
        requests=first.counts["requests_anonymised"], batches=s["n"],
        total_s=round(total, 2), requests_per_s=round(args.requests / total, 1),
        peak_rss_growth_kb=rss_after - rss_before,
    )
    emit_result("retention", "second run (idempotent, nothing to do)", median=round(again, 1),
                p99=round(again, 1), unit="ms",
                anonymised=second.counts["requests_anonymised"])
    emit_result("retention", "dry run", median=round(dry, 1), p99=round(dry, 1), unit="ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
