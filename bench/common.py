"""Shared helpers for the benchmarks, the chaos test and the local cluster.

Everything here runs on loopback only and cleans up after itself:

- ports: `free_port()`;
- throwaway services: `RedisServer` (its own redis-server, AOF on, on a free port) and
  `PostgresCluster` (its own initdb/pg_ctl cluster in a temp dir, run as the `postgres` user
  when we are root). The shared services on 5432/6379 are never stopped or flushed;
- the production process layout: `Layout` starts gunicorn (WSGI), daphne (ASGI /ws/), a Celery
  worker and beat against a given DATABASE_URL/REDIS_URL, waits for /healthz, stops cleanly;
- database preparation: `prepare_database()` (create, migrate, seed the demo city) and
  `seed_clients()` (residents and clerks with session tokens, no password hashing);
- figures: `percentile()`, `summary()`, `peak_rss_kb()`, `emit_result()`.

Convention for results: every benchmark prints one line per figure:
``BENCH_RESULT {"name", "metric", "median", "p99", "baseline_median", "baseline_p99",
"ratio", "unit", ...}`` — `bench/run_all.py` collects them.

Run `python bench/common.py seed --database-url ... --residents 10 --clerks 2` to create
bench users (prints JSON with their tokens).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
RESULT_PREFIX = "BENCH_RESULT "
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/civic_h"
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"

_LIVE: list[Proc] = []


# --- Figures ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation; None for no values."""
    if not values:
        return None
    data = sorted(values)
    if len(data) == 1:
        return float(data[0])
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return float(data[lo] + (data[hi] - data[lo]) * (pos - lo))


def summary(values: Sequence[float]) -> dict:
    """n, median, p99, mean, max of a sample (rounded to 3 decimals)."""
    if not values:
        return {"n": 0, "median": None, "p99": None, "mean": None, "max": None}
    return {
        "n": len(values),
        "median": round(percentile(values, 50) or 0.0, 3),
        "p99": round(percentile(values, 99) or 0.0, 3),
        "mean": round(sum(values) / len(values), 3),
        "max": round(max(values), 3),
    }


def emit_result(
    name: str,
    metric: str,
    *,
    median: float | None,
    p99: float | None,
    unit: str,
    baseline_median: float | None = None,
    baseline_p99: float | None = None,
    ratio: float | None = None,
    **extra: object,
) -> dict:
    """Print one BENCH_RESULT line (the suite's convention) and return the dict."""
    if ratio is None and baseline_p99 and p99:
        ratio = round(baseline_p99 / p99, 3)
    record = {
        "name": name,
        "metric": metric,
        "median": median,
        "p99": p99,
        "baseline_median": baseline_median,
        "baseline_p99": baseline_p99,
        "ratio": ratio,
        "unit": unit,
        **extra,
    }
    print(RESULT_PREFIX + json.dumps(record, default=str), flush=True)
    return record


