"""Server time of the clerk's queue page with 50 items, against the bare keyset SQL behind it.

Runs on its own temporary SQLite database (migrated and seeded with the demo city, plus 60 open
Roads requests) with production settings (DEBUG off, cached templates). Reports wall time and
CPU (process) time per render, median and p99, and the ratio against the bare query measured
in the same run. The portal's goal: < 100 ms server time for a 50-item queue page.

    .venv/bin/python bench/portal_pages.py [--samples 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import emit_result, session_record_second_factor, summary  # noqa: E402


def _environment(tmp: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        SQLITE_PATH=str(Path(tmp) / "bench.sqlite3"),
        MEDIA_ROOT=str(Path(tmp) / "media"),
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench-only-" + "k" * 50,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="0",
        CIVICDESK_TESTING="1",
        CIVICDESK_LOG_SIGNING_KEY=os.environ.get("CIVICDESK_LOG_SIGNING_KEY", ""),
    )
    return env


def measure(samples: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()
    from django.db import connection
    from django.db.models import F
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from portal.accounts.models import User
    from services.models import Category, Department, ServiceRequest, Status

    roads = Department.objects.get(code="roads")
    category = Category.objects.filter(department=roads).first()
    ServiceRequest.objects.bulk_create(
        ServiceRequest(kind=category.kind, category=category, description=f"bench {i}",
                       department=roads, status=Status.ROUTED, lat=39.0, lon=116.0)
        for i in range(60)
    )
    client = Client()
    clerk = User.objects.get(email="clerk.roads@demo.civicdesk")
    client.force_login(clerk)
    # Staff pages need a session that passed TOTP: the records allauth writes for it.
    session = client.session
    session_record_second_factor(session, clerk)
    session.save()
    client.get("/staff/queue/", HTTP_HOST="127.0.0.1")
    wall, cpu = [], []
    for _ in range(samples):
        w, c = time.perf_counter(), time.process_time()
        response = client.get("/staff/queue/", HTTP_HOST="127.0.0.1")
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
    rows = response.content.decode().count("data-ref=")
    if rows != 50:
        raise SystemExit(f"expected 50 rows on the queue page, got {rows}")
    with CaptureQueriesContext(connection) as queries:
        client.get("/staff/queue/", HTTP_HOST="127.0.0.1")
    bare_wall, bare_cpu = [], []
    for _ in range(samples):
        w, c = time.perf_counter(), time.process_time()
        list(
            ServiceRequest.objects.filter(department=roads, status__in=["routed"])
            .select_related("category", "department", "district", "assignee")
            .order_by(F("priority").desc(), F("due_at").asc(nulls_last=True), "id")[:51]
        )
        bare_cpu.append((time.process_time() - c) * 1000)
        bare_wall.append((time.perf_counter() - w) * 1000)
    for metric, page, bare in (("wall", wall, bare_wall), ("cpu", cpu, bare_cpu)):
        s, b = summary(page), summary(bare)
        emit_result(
            "portal_queue_page", f"render_{metric}_ms_50_items", median=s["median"],
            p99=s["p99"], unit="ms", baseline_median=b["median"], baseline_p99=b["p99"],
            ratio=round(s["median"] / b["median"], 2) if b["median"] else None,
            queries=len(queries),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.samples)
        return
    with tempfile.TemporaryDirectory() as tmp:
        env = _environment(tmp)
        python = sys.executable
        for command in (["migrate", "--no-input"], ["seed_demo"]):
            subprocess.run([python, "manage.py", *command], cwd=ROOT, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([python, __file__, "--measure", "--samples", str(args.samples)],
                       cwd=ROOT, env=env, check=True)


if __name__ == "__main__":
    main()
