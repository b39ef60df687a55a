"""Routing latency: how long from filing a request to its department being set, under load.

For each rate (default 50 and 200 submitted requests/s, 60 s each) the load generator files
requests through `services.services.request_submit` (the same service the API calls; the
outbox publishes the routing task after commit) on a mix of routing branches: a district rule
(streetlight in North), a category default (water leak) and the text classifier ("other",
en + zh). A Celery worker (prefork, 2 processes, queue `routing`) routes them.

Figures per rate, all from the same run on the same machine:
  - p50/p99/max of `routed_at - created_at` (both stamped by the database clock: created_at
    is the column's `db_default=Now()`, routed_at is set to `Now()` by the router);
  - the largest backlog: messages waiting in the Redis `routing` list, and requests filed
    but not yet routed (sampled every 50 ms);
  - baseline: a no-op Celery task's publish→start latency on the same queue, at the same
    rate, measured just before; ratio = baseline p99 / routing p99 (the suite's convention).
Target: p99 < 50 ms at 200 requests/s on a 2-core machine.

Usage: bench/routing_latency.py [--rates 50,200] [--duration 60] [--baseline-duration 20]
       [--database-url postgres://…/civic_c_bench] [--redis-url redis://…]  (default: a
       throwaway redis-server on a free port, AOF on, noeviction)
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402

NOOP_KEY = "bench:routing_latency:noop"
QUEUE = "routing"
# North district (services/demo.py) — the streetlight rule there routes to the contractor.
LAT, LON = 39.02, 115.97
OTHER_TEXTS = [
    "The lamp post at the corner is dark every night",
    "There is a deep pothole in the road near the school",
    "Rubbish bins are overflowing and smell",
    "A tree branch fell on the footpath",
    "楼下的路灯坏了，晚上很黑",
    "水管漏水了，路口积水",
    "垃圾好几天没人清运",
    "My neighbour's music is too loud",  # low confidence → Triage
]


def _noop_task():
    """The baseline task, registered in the worker through `-I routing_latency`."""
    from portal.celery import app

    @app.task(name="bench.routing_latency.noop", ignore_result=True)
    def noop(sent_at: float) -> None:
        started = time.time()
        import redis

        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        client.rpush(NOOP_KEY, f"{(started - sent_at) * 1000:.3f}")

    return noop


noop = _noop_task()


def paced(rate: float, duration: float, action, threads: int) -> tuple[int, float]:
    """Call `action(i)` at `rate` per second for `duration` s on a thread pool.

    Returns (calls made, achieved rate). Calls follow an absolute timeline (a slow call does
    not delay the next one) while a thread is free; when all are busy the schedule waits for
    one (the machine is saturated), and nothing new starts after `duration`.
    """
    total = int(rate * duration)
    slots = threading.Semaphore(threads)
    start = time.perf_counter()
    made = 0

    def run(i: int) -> None:
        try:
            action(i)
        finally:
            slots.release()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if time.perf_counter() - start > duration:
                break
            slots.acquire()
            pool.submit(run, i)
            made += 1
    elapsed = time.perf_counter() - start
    return made, made / elapsed if elapsed else 0.0


class BacklogSampler(threading.Thread):
    def __init__(self, redis_client, since_id: int) -> None:
        super().__init__(daemon=True)
        self.redis = redis_client
        self.since_id = since_id
        self.max_queue = 0
        self.max_unrouted = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        from django.db import connection

        from services.models import ServiceRequest

        while not self.stop_event.wait(0.05):
            self.max_queue = max(self.max_queue, self.redis.llen(QUEUE))
            unrouted = ServiceRequest.objects.filter(
                pk__gt=self.since_id, routed_at__isnull=True
            ).count()
            self.max_unrouted = max(self.max_unrouted, unrouted)
        connection.close()

    def stop(self) -> None:
        self.stop_event.set()
        self.join()


def measure_baseline(redis_client, rate: float, duration: float) -> list[float]:
    redis_client.delete(NOOP_KEY)

    def publish(_: int) -> None:
        noop.apply_async(args=[time.time()], queue=QUEUE)

    sent, _ = paced(rate, duration, publish, threads=4)
    common.wait_until(lambda: redis_client.llen(NOOP_KEY) >= sent, timeout=60)
    return [float(v) for v in redis_client.lrange(NOOP_KEY, 0, -1)]


def measure_routing(redis_client, rate: float, duration: float, threads: int) -> dict:
    from django.db import connection
    from django.db.models import F

    from services.models import Category, ServiceRequest
    from services.services import request_submit

    categories = {c.code: c for c in Category.objects.filter(is_active=True)}
    reporter = _bench_reporter()
    since = ServiceRequest.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    rng = random.Random(42)
    plan = []
    for _ in range(int(rate * duration)):
        roll = rng.random()
        if roll < 0.4:
            plan.append(("streetlight", "The streetlight outside is dark."))
        elif roll < 0.7:
            plan.append(("water-leak", "Water is leaking from the pipe."))
        else:
            plan.append(("other", rng.choice(OTHER_TEXTS)))
    errors: list[str] = []

    def submit(i: int) -> None:
        code, text = plan[i]
        try:
            request_submit(
                reporter=reporter, category=categories[code], description=text, lat=LAT, lon=LON
            )
        except Exception as exc:  # noqa: BLE001 - count and go on; reported below
            errors.append(type(exc).__name__)
        finally:
            connection.close()

    sampler = BacklogSampler(redis_client, since)
    sampler.start()
    sent, achieved = paced(rate, duration, submit, threads=threads)
    common.wait_until(
        lambda: not ServiceRequest.objects.filter(pk__gt=since, routed_at__isnull=True).exists(),
        timeout=120,
        interval=0.2,
    )
    sampler.stop()
    rows = ServiceRequest.objects.filter(pk__gt=since)
    latencies = [
        delta.total_seconds() * 1000
        for delta in rows.filter(routed_at__isnull=False)
        .annotate(latency=F("routed_at") - F("created_at"))
        .values_list("latency", flat=True)
    ]
    return {
        "sent": sent,
        "achieved_rate": round(achieved, 1),
        "latencies": latencies,
        "unrouted": rows.filter(routed_at__isnull=True).count(),
        "errors": len(errors),
        "max_queue": sampler.max_queue,
        "max_unrouted": sampler.max_unrouted,
    }


def measure_service_time(n: int = 200) -> tuple[list[float], list[float]]:
    """`request_route` called in-process, one at a time, on fresh rows (no queue in between),
    and a `SELECT 1` round trip as its raw baseline. Milliseconds."""
    from django.db import connection

    from services.models import Category, District, ServiceRequest
    from services.routing import request_route

    categories = list(
        Category.objects.filter(code__in=["streetlight", "water-leak", "other"]).order_by("code")
    )
    north = District.objects.filter(code="north").first()
    reporter = _bench_reporter()
    route_ms, select_ms = [], []
    for i in range(n):
        category = categories[i % len(categories)]
        request = ServiceRequest.objects.create(
            kind=category.kind,
            category=category,
            description=OTHER_TEXTS[i % len(OTHER_TEXTS)],
            lat=LAT,
            lon=LON,
            district=north,
            reporter=reporter,
            due_at=None,
        )
        started = time.perf_counter()
        request_route(request_id=request.pk)
        route_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        select_ms.append((time.perf_counter() - started) * 1000)
    return route_ms, select_ms


def _bench_reporter():
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(
        email="routing-bench@bench.invalid", defaults={"display_name": "bench"}
    )
    return user


def warm_up(redis_client) -> None:
    """Route a few requests of each kind so every worker process has loaded the model."""
    measure_routing(redis_client, rate=20, duration=1.0, threads=2)
    from services.classifier import current_model

    current_model()  # this process routes in-process in measure_service_time
    common.wait_until(lambda: redis_client.llen(QUEUE) == 0, timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="50,200")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--baseline-duration", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--threads", type=int, default=8, help="load generator threads")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()

    database_url = (
        args.database_url
        or os.environ.get("DATABASE_URL")
        or "postgres://postgres@127.0.0.1:5432/civic_c_bench"
    )
    workdir = Path(tempfile.mkdtemp(prefix="routing-bench-"))
    common.install_signal_handlers()
    redis_server = None
    redis_url = args.redis_url or os.environ.get("REDIS_URL")
    if not redis_url:
        redis_server = common.RedisServer(workdir).start()
        redis_url = redis_server.url
    try:
        print("preparing the database (migrate, seed the demo city)…", flush=True)
        common.prepare_database(database_url, redis_url)
        env = common.app_env(
            database_url,
            redis_url,
            CIVICDESK_ROUTER_MODEL_PATH=str(workdir / "router.json"),
            PYTHONPATH=str(Path(__file__).resolve().parent),
        )
        os.environ.update(env)
        os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
        import django

        django.setup()
        import redis

        redis_client = redis.Redis.from_url(redis_url)
        worker = common.Proc(
            "routing-worker",
            [common.PYTHON, "-m", "celery", "-A", "portal", "worker", "-Q", QUEUE, "-P",
             "prefork", "-c", str(args.concurrency), "--without-mingle", "--without-gossip",
             "--without-heartbeat", "-I", "routing_latency", "--loglevel", "WARNING"],
            env,
            workdir / "worker.log",
        ).start()
        print("warming up the worker…", flush=True)
        time.sleep(3)
        warm_up(redis_client)
        print(f"worker up; results below (workdir {workdir})", flush=True)
        route_ms, select_ms = measure_service_time()
        service, raw = common.summary(route_ms), common.summary(select_ms)
        print(
            f"request_route in-process (serial, n={service['n']}): p50={service['median']} ms "
            f"p99={service['p99']} ms; SELECT 1 round trip p50={raw['median']} ms "
            f"p99={raw['p99']} ms",
            flush=True,
        )
        common.emit_result(
            "routing_latency",
            "request_route service time (in-process, serial)",
            median=service["median"],
            p99=service["p99"],
            unit="ms",
            baseline_median=raw["median"],
            baseline_p99=raw["p99"],
            baseline="SELECT 1 round trip",
            n=service["n"],
        )
        for rate in [float(r) for r in args.rates.split(",") if r.strip()]:
            baseline = measure_baseline(redis_client, rate, args.baseline_duration)
            base = common.summary(baseline)
            result = measure_routing(redis_client, rate, args.duration, args.threads)
            routed = common.summary(result["latencies"])
            print(
                f"rate {rate:g}/s (achieved {result['achieved_rate']}/s, n={result['sent']}): "
                f"routed_at-created_at p50={routed['median']} ms p99={routed['p99']} ms "
                f"max={routed['max']} ms; no-op task publish→start p50={base['median']} ms "
                f"p99={base['p99']} ms; max backlog {result['max_queue']} queued / "
                f"{result['max_unrouted']} unrouted; unrouted at end {result['unrouted']}; "
                f"errors {result['errors']}",
                flush=True,
            )
            common.emit_result(
                "routing_latency",
                f"routed_at-created_at @{rate:g}/s",
                median=routed["median"],
                p99=routed["p99"],
                unit="ms",
                baseline_median=base["median"],
                baseline_p99=base["p99"],
                baseline="no-op Celery task publish→start, same queue and rate",
                max=routed["max"],
                n=routed["n"],
                target_rate=rate,
                achieved_rate=result["achieved_rate"],
                max_backlog_queue=result["max_queue"],
                max_backlog_unrouted=result["max_unrouted"],
                unrouted=result["unrouted"],
                errors=result["errors"],
                target_p99_ms=50,
                meets_target=bool(routed["p99"] is not None and routed["p99"] < 50),
                cpus=os.cpu_count(),
            )
        worker.stop()
    finally:
        common.stop_all()  # the worker and the throwaway redis-server, if we started one
    return 0


if __name__ == "__main__":
    sys.exit(main())