def peak_rss_kb(pid: int) -> int | None:
    """Peak resident set size (VmHWM) of a live process, in KiB; None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def children_of(pid: int) -> list[int]:
    """Direct children of a process (gunicorn workers, celery pool processes)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a live process has used so far (from /proc/<pid>/stat)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def postgres_backends(dbname: str) -> list[int]:
    """Pids of PostgreSQL backends serving `dbname` (their process title names it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {dbname} " in title:
            pids.append(int(entry.name))
    return pids


class CpuMeter:
    """CPU seconds used per group of processes between `start()` and the last `sample()`.

    On a machine shared with other work, CPU time per operation is a far steadier figure
    than latency or throughput: it is what an operation costs whatever else is running.
    Processes that exit between samples lose their last interval (sample often).
    """

    def __init__(self, groups: dict) -> None:
        self.groups = groups  # name -> callable returning pids
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}

    def sample(self) -> None:
        for name, pids_of in self.groups.items():
            for pid in pids_of():
                used = cpu_seconds(pid)
                if used is None:
                    continue
                self.first.setdefault((name, pid), used)
                self.last[(name, pid)] = used

    def start(self) -> None:
        self.first.clear()
        self.last.clear()
        self.sample()

    def report(self) -> dict[str, float]:
        out: dict[str, float] = dict.fromkeys(self.groups, 0.0)
        for key, used in self.last.items():
            out[key[0]] += used - self.first.get(key, used)
        return {k: round(v, 3) for k, v in out.items()}


# --- Ports and HTTP ----------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, urllib.error.URLError):
        return 0, b""


def wait_until(check, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return False


def wait_healthy(base_url: str, timeout: float = 30.0) -> bool:
    """Wait until GET /healthz answers 200 (database, cache and broker all ok)."""
    return wait_until(lambda: http_get(base_url + "/healthz")[0] == 200, timeout, 0.2)


def wait_port(port: int, timeout: float = 20.0) -> bool:
    def check() -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            return s.connect_ex(("127.0.0.1", port)) == 0

    return wait_until(check, timeout, 0.1)


class ApiClient:
    """A small keep-alive HTTP/JSON client (stdlib only) for one thread.

    `call()` returns (status, parsed JSON or None, elapsed ms); status 0 means the connection
    failed (refused, reset, timed out) and the caller decides whether to retry.
    """

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.token = token
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self.last_headers: dict[str, str] = {}  # of the last answer (e.g. Retry-After)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def call(
        self, method: str, path: str, body: object = None, headers: dict | None = None
    ) -> tuple[int, object, float]:
        hdrs = {"Accept": "application/json", "Host": f"{self.host}:{self.port}"}
        if self.token:
            hdrs["X-Session-Token"] = self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if headers:
            hdrs.update(headers)
        start = time.perf_counter()
        try:
            conn = self._connection()
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            status = resp.status
            self.last_headers = dict(resp.getheaders())
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
        except (OSError, http.client.HTTPException):
            self.close()
            self.last_headers = {}
            return 0, None, (time.perf_counter() - start) * 1000
        elapsed = (time.perf_counter() - start) * 1000
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return status, parsed, elapsed


def submittable_categories(base_url: str) -> list[str]:
    """Codes of public request categories that need no extra attribute (GET /api/v1/categories)."""
    status, data, _ = ApiClient(base_url).call("GET", "/api/v1/categories")
    if status != 200:
        return []
    rows = data.get("results", []) if isinstance(data, dict) else (data or [])
    return [
        row["code"]
        for row in rows
        if row.get("kind", "request") == "request"
        and not any(a.get("required") for a in row.get("attributes") or [])
    ]


# --- Processes ---------------------------------------------------------------------------------


@dataclass
class Proc:
    """A child process in its own process group, with its output in a log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    cwd: Path = ROOT
    popen: subprocess.Popen | None = None
    peak_kb: dict[int, int] = field(default_factory=dict)

    def start(self) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.popen = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        if self not in _LIVE:
            _LIVE.append(self)
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def pids(self) -> list[int]:
        """The main process and its children (workers)."""
        if not self.alive() or self.pid is None:
            return []
        return [self.pid, *children_of(self.pid)]

    def sample_memory(self) -> None:
        """Remember the peak RSS seen for each pid of this process tree."""
        for pid in self.pids():
            peak = peak_rss_kb(pid)
            if peak is not None:
                self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), peak)

    def send(self, sig: int) -> None:
        if self.alive() and self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (the main process and everything it forked)."""
        if self.popen is None or self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after `timeout` seconds."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.kill_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill_group(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(timeout=5)
        # Stray children of the group (e.g. celery pool processes) go too.
        self.kill_group(signal.SIGKILL)
        if self in _LIVE:
            _LIVE.remove(self)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def stop_all() -> None:
    for proc in reversed(list(_LIVE)):
        with contextlib.suppress(Exception):
            proc.stop(timeout=5)


atexit.register(stop_all)


def _on_signal(signum, frame):  # pragma: no cover - interactive stop
    stop_all()
    raise SystemExit(128 + signum)


def install_signal_handlers() -> None:
    """Ctrl-C / SIGTERM stop every child started through this module."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


# --- Throwaway Redis ---------------------------------------------------------------------------


class RedisServer:
    """A redis-server of our own on a free loopback port, AOF on, `noeviction`."""

    def __init__(self, workdir: Path, port: int | None = None, aof: bool = True) -> None:
        self.port = port or free_port()
        self.dir = Path(workdir) / f"redis-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.aof = aof
        self.proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes" if self.aof else "no",
            "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
            "--protected-mode", "yes",
        ]
        self.proc = Proc(f"redis-{self.port}", argv, dict(os.environ), self.dir / "redis.log")
        self.proc.start()
        if not wait_until(self.ping, timeout, 0.05):
            raise RuntimeError(f"redis-server did not start:\n{self.proc.tail()}")
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc:
            self.proc.kill_group(signal.SIGKILL)
            if self.proc.popen:
                self.proc.popen.wait(timeout=5)

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()


