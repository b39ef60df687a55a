"""Intake benchmark: authenticated POST /api/v1/requests against gunicorn + PostgreSQL.

    .venv/bin/python bench/intake.py [--database-url postgres://…/civic_a] [--seconds 20]
        [--clients 16] [--procs 2] [--workers 4]

Everything on loopback: the database given (created, migrated and seeded if needed), a
throwaway redis-server of our own (cache, sessions, broker; no Celery worker runs, so the
routing tasks just queue up there), and one gunicorn serving this very module: the real
application plus one extra baseline endpoint, `POST /bench/bare`, a bare DRF view with the
same authentication that validates a small serializer and inserts one row with one SQL
statement. Both are driven alternately in the same run (bare, real, bare, real) by closed-loop
clients in separate processes (keep-alive, X-Session-Token), and the figures are:

- requests/s, p50 and p99 latency of the real endpoint and of the bare one;
- ratio = real requests/s ÷ bare requests/s (target ≥ 0.65); target ≥ 1,000 requests/s at
  p99 < 25 ms on a 2-core machine.

Prints BENCH_RESULT lines (bench/common.py convention).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

BARE_TABLE = "bench_intake_bare"
CATEGORIES = ["streetlight", "missed-collection", "water-leak", "fallen-tree"]


# --- The WSGI app gunicorn loads (this module with CIVICDESK_BENCH_WSGI=1) ---------------------


def _make_application():  # type: ignore[no-untyped-def]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(common.ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.urls import include, path
    from rest_framework import serializers
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class BareInsertApi(APIView):
        """Validate three fields and insert one row: the framework's floor for a write."""

        class InputSerializer(serializers.Serializer):
            description = serializers.CharField(max_length=5000)
            lat = serializers.FloatField(min_value=-90, max_value=90)
            lon = serializers.FloatField(min_value=-180, max_value=180)

        def post(self, request):  # type: ignore[no-untyped-def]
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {BARE_TABLE} (user_id, description, lat, lon, created_at) "  # noqa: S608
                    "VALUES (%s, %s, %s, %s, now()) RETURNING id",
                    [request.user.pk, data["description"], data["lat"], data["lon"]],
                )
                row_id = cursor.fetchone()[0]
            return Response({"id": row_id}, status=201)

    module = type(sys)("bench_intake_urls")
    module.urlpatterns = [  # type: ignore[attr-defined]
        path("bench/bare", BareInsertApi.as_view()),
        path("", include("portal.urls")),
    ]
    sys.modules["bench_intake_urls"] = module
    settings.ROOT_URLCONF = "bench_intake_urls"
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


if os.environ.get("CIVICDESK_BENCH_WSGI") == "1":
    application = _make_application()


# --- Load generation ----------------------------------------------------------------------------


def _body(rng: random.Random, real: bool) -> dict:
    # Inside the demo city (115.95–116.10 E, 38.95–39.05 N).
    lat = round(rng.uniform(38.96, 39.04), 6)
    lon = round(rng.uniform(115.96, 116.09), 6)
    text = f"Benchmark report {rng.randrange(10**9)}: the lamp by the bus stop is dark."
    if not real:
        return {"description": text, "lat": lat, "lon": lon}
    return {"category": rng.choice(CATEGORIES), "description": text, "lat": lat, "lon": lon}


def _drive(args: tuple) -> dict:
    """One load process: `threads` closed-loop clients for `seconds`; latencies in ms."""
    base_url, path, tokens, seconds, threads, seed = args
    # A forked child must never stop the parent's servers (inherited handlers and atexit).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    common._LIVE.clear()
    real = path == "/api/v1/requests"
    latencies: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        api = common.ApiClient(base_url, token=tokens[i % len(tokens)], timeout=30)
        mine: list[float] = []
        bad: dict[str, int] = {}
        while time.monotonic() < deadline:
            status, _, ms = api.call("POST", path, _body(rng, real))
            if status == 201:
                mine.append(ms)
            else:
                bad[str(status)] = bad.get(str(status), 0) + 1
        api.close()
        with lock:
            latencies.extend(mine)
            for k, v in bad.items():
                errors[k] = errors.get(k, 0) + v

    pool = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return {"latencies": latencies, "errors": errors}


