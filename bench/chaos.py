"""Chaos test: file N requests at a steady rate while processes die; then prove nothing was lost.

Everything is our own and on loopback: a throwaway redis-server (AOF on) and a throwaway
PostgreSQL cluster (initdb/pg_ctl in a temp dir) on free ports, and the production process
layout on top (gunicorn, daphne, a Celery worker, beat). The shared services on 5432/6379 are
never touched.

Faults, spread over the run (each one once, in this order):
  worker   SIGKILL the Celery worker (its whole process group), start a new one after 2 s
  redis    SIGKILL redis-server, start it again after 2 s on the same AOF
  postgres restart PostgreSQL (pg_ctl stop -m fast, then start)
  gunicorn SIGTERM one gunicorn worker (the master starts a replacement)

Clients behave like the mobile app: every submission carries an Idempotency-Key and is retried
with the same key and body on a connection error or a 5xx, until it gets a 2xx or its retry
budget runs out. Staff WebSocket clients stay connected to the queue stream; when their socket
drops they reconnect and re-sync over REST.

Afterwards, from the database:
  - every submission that got a 2xx exists (and exactly once: idempotency held);
  - every request is routed exactly once (one `routed` event, `routed_at` set);
  - the outbox is empty (no unpublished rows);
  - no duplicate events (no (request, version) twice, no second `submitted`);
  - every WebSocket client's view equals the database;
  - faults answer honestly: no 500 at all; with Redis down submissions are still filed (2xx,
    the outbox is in PostgreSQL); a 503 comes only while PostgreSQL is down or within 15 s of
    its restart, and always with Retry-After in the problem format.
Reported: the 5xx answers, and the time to recover after each fault:
  api_recovered_after_s     from the fault to the first 2xx answered after the restart
  routing_resumed_after_s   from the fault to the routed_at of the first request filed after
                            the restart (database clock)
  backlog_cleared_after_s   from the fault until every request filed between the fault and
                            5 s after the restart was routed (None: some never were)

Usage: bench/chaos.py [--n 1000] [--rate 8] [--faults worker,redis,postgres,gunicorn]
Exit status 0 when every assertion holds, 1 otherwise. `make chaos` runs the full version,
`.ci/run` the short one (`--short`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

FAULTS = ("worker", "redis", "postgres", "gunicorn")
SUBMIT_PATH = "/api/v1/requests"
RETRY_BUDGET_S = 60.0
# Coordinates inside the demo city's North district (services/demo.py).
LAT, LON = 39.02, 115.97


@dataclass
class Submission:
    index: int
    key: str
    category: str
    description: str
    attempts: list[tuple[float, int]] = field(default_factory=list)  # (time, status)
    # 5xx answers that were not an honest 503 (Retry-After + problem details): (time, what)
    dishonest: list[tuple[float, str]] = field(default_factory=list)
    reference: str | None = None
    ok: bool = False
    first_at: float = 0.0
    done_at: float = 0.0
    latency_ms: float | None = None  # of the attempt that succeeded


@dataclass
class FaultRecord:
    name: str
    injected_at: float
    wall_injected: float = 0.0  # time.time(), to compare with database timestamps
    wall_restarted: float | None = None
    restarted_at: float | None = None
    api_recovered_at: float | None = None  # first 2xx answered after the restart
    routing_resumed_after_s: float | None = None  # first request filed after it is routed
    backlog_cleared_after_s: float | None = None  # everything filed around it is routed
    unrouted_around_fault: int = 0
    lag_before_median_s: float | None = None  # routing lag of requests filed 10 s before
    lag_around_max_s: float | None = None  # worst lag of requests filed around the fault
    note: str = ""

    def as_dict(self, t0: float) -> dict:
        def rel(t: float | None) -> float | None:
            return None if t is None else round(t - self.injected_at, 2)

        return {
            "fault": self.name,
            "at_s": round(self.injected_at - t0, 2),
            "restarted_after_s": rel(self.restarted_at),
            "api_recovered_after_s": rel(self.api_recovered_at),
            "routing_resumed_after_s": self.routing_resumed_after_s,
            "backlog_cleared_after_s": self.backlog_cleared_after_s,
            "unrouted_around_fault": self.unrouted_around_fault,
            "routing_lag_before_median_s": self.lag_before_median_s,
            "routing_lag_around_max_s": self.lag_around_max_s,
            "added_routing_delay_s": (
                round(self.lag_around_max_s - self.lag_before_median_s, 2)
                if self.lag_around_max_s is not None and self.lag_before_median_s is not None
                else None
            ),
            "note": self.note,
        }


class Chaos:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="civicdesk-chaos-"))
        self.redis: common.RedisServer | None = None
        self.pg: common.PostgresCluster | None = None
        self.layout: common.Layout | None = None
        self.submissions: list[Submission] = []
        self.faults: list[FaultRecord] = []
        self.lock = threading.Lock()
        self.t0 = 0.0
        self.ws = None
        self.shared_db = False
        self.skipped: list[str] = []
        self.load_s = 0.0
        self.log_lines: list[str] = []

    def log(self, msg: str) -> None:
        line = f"[chaos {time.monotonic() - self.t0:7.2f}s] {msg}" if self.t0 else f"[chaos] {msg}"
        print(line, flush=True)
        self.log_lines.append(line)

    # --- setup / teardown --------------------------------------------------------------------

    def setup(self) -> None:
        self.log(f"workdir {self.work}")
        self.redis = common.RedisServer(self.work, aof=True).start()
        try:
            self.pg = common.PostgresCluster(self.work).init()
            self.pg.start()
            self.db_url = self.pg.url("civicdesk_chaos")
            where = f"postgres :{self.pg.port} (own cluster)"
        except Exception as exc:  # noqa: BLE001 - fall back, and say what is not tested
            if self.pg is not None:
                self.pg.destroy()
            self.pg = None
            if not self.args.fallback_database_url:
                raise
            # A fresh database on an existing server; that server is never restarted, so
            # the PostgreSQL fault is skipped (and reported as skipped).
            self.db_url = self.args.fallback_database_url.rsplit("/", 1)[0] + (
                f"/civicdesk_chaos_{os.getpid()}")
            self.shared_db = True
            self.skipped.append(f"postgres fault skipped: no own cluster ({exc})"[:300])
            self.args.faults = [f for f in self.args.faults if f != "postgres"]
            where = "a fresh database on the shared server (PostgreSQL fault skipped)"
        self.log(f"redis :{self.redis.port} (AOF), {where}; migrating")
        common.prepare_database(self.db_url, self.redis.url, fresh=self.shared_db)
        self.clients = common.seed_clients(
            self.db_url, self.redis.url, residents=self.args.residents, clerks=2, prefix="chaos"
        )
        self.layout = common.Layout(
            self.db_url,
            self.redis.url,
            self.work / "logs",
            web=1,
            web_workers=self.args.web_workers,
            asgi=1,
            workers=1,
            worker_concurrency=2,
            beat=True,
        ).start()
        self.base = self.layout.url("web-1")
        self.categories = common.submittable_categories(self.base) or ["streetlight"]
        status, _, _ = common.ApiClient(self.base).call("POST", SUBMIT_PATH, {})
        if status == 404:
            raise SystemExit(f"chaos: {SUBMIT_PATH} is not there yet (404); nothing to test")
        self.log(f"layout up: {self.layout.ports}")

    def teardown(self) -> None:
        if self.ws is not None:
            self.ws.stop()
        if self.layout:
            self.layout.stop()
        if self.redis:
            self.redis.stop()
        if self.pg:
            self.pg.destroy()
        if self.shared_db:
            with contextlib.suppress(Exception):
                admin = self.db_url.rsplit("/", 1)[0] + "/postgres"
                name = self.db_url.rsplit("/", 1)[1]
                common.psql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    # --- database ----------------------------------------------------------------------------

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.db_url.replace("postgres://", "postgresql://"),
                             connect_timeout=3) as conn:
            return conn.execute(query, params).fetchall()

    def unrouted_older_than(self, seconds: float) -> int | None:
        try:
            return self.sql(
                "SELECT count(*) FROM services_servicerequest "
                "WHERE routed_at IS NULL AND created_at < now() - make_interval(secs => %s)",
                (seconds,),
            )[0][0]
        except Exception:  # noqa: BLE001 - database down during a fault: unknown
            return None

    # --- load --------------------------------------------------------------------------------

    def submit(self, sub: Submission) -> None:
        resident = self.clients["residents"][sub.index % len(self.clients["residents"])]
        client = common.ApiClient(self.base, resident["token"], timeout=15)
        body = {
            "category": sub.category,
            "description": sub.description,
            "lat": LAT,
            "lon": LON,
        }
        sub.first_at = time.monotonic()
        delay = 0.25
        while True:
            status, data, elapsed = client.call(
                "POST", SUBMIT_PATH, body, headers={"Idempotency-Key": sub.key}
            )
            now = time.monotonic()
            sub.attempts.append((now, status))
            if status >= 500:
                retry_after = client.last_headers.get("Retry-After")
                problem = isinstance(data, dict) and data.get("status") == status
                if status != 503 or not retry_after or not problem:
                    sub.dishonest.append((now, f"{status} retry-after={retry_after} "
                                               f"body={str(data)[:120]}"))
            if 200 <= status < 300:
                sub.ok = True
                sub.latency_ms = elapsed
                sub.reference = (data or {}).get("reference") if isinstance(data, dict) else None
                sub.done_at = now
                self.note_success(now)
                break
            if status not in (0, 429) and status < 500:
                self.log(f"submission {sub.index}: {status} {str(data)[:300]}")
                sub.done_at = now
                break
            if now - sub.first_at > RETRY_BUDGET_S:
                sub.done_at = now
                break
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        client.close()

    def note_success(self, now: float) -> None:
        with self.lock:
            for fault in self.faults:
                if fault.api_recovered_at is None and now > (fault.restarted_at or 1e18):
                    fault.api_recovered_at = now

    def drive(self) -> None:
        n, rate = self.args.n, self.args.rate
        duration = n / rate
        self.log(f"driving {n} submissions at {rate}/s (~{duration:.0f} s)")
        fault_times = {
            name: self.t0 + duration * (i + 1) / (len(self.args.faults) + 1)
            for i, name in enumerate(self.args.faults)
        }
        fault_thread = threading.Thread(target=self.run_faults, args=(fault_times,), daemon=True)
        fault_thread.start()
        with ThreadPoolExecutor(max_workers=self.args.concurrency) as pool:
            for i in range(n):
                due = self.t0 + i / rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                sub = Submission(
                    index=i,
                    key=str(uuid.uuid4()),
                    category=self.categories[i % len(self.categories)],
                    description=f"chaos submission {i}: the road surface is broken here",
                )
                self.submissions.append(sub)
                pool.submit(self.submit, sub)
                if i % 50 == 0 and self.layout:
                    self.layout.sample_memory()
        fault_thread.join(timeout=300)

    # --- faults ------------------------------------------------------------------------------

    def run_faults(self, fault_times: dict[str, float]) -> None:
        for name, at in fault_times.items():
            pause = at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            try:
                getattr(self, f"fault_{name}")()
            except Exception as exc:  # noqa: BLE001 - report, keep the run going
                self.log(f"fault {name} failed to inject: {exc!r}")

    def _record(self, name: str) -> FaultRecord:
        record = FaultRecord(name=name, injected_at=time.monotonic(), wall_injected=time.time())
        with self.lock:
            self.faults.append(record)
        self.log(f"FAULT {name}")
        return record

    def _restarted(self, record: FaultRecord) -> None:
        record.restarted_at = time.monotonic()
        record.wall_restarted = time.time()

    def routing_recovery(self) -> None:
        """From the database, per fault: when routing resumed and when its backlog cleared.

        resumed: the first request filed after the restart has been routed (seconds from the
        fault to its routed_at). Backlog cleared: every request filed between the fault and
        5 s after the restart is routed (seconds from the fault to the last routed_at).
        """
        for f in self.faults:
            if f.wall_restarted is None:
                continue
            rows = self.sql(
                "SELECT extract(epoch FROM min(routed_at)) FROM services_servicerequest "
                "WHERE created_at >= to_timestamp(%s)",
                (f.wall_restarted,),
            )
            if rows and rows[0][0] is not None:
                f.routing_resumed_after_s = round(float(rows[0][0]) - f.wall_injected, 2)
            rows = self.sql(
                "SELECT count(*) FILTER (WHERE routed_at IS NULL), "
                "extract(epoch FROM max(routed_at)) FROM services_servicerequest "
                "WHERE created_at BETWEEN to_timestamp(%s) AND to_timestamp(%s)",
                (f.wall_injected - 1, f.wall_restarted + 5),
            )
            unrouted, last = rows[0]
            f.unrouted_around_fault = unrouted
            if not unrouted and last is not None:
                f.backlog_cleared_after_s = round(float(last) - f.wall_injected, 2)
            # Routing lag (routed_at - created_at): its usual level just before the fault, and
            # its worst for requests filed while the fault lasted. The difference is what the
            # fault added, separated from a backlog the machine had anyway.
            before = [r[0] for r in self.sql(
                "SELECT extract(epoch FROM routed_at - created_at) FROM services_servicerequest "
                "WHERE routed_at IS NOT NULL AND created_at BETWEEN to_timestamp(%s) "
                "AND to_timestamp(%s)", (f.wall_injected - 10, f.wall_injected))]
            around = self.sql(
                "SELECT max(extract(epoch FROM routed_at - created_at)) "
                "FROM services_servicerequest WHERE created_at BETWEEN to_timestamp(%s) "
                "AND to_timestamp(%s)", (f.wall_injected, f.wall_restarted + 5))[0][0]
            if before:
                f.lag_before_median_s = round(float(common.percentile(
                    [float(x) for x in before], 50) or 0), 2)
            if around is not None:
                f.lag_around_max_s = round(float(around), 2)

    def fault_worker(self) -> None:
        record = self._record("worker")
        proc = self.layout.procs["worker-1"]
        proc.kill_group(signal.SIGKILL)
        if proc.popen:
            proc.popen.wait(timeout=5)
        time.sleep(2)
        self.layout.start_one("worker-1")
        self._restarted(record)

    def fault_redis(self) -> None:
        record = self._record("redis")
        self.redis.kill()
        time.sleep(2)
        self.redis.start()
        self._restarted(record)

    def fault_postgres(self) -> None:
        record = self._record("postgres")
        self.pg.restart()
        self._restarted(record)

    def fault_gunicorn(self) -> None:
        record = self._record("gunicorn")
        workers = common.worker_pids(self.layout.procs["web-1"])
        if not workers:
            record.note = "no gunicorn worker found"
            return
        common.send_signal(workers[:1], signal.SIGTERM)
        record.note = f"SIGTERM to gunicorn worker pid {workers[0]}"
        self._restarted(record)

    # --- after the run -------------------------------------------------------------------------

    def drain(self, timeout: float) -> float:
        """Wait until everything is routed and the outbox is empty; returns the time taken."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                unrouted = self.sql(
                    "SELECT count(*) FROM services_servicerequest WHERE routed_at IS NULL"
                )[0][0]
                pending = self.sql(
                    "SELECT count(*) FROM services_outboxmessage WHERE published_at IS NULL"
                )[0][0]
            except Exception:  # noqa: BLE001
                unrouted = pending = -1
            if unrouted == 0 and pending == 0:
                return time.monotonic() - start
            time.sleep(0.5)
        return time.monotonic() - start

    def check(self) -> dict:
        """Every assertion, from the database. Returns the report (with `violations`)."""
        violations: list[str] = []
        ok_subs = [s for s in self.submissions if s.ok]
        failed_subs = [s for s in self.submissions if not s.ok]
        rows = self.sql(
            "SELECT id, reference, description, routed_at IS NOT NULL, department_id "
            "FROM services_servicerequest WHERE description LIKE 'chaos submission %%'"
        )
        by_description: dict[str, list[tuple]] = {}
        for row in rows:
            by_description.setdefault(row[2], []).append(row)
        for sub in ok_subs:
            found = by_description.get(sub.description, [])
            if not found:
                violations.append(f"LOST: submission {sub.index} got a 2xx but is not stored")
            elif len(found) > 1:
                violations.append(f"DUPLICATE: submission {sub.index} stored {len(found)} times")
            elif sub.reference and found[0][1] != sub.reference:
                violations.append(f"submission {sub.index}: reference differs from the 2xx")
        violations += [
            f"DUPLICATE: submission {sub.index} stored more than once"
            for sub in failed_subs
            if len(by_description.get(sub.description, [])) > 1
        ]
        violations += [
            f"GAVE UP: submission {sub.index} got no 2xx in {RETRY_BUDGET_S:.0f} s "
            f"(answers: {[st for _, st in sub.attempts]})"
            for sub in failed_subs
        ]

        routed_counts = dict(
            self.sql(
                "SELECT r.id, count(e.id) FROM services_servicerequest r "
                "LEFT JOIN services_event e ON e.request_id = r.id AND e.type = 'routed' "
                "GROUP BY r.id"
            )
        )
        not_routed = [rid for rid, c in routed_counts.items() if c == 0]
        routed_twice = [rid for rid, c in routed_counts.items() if c > 1]
        unrouted_flag = self.sql(
            "SELECT count(*) FROM services_servicerequest WHERE routed_at IS NULL"
        )[0][0]
        if not_routed:
            violations.append(f"NOT ROUTED: {len(not_routed)} requests have no routed event")
        if unrouted_flag:
            violations.append(f"NOT ROUTED: {unrouted_flag} requests have no routed_at")
        if routed_twice:
            violations.append(f"ROUTED TWICE: {len(routed_twice)} requests")
        outbox_pending = self.sql(
            "SELECT count(*) FROM services_outboxmessage WHERE published_at IS NULL"
        )[0][0]
        if outbox_pending:
            violations.append(f"OUTBOX NOT EMPTY: {outbox_pending} unpublished rows")
        dup_versions = self.sql(
            "SELECT count(*) FROM (SELECT request_id, version FROM services_event "
            "GROUP BY request_id, version HAVING count(*) > 1) d"
        )[0][0]
        dup_submitted = self.sql(
            "SELECT count(*) FROM (SELECT request_id FROM services_event WHERE type = 'submitted' "
            "GROUP BY request_id HAVING count(*) > 1) d"
        )[0][0]
        if dup_versions:
            violations.append(f"DUPLICATE EVENTS: {dup_versions} (request, version) pairs twice")
        if dup_submitted:
            violations.append(f"DUPLICATE EVENTS: {dup_submitted} requests submitted twice")

        five_xx = [s for s in self.submissions if any(st >= 500 for _, st in s.attempts)]
        violations += self.honest_answer_violations()
        conn_errors = [s for s in self.submissions if any(st == 0 for _, st in s.attempts)]
        latencies = [s.latency_ms for s in ok_subs if s.latency_ms is not None]
        lags = [float(r[0]) for r in self.sql(
            "SELECT extract(epoch FROM routed_at - created_at) FROM services_servicerequest "
            "WHERE routed_at IS NOT NULL")]
        report = {
            "n": len(self.submissions),
            "rate_per_s": self.args.rate,
            "accepted_2xx": len(ok_subs),
            "gave_up": len(failed_subs),
            "stored_requests": len(routed_counts),
            "retried_submissions": sum(1 for s in self.submissions if len(s.attempts) > 1),
            "submissions_with_5xx": len(five_xx),
            "five_xx_then_2xx": sum(1 for s in five_xx if s.ok),
            "five_xx_statuses": sorted({st for s in five_xx for _, st in s.attempts if st >= 500}),
            "submissions_with_connection_error": len(conn_errors),
            "submit_latency_ms": common.summary(latencies),
            "routing_lag_s": common.summary(lags),
            "routed_once": len(routed_counts) - len(not_routed) - len(routed_twice),
            "routed_twice": len(routed_twice),
            "not_routed": len(not_routed),
            "outbox_pending": outbox_pending,
            "duplicate_event_versions": dup_versions,
            "faults": [f.as_dict(self.t0) for f in self.faults],
            "skipped": self.skipped,
        }
        if self.ws is not None:
            ws_report = self.ws.verify(self)
            report["websocket"] = ws_report
            violations += ws_report.get("violations", [])
        report["violations"] = violations
        report["passed"] = not violations
        return report

    def honest_answer_violations(self) -> list[str]:
        """Faults answer honestly: never a 500; a 503 (with Retry-After, problem details) only
        while PostgreSQL is down or just back (its pool drops the connections the restart
        cut, one failed statement each); with Redis down a submission is still filed (2xx)."""
        out: list[str] = []
        dishonest = [(s.index, t, what) for s in self.submissions for t, what in s.dishonest]
        if dishonest:
            out.append(f"NOT HONEST: {len(dishonest)} 5xx answers were not 503 + Retry-After "
                       f"+ problem details, e.g. {dishonest[0][2]}")
        grace = {"postgres": 15.0}
        windows = {
            f.name: (f.injected_at, (f.restarted_at or f.injected_at) + grace.get(f.name, 1.0))
            for f in self.faults
        }
        pg = windows.get("postgres")
        stray = [
            (s.index, status) for s in self.submissions for t, status in s.attempts
            if status == 503 and not (pg and pg[0] <= t <= pg[1])
        ]
        if stray:
            out.append(f"503 WITHOUT A DATABASE OUTAGE: {len(stray)} answers, e.g. submission "
                       f"{stray[0][0]}")
        redis = windows.get("redis")
        if redis:
            refused = [
                (s.index, status) for s in self.submissions for t, status in s.attempts
                if redis[0] <= t <= redis[1] and status >= 500
            ]
            if refused:
                out.append(f"REDIS DOWN REFUSED A SUBMISSION: {len(refused)} answers "
                           f"{sorted({st for _, st in refused})} while Redis was down")
        return out

    def run(self) -> int:
        common.install_signal_handlers()
        # Hard stop: setup, the load at a third of the asked rate (a busy machine), the drain.
        deadline_s = 120 + 3 * self.args.n / self.args.rate + self.args.drain_timeout + 60
        timer = threading.Timer(deadline_s, self._overtime)
        timer.daemon = True
        timer.start()
        try:
            self.setup()
            self.ws = start_ws_clients(self) if self.args.sockets else None
            self.t0 = time.monotonic()
            self.drive()
            self.load_s = time.monotonic() - self.t0
            self.log("load done; waiting for routing and the outbox to drain")
            drained = self.drain(timeout=self.args.drain_timeout)
            self.log(f"drained in {drained:.1f} s")
            if self.ws is not None:
                self.ws.resync(self)
            self.routing_recovery()
            report = self.check()
            report["drain_s"] = round(drained, 2)
            report["load_s"] = round(self.load_s, 2)
            report["achieved_rate_per_s"] = round(len(self.submissions) / self.load_s, 2)
            report["memory"] = self.layout.memory_report() if self.layout else {}
        finally:
            timer.cancel()
            self.teardown()
        self.print_report(report)
        return 0 if report["passed"] else 1

    def _overtime(self) -> None:
        print("[chaos] overtime: stopping everything", flush=True)
        common.stop_all()
        if self.pg:
            self.pg.destroy()
        os._exit(2)

    def print_report(self, report: dict) -> None:
        out = Path(self.args.output) if self.args.output else None
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=2, default=str))
        print(json.dumps({k: v for k, v in report.items() if k != "memory"}, indent=2,
                         default=str))
        for fault in report["faults"]:
            common.emit_result(
                "chaos", f"recover_{fault['fault']}",
                median=fault["backlog_cleared_after_s"], p99=None, unit="s",
                api_recovered_after_s=fault["api_recovered_after_s"],
                routing_resumed_after_s=fault["routing_resumed_after_s"],
                added_routing_delay_s=fault["added_routing_delay_s"],
            )
        lat = report["submit_latency_ms"]
        common.emit_result(
            "chaos", "submit_latency_under_faults", median=lat["median"], p99=lat["p99"],
            unit="ms", n=report["n"], accepted=report["accepted_2xx"],
            violations=len(report["violations"]),
        )
        verdict = "PASSED" if report["passed"] else "FAILED"
        print(f"chaos: {verdict}: {report['accepted_2xx']}/{report['n']} accepted, "
              f"{report['routed_once']} routed once, outbox pending {report['outbox_pending']}, "
              f"{len(report['violations'])} violations", flush=True)
        for v in report["violations"][:50]:
            print("  - " + v, flush=True)