# --- Throwaway PostgreSQL cluster --------------------------------------------------------------


def pg_bin(tool: str) -> str:
    import glob

    for d in sorted(glob.glob(PG_BIN_GLOB), reverse=True):
        path = Path(d) / tool
        if path.exists():
            return str(path)
    found = shutil.which(tool)
    if not found:
        raise RuntimeError(f"{tool} not found (looked in {PG_BIN_GLOB} and PATH)")
    return found


class PostgresCluster:
    """A PostgreSQL cluster of our own (initdb in a temp dir) on a free loopback port.

    PostgreSQL refuses to run as root, so when we are root every pg_ctl/initdb call runs as
    the `postgres` system user (runuser). Trust authentication on loopback only.
    """

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = Path(workdir) / f"pg-{self.port}"
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        self.as_user = "postgres" if os.geteuid() == 0 else None

    @property
    def url_base(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def url(self, dbname: str) -> str:
        return f"{self.url_base}/{dbname}"

    def _run(self, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        if self.as_user:
            argv = ["runuser", "-u", self.as_user, "--", *argv]
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, cwd="/"
        )

    def init(self) -> PostgresCluster:
        self.base.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            shutil.chown(self.base, self.as_user, self.as_user)
            # The temp dir's parents must be traversable by the postgres user.
            tmp = Path(tempfile.gettempdir())
            for parent in self.base.parents:
                if parent != tmp and tmp in parent.parents:
                    os.chmod(parent, 0o755)  # noqa: S103 - a directory, not a secret
        out = self._run(
            [pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--no-sync"]
        )
        if out.returncode != 0:
            raise RuntimeError(f"initdb failed: {out.stderr or out.stdout}")
        conf = self.data / "postgresql.conf"
        extra = (
            f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
            "unix_socket_directories = ''\nmax_connections = 200\nfsync = on\n"
            "shared_buffers = 128MB\n"
        )
        conf.write_text(conf.read_text() + extra)
        return self

    def start(self, timeout: float = 30.0) -> None:
        out = self._run(
            [pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
             "-t", str(int(timeout)), "start"],
            timeout=timeout + 10,
        )
        if out.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {out.stderr or out.stdout}")

    def stop(self, mode: str = "fast", timeout: float = 30.0) -> None:
        self._run(
            [pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", str(int(timeout)),
             "stop"],
            timeout=timeout + 10,
        )

    def restart(self) -> None:
        """Fast shutdown (clients are disconnected) and start again."""
        self.stop("fast")
        self.start()

    def ready(self) -> bool:
        return (
            subprocess.run(
                [pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                check=False,
            ).returncode
            == 0
        )

    def destroy(self) -> None:
        if self.data.exists():
            self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


# --- Database preparation ----------------------------------------------------------------------


def _split_db_url(database_url: str) -> tuple[str, str]:
    """(URL of the maintenance database `postgres`, database name)."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    return admin, name


def psql(database_url: str, sql: str, timeout: float = 60) -> str:
    out = subprocess.run(
        [pg_bin("psql"), database_url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
         "-c", sql],
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"psql failed: {out.stderr.strip()}")
    return out.stdout.strip()


def create_database(database_url: str, fresh: bool = False) -> None:
    admin, name = _split_db_url(database_url)
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unexpected database name {name!r}")
    if fresh:
        psql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    exists = psql(admin, f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
    if not exists:
        psql(admin, f'CREATE DATABASE "{name}"')


def app_env(database_url: str, redis_url: str, **overrides: str) -> dict[str, str]:
    """Environment for our Django processes: production settings, loopback, no throttles
    in the way of a load test (the throttles are what a load test would otherwise measure)."""
    env = dict(os.environ)
    # One role: `database_url` is the whole connection (a bench or fault test's own database);
    # an owner URL inherited from the caller (.ci/run's two roles) would name another database.
    env.pop("DATABASE_OWNER_URL", None)
    env.pop("MIGRATE_DATABASE_URL", None)
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "bench-only-" + "k" * 50,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "CIVICDESK_TESTING": "0",
            "LOG_LEVEL": "WARNING",
            "THROTTLE_SUBMIT": "1000000/hour",
            "THROTTLE_USER": "1000000/min",
            "THROTTLE_ANON": "1000000/min",
            # The transparency log signs tree heads; one fixed bench key per database.
            "CIVICDESK_LOG_SIGNING_KEY": base64.b64encode(
                hashlib.sha256(database_url.encode()).digest()
            ).decode(),
            "CIVICDESK_MAX_REQUESTS_PER_HOUR": "1000000",
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
        }
    )
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    out = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return out.stdout


def prepare_database(database_url: str, redis_url: str, fresh: bool = False) -> None:
    """Create the database if needed, migrate it and seed the demo city."""
    create_database(database_url, fresh=fresh)
    env = app_env(database_url, redis_url)
    manage(env, "migrate", "--no-input")
    manage(env, "seed_demo")


def session_record_second_factor(session: Any, user: Any) -> None:
    """Write into `session` what a password + TOTP login records (allauth's own function):
    staff powers need the session's sign-in to have passed the second factor."""
    from allauth.account.internal.flows.login import record_authentication
    from allauth.mfa.models import Authenticator
    from django.http import HttpRequest

    authenticator = Authenticator.objects.filter(
        user=user, type=Authenticator.Type.TOTP
    ).first()
    request = HttpRequest()
    request.session = session
    record_authentication(request, user, "password")
    if authenticator is not None:
        record_authentication(request, user, "mfa", id=authenticator.pk, type="totp")


def seed_clients(
    database_url: str, redis_url: str, residents: int = 10, clerks: int = 2, prefix: str = "bench"
) -> dict:
    """Create verified residents and clerks (of every department) with session tokens.

    Returns {"residents": [{"id", "token"}], "clerks": [{"id", "token", "departments"}],
    "categories": [codes...]}. Tokens are allauth headless session keys (X-Session-Token).
    """
    env = app_env(database_url, redis_url)
    out = subprocess.run(
        [PYTHON, str(Path(__file__).resolve()), "_seed_inprocess", prefix, str(residents),
         str(clerks)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"seeding clients failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _seed_inprocess(prefix: str, residents: int, clerks: int) -> dict:
    """Runs inside a Django process (see seed_clients)."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.cached_db import SessionStore

    from services.models import Category, Department, DepartmentMembership

    user_model = get_user_model()

    def user_with_token(email: str, *, second_factor: bool = False) -> tuple[object, str]:
        user, _ = user_model.objects.get_or_create(
            email=email, defaults={"display_name": email.split("@")[0]}
        )
        EmailAddress.objects.get_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        if second_factor:
            if not Authenticator.objects.filter(
                user=user, type=Authenticator.Type.TOTP
            ).exists():
                TOTP.activate(user, "BENCHTOTPSECRETAAAAAAAAAAAAAAAAA")  # staff need TOTP
            session_record_second_factor(session, user)
        session.create()
        return user, session.session_key

    departments = list(Department.objects.filter(is_active=True).order_by("id"))
    out: dict = {"residents": [], "clerks": [], "departments": {}}
    for i in range(residents):
        user, token = user_with_token(f"{prefix}.resident{i}@bench.invalid")
        out["residents"].append({"id": user.pk, "token": token})
    for i in range(clerks):
        user, token = user_with_token(f"{prefix}.clerk{i}@bench.invalid", second_factor=True)
        for dept in departments:
            DepartmentMembership.objects.get_or_create(
                user=user, department=dept,
                defaults={"role": DepartmentMembership.Role.SUPERVISOR},
            )
        out["clerks"].append(
            {"id": user.pk, "token": token, "departments": [d.pk for d in departments]}
        )
    out["departments"] = {d.code: d.pk for d in departments}
    out["categories"] = list(
        Category.objects.filter(is_active=True).order_by("code").values_list("code", flat=True)
    )
    return out


# --- The production process layout ------------------------------------------------------------


@dataclass
class Layout:
    """gunicorn (HTTP) + daphne (/ws/) + Celery worker(s) + beat, on free loopback ports."""

    database_url: str
    redis_url: str
    logdir: Path
    web: int = 1
    web_workers: int = 2
    web_threads: int = 1
    asgi: int = 1
    workers: int = 1
    worker_concurrency: int = 2
    beat: bool = True
    env_overrides: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return app_env(self.database_url, self.redis_url, **self.env_overrides)

    def url(self, name: str = "web-1") -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def ws_url(self, name: str = "asgi-1") -> str:
        return f"ws://127.0.0.1:{self.ports[name]}"

    def _web_argv(self, port: int) -> list[str]:
        argv = [
            str(VENV_BIN / "gunicorn"), "portal.wsgi",
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(self.web_workers),
            "--graceful-timeout", "10", "--timeout", "30",
        ]
        if self.web_threads > 1:
            argv += ["--threads", str(self.web_threads)]
        return argv

    def _asgi_argv(self, port: int) -> list[str]:
        return [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port),
                "portal.asgi:application"]

    def _worker_argv(self, name: str) -> list[str]:
        return [
            str(VENV_BIN / "celery"), "-A", "portal", "worker",
            "-Q", "routing,live,notifications,maintenance,default",
            "--concurrency", str(self.worker_concurrency),
            "--loglevel", "WARNING", "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
        ]

    def _beat_argv(self) -> list[str]:
        return [
            str(VENV_BIN / "celery"), "-A", "portal", "beat", "--loglevel", "WARNING",
            "--schedule", str(self.logdir / "celerybeat-schedule"),
        ]

    def argv_for(self, name: str) -> list[str]:
        if name.startswith("web-"):
            return self._web_argv(self.ports[name])
        if name.startswith("asgi-"):
            return self._asgi_argv(self.ports[name])
        if name.startswith("worker-"):
            return self._worker_argv(name)
        if name == "beat":
            return self._beat_argv()
        raise KeyError(name)

    def start_one(self, name: str) -> Proc:
        proc = Proc(name, self.argv_for(name), self.env, self.logdir / f"{name}.log")
        self.procs[name] = proc.start()
        return proc

    def start(self, timeout: float = 60.0) -> Layout:
        self.logdir.mkdir(parents=True, exist_ok=True)
        names: list[str] = []
        for i in range(1, self.web + 1):
            self.ports[f"web-{i}"] = free_port()
            names.append(f"web-{i}")
        for i in range(1, self.asgi + 1):
            self.ports[f"asgi-{i}"] = free_port()
            names.append(f"asgi-{i}")
        names += [f"worker-{i}" for i in range(1, self.workers + 1)]
        if self.beat:
            names.append("beat")
        for name in names:
            self.start_one(name)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        for name in self.ports:
            ok = (
                wait_healthy(self.url(name), timeout)
                if name.startswith("web-")
                else wait_port(self.ports[name], timeout)
            )
            if not ok:
                raise RuntimeError(f"{name} did not become ready:\n{self.procs[name].tail()}")
        for name, proc in self.procs.items():
            if not proc.alive():
                raise RuntimeError(f"{name} exited:\n{proc.tail()}")

    def restart(self, name: str) -> Proc:
        self.procs[name].stop()
        return self.start_one(name)

    def sample_memory(self) -> None:
        for proc in self.procs.values():
            proc.sample_memory()

    def memory_report(self) -> dict[str, dict]:
        """Peak RSS (MiB) per process: the main process and the sum/max of its children."""
        self.sample_memory()
        report = {}
        for name, proc in self.procs.items():
            peaks = proc.peak_kb
            if not peaks:
                continue
            main = peaks.get(proc.pid or -1, 0)
            kids = [v for k, v in peaks.items() if k != proc.pid]
            report[name] = {
                "main_peak_mib": round(main / 1024, 1),
                "children": len(kids),
                "child_max_peak_mib": round(max(kids) / 1024, 1) if kids else 0,
            }
        return report

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()


def worker_pids(proc: Proc) -> list[int]:
    """Children of a gunicorn master / celery main process."""
    return children_of(proc.pid) if proc.pid else []


def send_signal(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


# --- CLI ---------------------------------------------------------------------------------------


def _main(argv: list[str]) -> int:
    if argv and argv[0] == "_seed_inprocess":
        print(json.dumps(_seed_inprocess(argv[1], int(argv[2]), int(argv[3]))))
        return 0
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    seed = sub.add_parser("seed", help="create, migrate and seed a database plus bench users")
    seed.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    seed.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    seed.add_argument("--residents", type=int, default=10)
    seed.add_argument("--clerks", type=int, default=2)
    seed.add_argument("--fresh", action="store_true")
    args = parser.parse_args(argv)
    prepare_database(args.database_url, args.redis_url, fresh=args.fresh)
    print(json.dumps(seed_clients(args.database_url, args.redis_url, args.residents, args.clerks)))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
