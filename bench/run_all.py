"""Run every benchmark in bench/ with bounded sizes and collect the figures (`make bench`).

- Raw baselines first, measured in the same run on the same machine: `pgbench` (select-only)
  against a database of our own on the shared PostgreSQL, and `redis-benchmark` against a
  throwaway redis-server (both only where installed).
- Then every `bench/*.py` benchmark (not this file, not `common.py`, not `chaos.py`, which has
  `make chaos`), each in a subprocess with its own fresh PostgreSQL database
  (`civic_h_bench_<name>`, migrated and seeded with the demo city) and its own database
  number on a throwaway Redis, with a time limit. The suite stops starting benchmarks when its
  overall budget (default 14 minutes) is nearly spent, and says so.
- Figures are collected from `BENCH_RESULT {json}` lines (bench/common.py `emit_result`); for
  scripts that print something else, JSON objects with median/p50/p99 keys and
  `p50 … p99 …` text lines are picked up as well, marked `parsed: "fallback"`.
- Writes bench/results/latest.json (everything, with the machine's load during the run) and
  bench/results/latest.md (a table: median, p99, baseline, ratio per figure).

Usage: bench/run_all.py [--only intake,queue] [--budget 840] [--database-url ...]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"
SKIP = {"common.py", "run_all.py", "chaos.py"}
TEMPLATE_DB = "civic_h_bench_template"
# Order (cheap first) and per-benchmark limits; unknown benchmarks run last with the default.
ORDER = ["intake", "routing_latency", "push_latency", "queue", "ledger", "mixed_load",
         "open311", "retention", "report_cost"]
TIMEOUT_S = {
    "intake": 120,
    "routing_latency": 140,
    "push_latency": 110,
    "queue": 150,
    "ledger": 130,
    "mixed_load": 110,
    "open311": 70,
    "retention": 60,
    "report_cost": 420,
}
DEFAULT_TIMEOUT_S = 120
# Flags passed to a benchmark when its --help lists them: bounded sizes, so that the suite
# stays under 15 minutes on 2 cores. The full-size figures (1,000,000 queue rows and log
# entries, 500 sockets, 60 s per rate) come from running a benchmark alone.
BOUNDED_FLAGS = {
    "intake": {"--seconds": "8"},
    "routing_latency": {"--duration": "15", "--baseline-duration": "5"},
    "push_latency": {"--clients": "1,100", "--events": "20"},
    "queue": {"--rows": "200000", "--samples": "100"},
    "ledger": {"--entries": "200000", "--changes": "1000", "--proofs": "200"},
    "mixed_load": {"--duration": "30"},
    "open311": {"--rounds": "15"},
    "retention": {"--requests": "1000"},
    "report_cost": {"--rounds": "2", "--seconds": "6"},
}
FALLBACK_TEXT = re.compile(
    r"(?P<label>[\w .:/-]*?)\s*p50[=: ]+(?P<p50>[\d.]+)\s*(?P<unit>ms|s|us)?.*?"
    r"p99[=: ]+(?P<p99>[\d.]+)",
    re.IGNORECASE,
)


def log(msg: str) -> None:
    print(f"[bench {datetime.now(UTC).strftime('%H:%M:%S')}] {msg}", flush=True)


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


# --- Raw baselines -------------------------------------------------------------------------------


def baseline_pgbench(database_url: str, seconds: int = 10) -> list[dict]:
    """pgbench -S (select-only) with 2 clients; per-transaction latencies from its log."""
    if not shutil.which("pgbench") and not Path(common.pg_bin("pgbench")).exists():
        return []
    admin, _ = common._split_db_url(database_url)
    url = admin.rsplit("/", 1)[0] + "/civic_h_pgbench"
    common.create_database(url, fresh=True)
    pgbench = common.pg_bin("pgbench")
    subprocess.run([pgbench, "-i", "-s", "1", "-q", url], capture_output=True, check=True,
                   timeout=120)
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [pgbench, "-S", "-c", "2", "-j", "2", "-T", str(seconds), "-l",
             "--log-prefix", str(Path(tmp) / "pgb"), url],
            capture_output=True, text=True, timeout=seconds + 60, check=False, cwd=tmp,
        )
        latencies_ms: list[float] = []
        for log_file in Path(tmp).glob("pgb*"):
            for line in log_file.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3:
                    latencies_ms.append(int(parts[2]) / 1000.0)
    tps = re.search(r"tps = ([\d.]+)", out.stdout)
    s = common.summary(latencies_ms)
    common.psql(admin.rsplit("/", 1)[0] + "/postgres", 'DROP DATABASE IF EXISTS "civic_h_pgbench"')
    return [
        {
            "name": "baseline",
            "metric": "pgbench_select_only_latency",
            "median": s["median"],
            "p99": s["p99"],
            "baseline_median": None,
            "baseline_p99": None,
            "ratio": None,
            "unit": "ms",
            "throughput_per_s": float(tps.group(1)) if tps else None,
            "clients": 2,
            "seconds": seconds,
        }
    ]


def baseline_redis(redis: common.RedisServer) -> list[dict]:
    tool = shutil.which("redis-benchmark")
    if not tool:
        return []
    out = subprocess.run(
        [tool, "-h", "127.0.0.1", "-p", str(redis.port), "-n", "50000", "-c", "10",
         "-t", "set,get,lpush", "--csv"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    results = []
    for row in csv.DictReader(io.StringIO(out.stdout)):
        test = row.get("test", "").split()[0].lower()
        results.append(
            {
                "name": "baseline",
                "metric": f"redis_{test}_latency",
                "median": float(row["p50_latency_ms"]) if row.get("p50_latency_ms") else None,
                "p99": float(row["p99_latency_ms"]) if row.get("p99_latency_ms") else None,
                "baseline_median": None,
                "baseline_p99": None,
                "ratio": None,
                "unit": "ms",
                "throughput_per_s": float(row["rps"]) if row.get("rps") else None,
                "clients": 10,
            }
        )
    return results


# --- Benchmarks ----------------------------------------------------------------------


def discover(only: set[str] | None) -> list[Path]:
    scripts = [
        p for p in BENCH_DIR.glob("*.py")
        if p.name not in SKIP and not p.name.startswith("_")
    ]
    if only:
        scripts = [p for p in scripts if p.stem in only]

    def key(p: Path) -> tuple[int, str]:
        return (ORDER.index(p.stem) if p.stem in ORDER else len(ORDER), p.stem)

    return sorted(scripts, key=key)


def help_text(script: Path, env: dict[str, str]) -> str:
    try:
        out = subprocess.run(
            [common.PYTHON, str(script), "--help"], capture_output=True, text=True,
            timeout=30, env=env, cwd=common.ROOT, check=False,
        )
    except subprocess.TimeoutExpired:
        return ""
    return out.stdout + out.stderr


def parse_output(name: str, text: str) -> list[dict]:
    """BENCH_RESULT lines; otherwise JSON objects or text lines with p50/p99."""
    results = []
    for line in text.splitlines():
        if line.startswith(common.RESULT_PREFIX):
            try:
                record = json.loads(line[len(common.RESULT_PREFIX):])
            except ValueError:
                continue
            record.setdefault("name", name)
            record["script"] = name
            results.append(record)
    if results:
        return results
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("{") and stripped.endswith("}"):
            try:
                obj = json.loads(stripped)
            except ValueError:
                continue
            if isinstance(obj, dict):
                results.extend(_records_from_json(name, obj))
    if results:
        return results
    for line in text.splitlines():
        match = FALLBACK_TEXT.search(line)
        if match:
            results.append(
                {
                    "name": name,
                    "metric": match.group("label").strip(" :-") or "latency",
                    "median": float(match.group("p50")),
                    "p99": float(match.group("p99")),
                    "unit": match.group("unit") or "ms",
                    "script": name,
                    "parsed": "fallback",
                    "line": line.strip()[:300],
                }
            )
    return results


def _records_from_json(name: str, obj: dict, prefix: str = "") -> list[dict]:
    """Walk a JSON summary; every dict with a median/p50 and a p99 becomes one figure."""
    out = []
    median = obj.get("median", obj.get("p50", obj.get("median_ms", obj.get("p50_ms"))))
    p99 = obj.get("p99", obj.get("p99_ms"))
    if isinstance(median, int | float) and isinstance(p99, int | float):
        out.append(
            {
                "name": obj.get("name", name),
                "metric": obj.get("metric", prefix or "latency"),
                "median": median,
                "p99": p99,
                "baseline_median": obj.get("baseline_median"),
                "baseline_p99": obj.get("baseline_p99"),
                "ratio": obj.get("ratio"),
                "unit": obj.get("unit", "ms"),
                "script": name,
                "parsed": "fallback",
            }
        )
    for key, value in obj.items():
        if isinstance(value, dict):
            out.extend(_records_from_json(name, value, f"{prefix}.{key}" if prefix else key))
    return out


def run_benchmark(
    script: Path, env: dict[str, str], timeout: float, logdir: Path
) -> tuple[dict, list[dict]]:
    name = script.stem
    args: list[str] = []
    # The suite's database and Redis are passed explicitly too, for scripts whose defaults
    # name a database of their own instead of reading DATABASE_URL/REDIS_URL.
    flags = {
        "--database-url": env["DATABASE_URL"],
        "--redis-url": env["REDIS_URL"],
        **BOUNDED_FLAGS.get(name, {}),
    }
    text = help_text(script, env)
    for flag, value in flags.items():
        if re.search(rf"(^|\s|\[){re.escape(flag)}\b", text):
            args += [flag, value]
    start = time.monotonic()
    log_path = logdir / f"{name}.log"
    timed_out = False
    with open(log_path, "w") as out:
        proc = subprocess.Popen(
            [common.PYTHON, str(script), *args], cwd=common.ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, 15)
            try:
                rc = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                rc = proc.wait()
    # Whatever the benchmark started in its own group and left behind goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, 9)
    seconds = round(time.monotonic() - start, 1)
    text = log_path.read_text(errors="replace")
    results = parse_output(name, text)
    run = {
        "script": f"bench/{script.name}",
        "args": args,
        "returncode": rc,
        "seconds": seconds,
        "timed_out": timed_out,
        "figures": len(results),
        "log": str(log_path.relative_to(common.ROOT)) if log_path.is_relative_to(common.ROOT)
        else str(log_path),
        "tail": "\n".join(text.splitlines()[-15:]) if rc != 0 or not results else "",
    }
    return run, results


# --- Report ----------------------------------------------------------------------


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def write_markdown(report: dict, path: Path) -> None:
    lines = [
        "# Benchmark results (latest run)",
        "",
        f"Run {report['started']} → {report['finished']} on {report['machine']['cpus']} CPUs "
        f"({report['machine']['platform']}); load average before/after: "
        f"{report['machine']['load_before']} / {report['machine']['load_after']}.",
        "Ratio = baseline p99 / measured p99 unless the benchmark states its own ratio.",
        "",
        "| benchmark | figure | median | p99 | unit | baseline median | baseline p99 | ratio "
        "| other |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    known = {"name", "metric", "median", "p99", "unit", "baseline_median", "baseline_p99",
             "ratio", "script"}
    for r in report["results"]:
        other = {k: v for k, v in r.items() if k not in known and not isinstance(v, dict | list)}
        other_text = ", ".join(f"{k}={_fmt(v)}" for k, v in list(other.items())[:6])
        lines.append(
            f"| {r.get('name')} | {r.get('metric')} | {_fmt(r.get('median'))} | "
            f"{_fmt(r.get('p99'))} | {r.get('unit', '')} | {_fmt(r.get('baseline_median'))} | "
            f"{_fmt(r.get('baseline_p99'))} | {_fmt(r.get('ratio'))} | {other_text} |"
        )
    lines += ["", "## Runs", "", "| script | exit | seconds | figures | note |",
              "|---|---|---|---|---|"]
    for run in report["runs"]:
        note = "timed out" if run.get("timed_out") else run.get("note", "")
        lines.append(
            f"| {run['script']} | {run.get('returncode')} | {run.get('seconds')} | "
            f"{run.get('figures')} | {note} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the CivicDesk benchmark suite")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--budget", type=float, default=870.0, help="seconds for the suite")
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", common.DEFAULT_DATABASE_URL),
        help="server to use (each benchmark gets its own database on it)")
    parser.add_argument("--no-baselines", action="store_true")
    args = parser.parse_args(argv)
    common.install_signal_handlers()
    suite_start = time.monotonic()
    only = {x for x in args.only.split(",") if x} or None
    RESULTS.mkdir(parents=True, exist_ok=True)
    logdir = RESULTS / "logs"
    logdir.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="civicdesk-bench-"))
    report: dict = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_before": loadavg(),
        },
        "results": [],
        "runs": [],
    }
    redis = common.RedisServer(work, aof=True).start()
    try:
        if not args.no_baselines:
            log("raw baselines: pgbench, redis-benchmark")
            try:
                report["results"] += baseline_pgbench(args.database_url)
            except Exception as exc:  # noqa: BLE001 - a missing tool must not stop the suite
                report["runs"].append({"script": "pgbench", "note": f"skipped: {exc}"})
            report["results"] += baseline_redis(redis)
        scripts = discover(only)
        log(f"benchmarks: {', '.join(p.stem for p in scripts) or 'none'}")
        admin, _ = common._split_db_url(args.database_url)
        server = admin.rsplit("/", 1)[0]
        # Migrate and seed once; every benchmark then gets a fresh copy of it in a second
        # (CREATE DATABASE … TEMPLATE), instead of a minute of migrations each.
        template = f"{server}/{TEMPLATE_DB}"
        if scripts:
            log(f"preparing the template database {TEMPLATE_DB}")
            common.prepare_database(template, f"redis://127.0.0.1:{redis.port}/15", fresh=True)
        for index, script in enumerate(scripts):
            name = script.stem
            left = args.budget - (time.monotonic() - suite_start)
            timeout = min(TIMEOUT_S.get(name, DEFAULT_TIMEOUT_S), left - 15)
            if timeout < 45:
                report["runs"].append({"script": f"bench/{script.name}",
                                       "note": f"not run: suite budget spent ({left:.0f} s left)"})
                log(f"{name}: not run, budget spent")
                continue
            db_url = f"{server}/civic_h_bench_{name}"
            redis_url = f"redis://127.0.0.1:{redis.port}/{(index % 15) + 1}"
            log(f"{name}: preparing {db_url.rsplit('/', 1)[1]}")
            try:
                common.psql(f"{server}/postgres",
                            f'DROP DATABASE IF EXISTS "civic_h_bench_{name}" WITH (FORCE)')
                common.psql(f"{server}/postgres",
                            f'CREATE DATABASE "civic_h_bench_{name}" TEMPLATE "{TEMPLATE_DB}"')
            except Exception as exc:  # noqa: BLE001
                report["runs"].append({"script": f"bench/{script.name}",
                                       "note": f"not run: database setup failed: {exc}"[:500]})
                continue
            env = common.app_env(db_url, redis_url, BENCH_SUITE="1",
                                 BENCH_TIME_LIMIT_S=str(int(timeout)))
            log(f"{name}: running (limit {timeout:.0f} s)")
            run, results = run_benchmark(script, env, timeout, logdir)
            log(f"{name}: exit {run['returncode']} in {run['seconds']} s, {len(results)} figures")
            report["runs"].append(run)
            report["results"] += results
            with contextlib.suppress(Exception):  # a leftover database is harmless
                common.psql(f"{server}/postgres",
                            f'DROP DATABASE IF EXISTS "civic_h_bench_{name}" WITH (FORCE)')
        with contextlib.suppress(Exception):
            common.psql(f"{server}/postgres",
                        f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)')
    finally:
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)
    report["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    report["machine"]["load_after"] = loadavg()
    report["seconds"] = round(time.monotonic() - suite_start, 1)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2, default=str))
    write_markdown(report, RESULTS / "latest.md")
    log(f"done in {report['seconds']} s: bench/results/latest.json, bench/results/latest.md")
    print((RESULTS / "latest.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
