"""Queue benchmark: the clerk's first page over 1,000,000 requests, against the bare keyset SQL.

    .venv/bin/python bench/queue.py [--database-url postgres://…/civic_a] [--rows 1000000]
        [--samples 300] [--clients 1]

Seeds (with SQL, once per database) `--rows` requests over 50 bench departments, 15% of them
open, with random priorities and deadlines; ANALYZE; then, with gunicorn on loopback:

- GET /api/v1/queue?limit=25 (first page) as a clerk of one department, and the second page
  through its cursor;
- baseline: the bare keyset SQL for the same first page (same WHERE, ORDER BY and LIMIT),
  run over psycopg from this process;
- ratio = baseline p99 ÷ endpoint p99. Target: endpoint p99 < 20 ms.

Prints the query plan of the bare SQL (it must use the queue_keyset index) and BENCH_RESULT
lines (bench/common.py convention).
"""

# This file is named by the issue (bench/queue.py), and bench/ is first on sys.path whenever a
# bench script runs, so `import queue` anywhere in such a process finds this file. Imported
# under that name, it simply is the standard library's queue module.
if __name__ != "__main__":
    import os as _os
    import sysconfig as _sysconfig

    _stdlib_queue = _os.path.join(_sysconfig.get_paths()["stdlib"], "queue.py")
    with open(_stdlib_queue, encoding="utf-8") as _source:
        exec(compile(_source.read(), _stdlib_queue, "exec"))  # noqa: S102 - the stdlib's code
