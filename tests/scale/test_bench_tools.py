"""The measuring tools the benchmark suite and the capacity figures rely on."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import common  # noqa: E402
import run_all  # noqa: E402


def test_percentile_interpolates_between_ranks():
    values = list(range(1, 101))
    assert common.percentile(values, 50) == 50.5
    assert round(common.percentile(values, 99), 2) == 99.01
    assert common.percentile([], 99) is None


def test_suite_collects_bench_result_lines_and_ignores_other_output():
    text = "\n".join(
        [
            "warming up",
            'BENCH_RESULT {"name": "intake", "metric": "post_latency", "median": 4.1, '
            '"p99": 9.8, "unit": "ms", "baseline_p99": 7.0}',
            "BENCH_RESULT {not json",
            "done",
        ]
    )
    results = run_all.parse_output("intake", text)
    assert [(r["metric"], r["p99"], r["script"]) for r in results] == [
        ("post_latency", 9.8, "intake")
    ]


def test_suite_reads_json_summaries_from_benchmarks_without_the_convention():
    text = '{"push": {"p50_ms": 3.5, "p99_ms": 12.0}, "clients": 100}'
    results = run_all.parse_output("push_latency", text)
    assert len(results) == 1
    assert results[0]["metric"] == "push"
    assert (results[0]["median"], results[0]["p99"]) == (3.5, 12.0)
    assert results[0]["parsed"] == "fallback"


def test_cpu_meter_counts_the_cpu_a_child_process_burns():
    busy = subprocess.Popen(
        [sys.executable, "-c", "import time\nt = time.process_time()\n"
         "while time.process_time() - t < 0.4: pass\ntime.sleep(30)"]
    )
    try:
        meter = common.CpuMeter({"busy": lambda: [busy.pid]})
        meter.start()
        deadline = time.monotonic() + 20  # a busy machine gives the child little CPU
        while meter.report()["busy"] < 0.3 and time.monotonic() < deadline:
            time.sleep(0.1)
            meter.sample()
        assert meter.report()["busy"] >= 0.3
    finally:
        busy.kill()
        busy.wait()