# --- WebSocket clients ------------------------------------------------------------------------


class WsClients:
    """Staff sockets on the queue stream, in a background asyncio loop.

    Each client keeps {reference: (status, version)} from the messages it receives. When the
    socket drops it reconnects (with backoff) and counts the reconnect; `resync` then fetches
    the queue state over REST for every reference whose last message it may have missed.
    """

    def __init__(self, chaos: Chaos, count: int) -> None:
        self.url = chaos.layout.ws_url("asgi-1") + WS_PATH if chaos.layout else ""
        self.tokens = [c["token"] for c in chaos.clients["clerks"]][:count]
        self.state: list[dict[str, tuple[str, int]]] = [{} for _ in self.tokens]
        self.reconnects = [0] * len(self.tokens)
        self.messages = [0] * len(self.tokens)
        self.stopping = False
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(
            asyncio.gather(*(self._client(i) for i in range(len(self.tokens))))
        )

    async def _client(self, i: int) -> None:
        import websockets

        delay = 0.2
        connected_once = False
        while not self.stopping:
            try:
                async with websockets.connect(
                    self.url,
                    subprotocols=ws_subprotocols(self.tokens[i]),
                    origin="http://127.0.0.1",
                    open_timeout=5,
                ) as sock:
                    if connected_once:
                        self.reconnects[i] += 1
                    connected_once = True
                    delay = 0.2
                    await ws_after_connect(sock, self.tokens[i])
                    while not self.stopping:
                        try:
                            raw = await asyncio.wait_for(sock.recv(), timeout=0.5)
                        except TimeoutError:
                            continue
                        self._apply(i, raw)
            except Exception:  # noqa: BLE001 - dropped: reconnect
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _apply(self, i: int, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            return
        ref, version, status = msg.get("reference"), msg.get("version"), msg.get("status")
        item = msg.get("item") or {}
        version = item.get("version", version)
        status = item.get("status", status)
        if not ref or not isinstance(version, int):
            return
        self.messages[i] += 1
        seen = self.state[i].get(ref)
        if seen is None or version > seen[1]:
            self.state[i][ref] = (status, version)

    def resync(self, chaos: Chaos) -> None:
        """Re-sync over REST: what the app does after a reconnect (docs/live-updates.md)."""
        for i, token in enumerate(self.tokens):
            client = common.ApiClient(chaos.base, token)
            for ref, status, version in rest_queue_state(client):
                seen = self.state[i].get(ref)
                if seen is None or version > seen[1]:
                    self.state[i][ref] = (status, version)
            client.close()

    def verify(self, chaos: Chaos) -> dict:
        # What a clerk of every department can see in a queue: routed, open requests.
        db = {ref: (status, version) for ref, status, version in chaos.sql(
            "SELECT reference, status, version FROM services_servicerequest "
            "WHERE department_id IS NOT NULL AND status IN "
            "('routed', 'in_progress', 'reopened', 'returned')")}
        violations = []
        for i, state in enumerate(self.state):
            wrong = [ref for ref, sv in db.items() if state.get(ref) != sv]
            if wrong:
                violations.append(
                    f"WEBSOCKET: client {i} differs from the database on {len(wrong)} requests"
                )
        return {
            "clients": len(self.tokens),
            "reconnects": self.reconnects,
            "messages": self.messages,
            "violations": violations,
        }

    def stop(self) -> None:
        self.stopping = True
        self.thread.join(timeout=5)


# The live-updates API (services/consumers.py, docs/live-updates.md): a staff client connects to
# its queue stream with the app session token as a subprotocol and re-syncs over REST.
WS_PATH = "/ws/queue/"


def ws_subprotocols(token: str) -> list[str]:
    return ["civicdesk.v1", f"civicdesk.token.{token}"]


async def ws_after_connect(sock, token: str) -> None:
    return None


def rest_queue_state(client: common.ApiClient):
    """(reference, status, version) for every request in the caller's queues, page by page."""
    from urllib.parse import quote

    cursor = None
    for _ in range(200):  # bounded: 200 pages of 100
        path = "/api/v1/queue?limit=100" + (f"&cursor={quote(cursor)}" if cursor else "")
        status, data, _ = client.call("GET", path)
        if status != 200 or not isinstance(data, dict):
            return
        for row in data.get("results", []):
            yield row["reference"], row["status"], row["version"]
        cursor = data.get("next_cursor")
        if not cursor:
            return


def start_ws_clients(chaos: Chaos) -> WsClients | None:
    return WsClients(chaos, count=2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="CivicDesk chaos test (loopback, bounded)")
    parser.add_argument("--n", type=int, default=1000, help="submissions (default 1000)")
    parser.add_argument("--rate", type=float, default=8.0, help="submissions per second")
    parser.add_argument("--faults", default=",".join(FAULTS),
                        help="comma-separated, from " + ",".join(FAULTS))
    parser.add_argument("--short", action="store_true",
                        help="CI version: 150 submissions, faults worker+redis, < 3 minutes")
    parser.add_argument("--residents", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--no-sockets", dest="sockets", action="store_false")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    parser.add_argument(
        "--fallback-database-url", default=os.environ.get("DATABASE_URL", ""),
        help="if no PostgreSQL cluster of our own can be started (initdb/pg_ctl), use a fresh "
             "database on this server instead and skip the PostgreSQL fault")
    parser.add_argument("--output", default=str(common.ROOT / "bench" / "results" /
                                                "chaos-latest.json"))
    args = parser.parse_args(argv)
    if args.short:
        args.n = min(args.n, 150)
        args.rate = 10.0
        args.faults = "worker,redis"
        args.drain_timeout = 75.0
        if args.output.endswith("chaos-latest.json"):
            args.output = args.output.replace("chaos-latest.json", "chaos-short-latest.json")
    args.faults = [f for f in args.faults.split(",") if f]
    unknown = set(args.faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults: {sorted(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    return Chaos(parse_args(argv)).run()


if __name__ == "__main__":
    sys.exit(main())