def run_phase(
    base_url: str, path: str, tokens: list[str], seconds: float, clients: int, procs: int
) -> dict:
    per_proc = max(1, clients // procs)
    chunks = [tokens[i::procs] or tokens for i in range(procs)]
    jobs = [(base_url, path, chunks[i], seconds, per_proc, i + 1) for i in range(procs)]
    start = time.monotonic()
    pool = multiprocessing.get_context("fork").Pool(procs)
    try:
        parts = pool.map(_drive, jobs)
    finally:
        pool.close()
        pool.join()
    elapsed = time.monotonic() - start
    latencies = [ms for p in parts for ms in p["latencies"]]
    errors: dict[str, int] = {}
    for p in parts:
        for k, v in p["errors"].items():
            errors[k] = errors.get(k, 0) + v
    return {"latencies": latencies, "errors": errors, "seconds": elapsed}


def merge(phases: list[dict]) -> dict:
    latencies = [ms for p in phases for ms in p["latencies"]]
    seconds = sum(p["seconds"] for p in phases)
    errors: dict[str, int] = {}
    for p in phases:
        for k, v in p["errors"].items():
            errors[k] = errors.get(k, 0) + v
    return {
        **common.summary(latencies),
        "rps": round(len(latencies) / seconds, 1) if seconds else 0.0,
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/civic_a"),
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="per endpoint (2 rounds)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--residents", type=int, default=64)
    args = parser.parse_args(argv)
    common.install_signal_handlers()

    workdir = Path(tempfile.mkdtemp(prefix="civicdesk-intake-"))
    redis = common.RedisServer(workdir, aof=False).start()
    try:
        common.prepare_database(args.database_url, redis.url)
        common.psql(
            args.database_url,
            f"CREATE TABLE IF NOT EXISTS {BARE_TABLE} (id bigserial PRIMARY KEY, "
            "user_id bigint, description text, lat double precision, lon double precision, "
            "created_at timestamptz)",
        )
        clients = common.seed_clients(
            args.database_url, redis.url, residents=args.residents, clerks=0, prefix="intake"
        )
        tokens = [r["token"] for r in clients["residents"]]
        port = common.free_port()
        env = common.app_env(
            args.database_url,
            redis.url,
            CIVICDESK_BENCH_WSGI="1",
            DATABASE_POOL_MAX=str(max(4, args.threads + 1)),
        )
        argv = [
            str(common.VENV_BIN / "gunicorn"), "intake:application",
            "--pythonpath", str(Path(__file__).resolve().parent),
            "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
            "--worker-class", "gthread", "--threads", str(args.threads),
            "--keep-alive", "30", "--timeout", "60", "--log-level", "warning",
        ]
        web = common.Proc("gunicorn-intake", argv, env, workdir / "gunicorn.log").start()
        base_url = f"http://127.0.0.1:{port}"
        if not common.wait_healthy(base_url, 60):
            print(web.tail(), file=sys.stderr)
            return 1
        # Warm up both endpoints (imports, pools, caches).
        run_phase(base_url, "/bench/bare", tokens, 2, args.clients, args.procs)
        run_phase(base_url, "/api/v1/requests", tokens, 2, args.clients, args.procs)
        half = args.seconds / 2
        bare, real = [], []
        dbname = args.database_url.rsplit("/", 1)[-1]
        meter = common.CpuMeter(
            {"gunicorn": web.pids, "postgres": lambda: common.postgres_backends(dbname)}
        )
        cpu = {name: {"gunicorn": 0.0, "postgres": 0.0} for name in ("bare", "real")}
        for _ in range(2):
            for name, path, phases in (
                ("bare", "/bench/bare", bare),
                ("real", "/api/v1/requests", real),
            ):
                meter.start()
                phases.append(run_phase(base_url, path, tokens, half, args.clients, args.procs))
                meter.sample()
                for group, used in meter.report().items():
                    cpu[name][group] += used
        bare_s, real_s = merge(bare), merge(real)
        for name, summary_ in (("bare", bare_s), ("real", real_s)):
            done = summary_["n"] or 1
            summary_["cpu_ms_per_request"] = {
                group: round(used * 1000 / done, 2) for group, used in cpu[name].items()
            }
        ratio = round(real_s["rps"] / bare_s["rps"], 3) if bare_s["rps"] else None
        common.emit_result(
            "intake",
            "post_request_latency",
            median=real_s["median"],
            p99=real_s["p99"],
            unit="ms",
            baseline_median=bare_s["median"],
            baseline_p99=bare_s["p99"],
            ratio=ratio,
            ratio_meaning="requests/s of POST /api/v1/requests ÷ requests/s of the bare insert",
            throughput_per_s=real_s["rps"],
            cpu_ms_per_request=real_s["cpu_ms_per_request"],
            baseline_cpu_ms_per_request=bare_s["cpu_ms_per_request"],
            baseline_throughput_per_s=bare_s["rps"],
            errors=real_s["errors"],
            baseline_errors=bare_s["errors"],
            clients=args.clients,
            gunicorn_workers=args.workers,
            gunicorn_threads=args.threads,
            cpus=os.cpu_count(),
            load_average=os.getloadavg(),
        )
        print(json.dumps({"real": real_s, "bare": bare_s, "ratio": ratio}, indent=2))
        web.stop()
    finally:
        common.stop_all()
        redis_proc = getattr(redis, "proc", None)
        if redis_proc is not None:
            redis_proc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
