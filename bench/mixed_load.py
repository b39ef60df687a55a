"""Mixed load: residents filing and polling, clerks working their queues, sockets open.

The production layout (gunicorn + daphne + Celery worker + beat) on PostgreSQL and a
throwaway Redis, all on loopback, for `--duration` seconds (default 300, bounded):

- resident threads: file a request (POST /api/v1/requests, with an Idempotency-Key) or poll
  (GET /api/v1/requests, GET /api/v1/requests/{ref}), with a think time;
- clerk threads: list the queue (GET /api/v1/queue), the counts (GET /api/v1/queue/counts),
  open an item (GET /api/v1/staff/requests/{ref}) and move it along (start, then resolve),
  each clerk on its own share of the items so clerks never race each other;
- WebSocket clients: residents on /ws/resident/ and clerks on /ws/queue/, counting messages.

Reports throughput, p50/p99 per operation, errors (must be 0: any non-2xx or connection
error counts) and the peak RSS of every process (VmHWM from /proc, sampled every 2 s).
Baseline in the same run: GET /healthz (the framework floor: one SELECT 1, one cache set/get,
one Redis PING). Exit status 1 if any operation had an error.

Usage: bench/mixed_load.py [--duration 300] [--residents 40] [--clerks 4] [--sockets 100]
Inside `make bench` DATABASE_URL/REDIS_URL are given; alone it uses civic_h_mixed and its own
redis-server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

LAT, LON = 39.02, 115.97


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.error_samples: list[str] = []

    def record(self, op: str, status: int, ms: float, ok: tuple[int, ...] = (200, 201)) -> bool:
        with self.lock:
            if status in ok:
                self.latency[op].append(ms)
                return True
            self.errors[op] += 1
            if len(self.error_samples) < 20:
                self.error_samples.append(f"{op}: {status}")
            return False


def resident_loop(base: str, token: str, stop: float, stats: Stats, seed: int,
                  categories: list[str]) -> None:
    rnd = random.Random(seed)
    client = common.ApiClient(base, token)
    mine: list[str] = []
    while time.monotonic() < stop:
        roll = rnd.random()
        if roll < 0.3 or not mine:
            body = {
                "category": rnd.choice(categories),
                "description": f"mixed load: problem {uuid.uuid4().hex[:8]} near the school",
                "lat": LAT + rnd.uniform(-0.01, 0.01),
                "lon": LON + rnd.uniform(-0.01, 0.01),
            }
            status, data, ms = client.call(
                "POST", "/api/v1/requests", body, headers={"Idempotency-Key": str(uuid.uuid4())}
            )
            if stats.record("resident_file", status, ms) and isinstance(data, dict):
                mine.append(data["reference"])
        elif roll < 0.65:
            status, _, ms = client.call("GET", "/api/v1/requests?limit=20")
            stats.record("resident_list_mine", status, ms)
        else:
            status, _, ms = client.call("GET", f"/api/v1/requests/{rnd.choice(mine)}")
            stats.record("resident_view", status, ms)
        time.sleep(rnd.uniform(1.0, 3.0))
    client.close()


def clerk_loop(base: str, token: str, stop: float, stats: Stats, index: int, clerks: int,
               seed: int) -> None:
    rnd = random.Random(seed)
    client = common.ApiClient(base, token)

    def mine(ref: str) -> bool:
        return zlib.crc32(ref.encode()) % clerks == index

    while time.monotonic() < stop:
        status, data, ms = client.call("GET", "/api/v1/queue?limit=50")
        if not stats.record("clerk_queue", status, ms) or not isinstance(data, dict):
            time.sleep(1)
            continue
        if rnd.random() < 0.3:
            status, _, ms = client.call("GET", "/api/v1/queue/counts")
            stats.record("clerk_counts", status, ms)
        rows = [r for r in data.get("results", []) if mine(r["reference"])]
        routed = [r for r in rows if r["status"] == "routed"]
        working = [r for r in rows if r["status"] == "in_progress"]
        target, move = None, None
        if working and rnd.random() < 0.5:
            target = rnd.choice(working)
            move = {"to_status": "resolved", "text": "Fixed this morning.", "outcome": "fixed"}
        elif routed:
            target = rnd.choice(routed)
            move = {"to_status": "in_progress"}
        if target is not None and move is not None:
            ref = target["reference"]
            status, detail, ms = client.call("GET", f"/api/v1/staff/requests/{ref}")
            stats.record("clerk_open_item", status, ms)
            version = detail.get("version") if isinstance(detail, dict) else None
            if version is not None:
                move["expected_version"] = version
            status, _, ms = client.call(
                "POST", f"/api/v1/staff/requests/{ref}/transition", move
            )
            stats.record("clerk_transition", status, ms)
        time.sleep(rnd.uniform(1.0, 3.0))
    client.close()


class Sockets:
    """Open WebSockets in a background loop; counts connects, drops and messages."""

    def __init__(self, url_base: str, specs: list[tuple[str, str]], stop: float) -> None:
        self.url_base, self.specs, self.stop = url_base, specs, stop
        self.connected = 0
        self.failed = 0
        self.dropped = 0
        self.messages = 0
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.thread.start()

    async def _main(self) -> None:
        # Open sockets a few at a time, as users arrive: each handshake authenticates against
        # the database, and a stampede of hundreds at once measures the stampede instead.
        self.gate = asyncio.Semaphore(8)
        await asyncio.gather(*(self._one(path, token) for path, token in self.specs))

    async def _one(self, path: str, token: str) -> None:
        import websockets

        for attempt in range(3):
            try:
                async with self.gate:
                    sock = await websockets.connect(
                        self.url_base + path,
                        subprotocols=["civicdesk.v1", f"civicdesk.token.{token}"],
                        open_timeout=30,
                    )
            except Exception:  # noqa: BLE001 - retried, then counted
                await asyncio.sleep(1 + attempt)
                continue
            self.connected += 1
            try:
                while time.monotonic() < self.stop:
                    try:
                        await asyncio.wait_for(sock.recv(), timeout=1.0)
                        self.messages += 1
                    except TimeoutError:
                        continue
            except Exception:  # noqa: BLE001 - counted
                if time.monotonic() < self.stop:
                    self.dropped += 1
            finally:
                await sock.close()
            return
        self.failed += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CivicDesk mixed-load scenario")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds (default 300)")
    parser.add_argument("--residents", type=int, default=12, help="resident threads")
    parser.add_argument("--clerks", type=int, default=3, help="clerk threads")
    parser.add_argument("--sockets", type=int, default=100, help="open WebSockets")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn workers per web")
    parser.add_argument("--web", type=int, default=1, help="gunicorn processes (nodes)")
    parser.add_argument("--asgi", type=int, default=1, help="daphne processes")
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes")
    parser.add_argument("--output", default=str(common.ROOT / "bench" / "results" /
                                                "mixed-latest.json"))
    args = parser.parse_args(argv)
    args.duration = max(10.0, min(args.duration, 1800.0))
    common.install_signal_handlers()
    began = time.monotonic()
    # Inside `make bench` the suite gives a time limit: the run shrinks to fit it.
    limit = float(os.environ.get("BENCH_TIME_LIMIT_S", "0") or 0)

    work = Path(tempfile.mkdtemp(prefix="civicdesk-mixed-"))
    redis = None
    if os.environ.get("BENCH_SUITE") and os.environ.get("DATABASE_URL"):
        db_url, redis_url = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
    else:
        redis = common.RedisServer(work).start()
        db_url = os.environ.get("MIXED_DATABASE_URL",
                                "postgres://postgres@127.0.0.1:5432/civic_h_mixed")
        redis_url = redis.url
        common.prepare_database(db_url, redis_url, fresh=True)
    clients = common.seed_clients(db_url, redis_url, residents=args.residents,
                                  clerks=args.clerks, prefix="mixed")
    layout = common.Layout(db_url, redis_url, work / "logs", web=args.web, asgi=args.asgi,
                           workers=args.workers, web_workers=args.web_workers,
                           worker_concurrency=2).start()
    dbname = db_url.rsplit("/", 1)[1]

    def group(prefix: str):
        return lambda: [pid for name, proc in layout.procs.items() if name.startswith(prefix)
                        for pid in proc.pids()]

    groups = {"web": group("web-"), "asgi": group("asgi-"), "worker": group("worker-"),
              "beat": group("beat"), "postgres": lambda: common.postgres_backends(dbname)}
    if redis is not None:
        groups["redis"] = lambda: redis.proc.pids() if redis and redis.proc else []
    meter = common.CpuMeter(groups)
    stats = Stats()
    try:
        bases = [layout.url(f"web-{i}") for i in range(1, args.web + 1)]
        base = bases[0]
        categories = common.submittable_categories(base) or ["streetlight"]
        # Baseline: the health check, before the load and in the same run.
        hc = common.ApiClient(base)
        baseline = []
        for _ in range(200):
            status, _, ms = hc.call("GET", "/healthz")
            if status == 200:
                baseline.append(ms)
        if limit:
            fits = limit - (time.monotonic() - began) - 25
            if fits < args.duration:
                print(f"mixed_load: {args.duration:.0f} s does not fit the suite's limit; "
                      f"running {max(fits, 10):.0f} s", flush=True)
                args.duration = max(fits, 10.0)
        print(f"mixed_load: layout up, running {args.duration:.0f} s", flush=True)
        start = time.monotonic()
        stop = start + args.duration
        specs = []
        for i in range(args.sockets):
            if i % 5 == 0:
                specs.append(("/ws/queue/", clients["clerks"][i % args.clerks]["token"]))
            else:
                specs.append(("/ws/resident/",
                              clients["residents"][i % args.residents]["token"]))
        sockets = [
            Sockets(layout.ws_url(f"asgi-{k + 1}"), specs[k::args.asgi], stop)
            for k in range(args.asgi)
        ]
        threads = [
            threading.Thread(target=resident_loop, args=(
                bases[i % len(bases)], r["token"], stop, stats, i, categories), daemon=True)
            for i, r in enumerate(clients["residents"])
        ] + [
            threading.Thread(target=clerk_loop, args=(
                bases[i % len(bases)], c["token"], stop, stats, i, args.clerks, 1000 + i),
                daemon=True)
            for i, c in enumerate(clients["clerks"])
        ]
        meter.start()
        for t in threads:
            t.start()
        while time.monotonic() < stop:
            layout.sample_memory()
            meter.sample()
            time.sleep(1)
        for t in threads:
            t.join(timeout=30)
        meter.sample()
        elapsed = time.monotonic() - start
        for sock in sockets:
            sock.thread.join(timeout=10)
        memory = layout.memory_report()
        cpu = meter.report()
    finally:
        layout.stop()
        if redis:
            redis.stop()
        shutil.rmtree(work, ignore_errors=True)

    base_s = common.summary(baseline)
    ops = {}
    total = 0
    for op in sorted(set(stats.latency) | set(stats.errors)):
        s = common.summary(stats.latency[op])
        total += s["n"]
        ops[op] = {**s, "per_s": round(s["n"] / elapsed, 2), "errors": stats.errors[op]}
        common.emit_result(
            "mixed_load", op, median=s["median"], p99=s["p99"], unit="ms",
            baseline_median=base_s["median"], baseline_p99=base_s["p99"],
            per_s=ops[op]["per_s"], errors=stats.errors[op], n=s["n"],
        )
    errors = sum(stats.errors.values())
    opened = sum(x.connected for x in sockets)
    failed = sum(x.failed for x in sockets)
    dropped = sum(x.dropped for x in sockets)
    messages = sum(x.messages for x in sockets)
    cpu_total = sum(cpu.values())
    cpu_ms_per_op = {k: round(v * 1000 / total, 2) for k, v in cpu.items()} if total else {}
    # What one node of `cores` CPUs sustains at 70 % CPU with this mix, every tier on it.
    cores = os.cpu_count() or 1
    sustainable = round(0.7 * cores / (cpu_total / total), 1) if total and cpu_total else None
    common.emit_result(
        "mixed_load", "throughput", median=round(total / elapsed, 2), p99=None, unit="req/s",
        errors=errors, duration_s=round(elapsed, 1), sockets_open=opened,
        sockets_failed=failed, sockets_dropped=dropped, socket_messages=messages,
    )
    common.emit_result(
        "mixed_load", "cpu_ms_per_operation", median=round(cpu_total * 1000 / total, 2)
        if total else None, p99=None, unit="ms CPU", sustainable_ops_per_s_at_70pct=sustainable,
        **{f"cpu_ms_{k}": v for k, v in cpu_ms_per_op.items()},
    )
    report = {
        "duration_s": round(elapsed, 1),
        "threads": {"residents": args.residents, "clerks": args.clerks},
        "web_workers": args.web_workers,
        "throughput_per_s": round(total / elapsed, 2),
        "operations": ops,
        "baseline_healthz_ms": base_s,
        "errors": errors,
        "error_samples": stats.error_samples,
        "layout": {"web": args.web, "asgi": args.asgi, "workers": args.workers},
        "sockets": {"requested": args.sockets, "connected": opened, "failed": failed,
                    "dropped": dropped, "messages": messages},
        "cpu_seconds": cpu,
        "cpu_ms_per_operation": cpu_ms_per_op,
        "cpu_ms_per_operation_total": round(cpu_total * 1000 / total, 2) if total else None,
        "sustainable_ops_per_s_at_70pct_cpu": sustainable,
        "operation_mix": {op: round(v["n"] / total, 3) for op, v in ops.items()} if total else {},
        "peak_rss": memory,
        "load_average": os.getloadavg(),
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0 if errors == 0 and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