else:
    import argparse
    import json
    import os
    import sys
    import tempfile
    import time
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))

    import common

    DEPARTMENTS = 50
    OPEN_SHARE = 0.15
    PREFIX = "QB-"
    OPEN = ("in_progress", "reopened", "returned", "routed", "submitted")

    def seed_inprocess(rows: int) -> dict:
        """Runs inside a Django process: departments, a clerk, and `rows` requests by SQL."""
        sys.path.insert(0, str(common.ROOT))
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
        from django.db import connection

        from services.models import Category, Department, DepartmentMembership, ServiceRequest

        departments = []
        for i in range(DEPARTMENTS):
            dept, _ = Department.objects.get_or_create(
                code=f"qbench-{i:02d}", defaults={"name_en": f"Queue bench {i:02d}"}
            )
            departments.append(dept)
        category, _ = Category.objects.get_or_create(
            code="qbench", defaults={"name_en": "Queue bench", "department": departments[0]}
        )
        email = "queue.clerk@bench.invalid"
        clerk, _ = get_user_model().objects.get_or_create(
            email=email, defaults={"display_name": "Queue clerk"}
        )
        EmailAddress.objects.get_or_create(
            user=clerk, email=email, defaults={"verified": True, "primary": True}
        )
        if not Authenticator.objects.filter(user=clerk, type=Authenticator.Type.TOTP).exists():
            TOTP.activate(clerk, "BENCHTOTPSECRETAAAAAAAAAAAAAAAAA")  # staff roles need TOTP
        DepartmentMembership.objects.get_or_create(user=clerk, department=departments[7])
        session = SessionStore()
        session[SESSION_KEY] = str(clerk.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = clerk.get_session_auth_hash()
        common.session_record_second_factor(session, clerk)
        session.create()

        existing = ServiceRequest.objects.filter(reference__startswith=PREFIX).count()
        seeded_s = 0.0
        if existing < rows:
            # Every NOT NULL column we do not set gets the model field's default, so the seed
            # keeps working when another field is added to the model.
            chosen = {
                "reference": f"'{PREFIX}' || lpad(to_hex(g), 9, '0')",
                "kind": "'request'",
                "category_id": str(category.pk),
                "description": "'Queue bench request ' || g",
                "attribute_values": "'{}'::jsonb",
                "lat": "39.0 + random() * 0.05",
                "lon": "116.0 + random() * 0.05",
                "status": (
                    f"CASE WHEN random() < {OPEN_SHARE} "
                    "THEN (ARRAY['routed','in_progress','reopened','returned'])"
                    "[1 + floor(random() * 4)::int] "
                    "ELSE (ARRAY['closed','resolved','rejected','withdrawn'])"
                    "[1 + floor(random() * 4)::int] END"
                ),
                "priority": "1 + floor(random() * 4)::int",
                "department_id": f"(SELECT ids[1 + mod(g, {DEPARTMENTS})] FROM d)",
                "due_at": "now() + (random() * 400 - 100) * interval '1 hour'",
                "created_at": "now() - random() * interval '365 days'",
                "updated_at": "now()",
                "version": "1",
            }
            columns, values, params = [], [], []
            for field in ServiceRequest._meta.concrete_fields:
                if field.primary_key:
                    continue
                column = field.column
                if column in chosen:
                    columns.append(column)
                    values.append(chosen[column])
                elif not field.null:
                    default = field.get_default()
                    columns.append(column)
                    if isinstance(default, dict | list):
                        values.append("%s::jsonb")
                        params.append(json.dumps(default))
                    else:
                        values.append("%s")
                        params.append(default)
            dept_ids = "ARRAY[" + ",".join(str(d.pk) for d in departments) + "]::bigint[]"
            batch = 200_000
            start = time.perf_counter()
            for first in range(existing + 1, rows + 1, batch):
                last = min(rows, first + batch - 1)
                sql = (
                    f"WITH d AS (SELECT {dept_ids} AS ids) "
                    f"INSERT INTO services_servicerequest ({', '.join(columns)}) "
                    f"SELECT {', '.join(values)} FROM generate_series({first}, {last}) g"
                )
                with connection.cursor() as cursor:
                    cursor.execute(sql, params)
                print(f"seeded {last:,} rows", file=sys.stderr, flush=True)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE services_servicerequest")
            seeded_s = time.perf_counter() - start
        return {
            "token": session.session_key,
            "department_id": departments[7].pk,
            "seeded_seconds": round(seeded_s, 1),
            "existing": existing,
        }

    def bare_sql(department_id: int) -> tuple[str, list]:
        placeholders = ", ".join(["%s"] * len(OPEN))
        sql = (
            "SELECT id, reference, status, priority, due_at FROM services_servicerequest "
            f"WHERE department_id = %s AND status IN ({placeholders}) "
            "ORDER BY priority DESC, due_at ASC NULLS LAST, id ASC LIMIT 26"
        )
        return sql, [department_id, *OPEN]

    def time_bare(database_url: str, department_id: int, samples: int) -> tuple[list, str]:
        import psycopg

        sql, params = bare_sql(department_id)
        out = []
        with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as conn:
            plan = "\n".join(
                r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            )
            for _ in range(10):
                conn.execute(sql, params).fetchall()
            dbname = database_url.rsplit("/", 1)[-1]
            meter = common.CpuMeter({"postgres": lambda: common.postgres_backends(dbname)})
            meter.start()
            for _ in range(samples):
                start = time.perf_counter()
                conn.execute(sql, params).fetchall()
                out.append((time.perf_counter() - start) * 1000)
            meter.sample()
            cpu_ms = round(meter.report()["postgres"] * 1000 / max(samples, 1), 3)
        plan += f"\npostgres CPU per bare query: {cpu_ms} ms"
        return out, plan

    def time_endpoint(
        base_url: str, token: str, samples: int, meter: common.CpuMeter
    ) -> tuple[list, list, dict]:
        api = common.ApiClient(base_url, token=token, timeout=30)
        first_page, second_page, errors = [], [], {}
        for _ in range(10):
            api.call("GET", "/api/v1/queue?limit=25")
        meter.start()
        for _ in range(samples):
            status, data, ms = api.call("GET", "/api/v1/queue?limit=25")
            if status != 200 or not isinstance(data, dict):
                errors[str(status)] = errors.get(str(status), 0) + 1
                continue
            first_page.append(ms)
            cursor = data.get("next_cursor")
            if cursor:
                status, _, ms = api.call("GET", f"/api/v1/queue?limit=25&cursor={cursor}")
                if status == 200:
                    second_page.append(ms)
        meter.sample()
        api.close()
        return first_page, second_page, errors

    def main() -> int:
        parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
        parser.add_argument(
            "--database-url",
            default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/civic_a"),
        )
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument("--samples", type=int, default=300)
        parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
        args = parser.parse_args()
        common.install_signal_handlers()

        workdir = Path(tempfile.mkdtemp(prefix="civicdesk-queue-"))
        redis = common.RedisServer(workdir, aof=False).start()
        try:
            common.prepare_database(args.database_url, redis.url)
            env = common.app_env(args.database_url, redis.url)
            import subprocess

            seeded = subprocess.run(
                [common.PYTHON, str(Path(__file__).resolve()), "--_seed", str(args.rows)],
                cwd=common.ROOT, env=env, capture_output=True, text=True, timeout=1800,
                check=False,
            )
            if seeded.returncode != 0:
                print(seeded.stderr[-3000:], file=sys.stderr)
                return 1
            info = json.loads(seeded.stdout.strip().splitlines()[-1])
            print(json.dumps({"seed": info}), flush=True)

            baseline, plan = time_bare(args.database_url, info["department_id"], args.samples)
            print(plan, flush=True)

            port = common.free_port()
            argv = [
                str(common.VENV_BIN / "gunicorn"), "portal.wsgi",
                "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
                "--worker-class", "gthread", "--threads", "1", "--keep-alive", "30",
                "--log-level", "warning",
            ]
            web = common.Proc("gunicorn-queue", argv, env, workdir / "gunicorn.log").start()
            base_url = f"http://127.0.0.1:{port}"
            if not common.wait_healthy(base_url, 60):
                print(web.tail(), file=sys.stderr)
                return 1
            dbname = args.database_url.rsplit("/", 1)[-1]
            meter = common.CpuMeter(
                {"gunicorn": web.pids, "postgres": lambda: common.postgres_backends(dbname)}
            )
            first, second, errors = time_endpoint(base_url, info["token"], args.samples, meter)
            pages = (len(first) + len(second)) or 1
            cpu_ms = {g: round(v * 1000 / pages, 2) for g, v in meter.report().items()}
            base = common.summary(baseline)
            page1 = common.summary(first)
            page2 = common.summary(second)
            common.emit_result(
                "queue",
                "first_page_latency",
                median=page1["median"],
                p99=page1["p99"],
                unit="ms",
                baseline_median=base["median"],
                baseline_p99=base["p99"],
                rows=args.rows,
                departments=DEPARTMENTS,
                errors=errors,
                samples=page1["n"],
                cpu_ms_per_page=cpu_ms,
                cpus=os.cpu_count(),
                load_average=os.getloadavg(),
            )
            common.emit_result(
                "queue",
                "second_page_latency",
                median=page2["median"],
                p99=page2["p99"],
                unit="ms",
                baseline_median=base["median"],
                baseline_p99=base["p99"],
                samples=page2["n"],
            )
            web.stop()
        finally:
            common.stop_all()
            if getattr(redis, "proc", None) is not None:
                redis.proc.stop()
        return 0

    if len(sys.argv) == 3 and sys.argv[1] == "--_seed":
        print(json.dumps(seed_inprocess(int(sys.argv[2]))))
        sys.exit(0)
    sys.exit(main())
