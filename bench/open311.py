"""Open311 GeoReport v2: latency of the public list (1,000 requests) and of filing one request.

In-process (Django's test client, no HTTP server), against DATABASE_URL (PostgreSQL in
`make bench`; SQLite if unset), so the figures are the adapter's own cost:
  - GET /open311/v2/requests.json and .xml answering 1,000 public requests (the spec's
    maximum), with status notes and agency; baseline: the raw SQL that reads the same 1,000
    rows (cursor.execute + fetchall), measured in the same run;
  - GET /open311/v2/requests/{id}.xml; baseline: the raw SQL for one row;
  - POST /open311/v2/requests.json (form-encoded, api_key, attributes); baseline: one raw
    INSERT of a request row in a transaction.
ratio = baseline p99 / p99 (the suite's convention).

Usage: bench/open311.py [--requests 1000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402


def _timed(call, rounds: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for i in range(rounds):
        start = time.perf_counter()
        call(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def _emit(name: str, values: list[float], baseline: list[float], **extra: object) -> None:
    common.emit_result(
        name,
        "latency",
        median=round(statistics.median(values), 3),
        p99=round(common.percentile(values, 99) or 0, 3),
        baseline_median=round(statistics.median(baseline), 3),
        baseline_p99=round(common.percentile(baseline, 99) or 0, 3),
        unit="ms",
        **extra,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.db import connection, transaction
    from django.test import Client

    from portal.celery import app
    from services.models import Category, Department, Event, ServiceRequest
    from services.open311.services import api_key_issue

    app.conf.task_always_eager = True  # routing in-process: no worker needed here
    department, _ = Department.objects.get_or_create(
        code="bench-open311", defaults={"name_en": "Bench Roads"}
    )
    Department.objects.get_or_create(
        code="bench-triage", defaults={"name_en": "Bench Triage", "is_triage": True}
    )
    category, _ = Category.objects.get_or_create(
        code="bench-pothole",
        defaults={
            "name_en": "Bench pothole",
            "department": department,
            "attributes": [{"code": "depth", "datatype": "number", "required": False}],
        },
    )
    ServiceRequest.objects.filter(category=category).delete()
    rows = ServiceRequest.objects.bulk_create(
        ServiceRequest(
            reference=f"CD-B{i:06d}", kind="request", category=category, department=department,
            description="Deep hole by the bus stop", lat=39.05, lon=116.05,
            address="12 Jianshe Road", is_public=bool(i % 2),
        )
        for i in range(args.requests)
    )
    Event.objects.bulk_create(
        Event(request=r, type=Event.Type.PUBLIC_REPLY, text="Crew booked for Monday.")
        for r in rows
    )
    _, raw_key = api_key_issue(name="bench", rate_limit_per_minute=10**9)
    client = Client(SERVER_NAME="localhost")

    def address(i: int) -> str:  # a fresh client address per call: the anon throttle stays out
        return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"

    table = ServiceRequest._meta.db_table
    since = "2000-01-01"

    def raw_list(i: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT * FROM {table} WHERE created_at >= %s "  # noqa: S608 - our own table
                "ORDER BY created_at DESC LIMIT 1000",
                [since],
            )
            cursor.fetchall()

    for fmt in ("json", "xml"):
        def listing(i: int, fmt: str = fmt) -> None:
            response = client.get(f"/open311/v2/requests.{fmt}", REMOTE_ADDR=address(i))
            assert response.status_code == 200, response.content[:200]  # noqa: S101

        listing(0)
        _emit(f"open311_requests_list_{fmt}", _timed(listing, args.rounds),
              _timed(raw_list, args.rounds), results=min(args.requests, 1000))

    def one(i: int) -> None:
        response = client.get(f"/open311/v2/requests/CD-B{i % args.requests:06d}.xml",
                              REMOTE_ADDR=address(i))
        assert response.status_code == 200  # noqa: S101

    def raw_one(i: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {table} WHERE reference = %s",  # noqa: S608
                           [f"CD-B{i % args.requests:06d}"])
            cursor.fetchall()

    _emit("open311_request_detail_xml", _timed(one, args.rounds * 5),
          _timed(raw_one, args.rounds * 5))

    body = (f"api_key={raw_key}&service_code=bench-pothole&lat=39.05&long=116.05"
            "&description=Deep+hole&email=li%40example.org&attribute[depth]=12")

    def post(i: int) -> None:
        response = client.generic(
            "POST", "/open311/v2/requests.json", body,
            content_type="application/x-www-form-urlencoded", REMOTE_ADDR=address(i),
        )
        assert response.status_code == 200, response.content[:200]  # noqa: S101

    def raw_insert(i: int) -> None:
        with transaction.atomic():
            ServiceRequest.objects.create(
                kind="request", category=category, description="Deep hole", lat=39.05, lon=116.05
            )

    _emit("open311_post_request", _timed(post, args.rounds), _timed(raw_insert, args.rounds),
          note="includes routing (eager, in-process) after commit")
    ServiceRequest.objects.filter(category=category).delete()
    return 0


if __name__ == "__main__":
    sys.exit(main())
