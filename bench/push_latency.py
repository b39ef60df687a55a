"""Live push latency: a status change committed through the real service → receipt at clients.

For 1, 100 and 500 clerks subscribed to one department's queue (/ws/queue/ on a real daphne,
channels-redis layer, PostgreSQL), each status change is made with
services.services.request_transition; we time from the commit (an on_commit hook that runs
before the outbox's) to the frame's arrival at every client. In the same run a bare
`group_send` to the same group (from the same process, the same way push_event sends) is
timed to the same clients: the baseline. It goes through services.live.group_send_all, the
sender push_event uses, so the ratio is what the outbox, the hop through the `live` Celery
queue to its worker (started here, as in production) and the queries add.
Prints p50/p99, delivered/expected and the ratio.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/civic_d REDIS_URL=redis://127.0.0.1:6379/4 \\
    .venv/bin/python bench/push_latency.py --clients 1,100,500 --events 40

The clients run in a separate process (pure asyncio + websockets, no Django) so the writer
and the readers do not share a GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    PYTHON,
    ROOT,
    Proc,
    app_env,
    emit_result,
    free_port,
    percentile,
    session_record_second_factor,
    wait_port,
)

PREFIX = "civicdesk-bench-push:asgi"


# --- The client process ------------------------------------------------------------------------


async def _client(
    url: str, token: str, gate: asyncio.Semaphore, ready: asyncio.Event, counter: list,
    out: list,
) -> None:
    from websockets.asyncio.client import connect

    protocols = ["civicdesk.v1", f"civicdesk.token.{token}"]
    for attempt in range(5):
        try:
            async with gate:  # daphne drops handshakes the app has not accepted within 5 s
                ws = await connect(url, subprotocols=protocols, max_queue=None, open_timeout=30)
                first = json.loads(await ws.recv())
            break
        except Exception:  # noqa: BLE001 - refused, reset, timed out: try again
            if attempt == 4:
                raise
            await asyncio.sleep(0.5 * (attempt + 1))
    if first["type"] != "ready":
        raise RuntimeError(f"not subscribed: {first}")
    counter[0] += 1
    if counter[0] == counter[1]:
        ready.set()
    async for raw in ws:
        now = time.time()
        message = json.loads(raw)
        key = message.get("bench") or f"v{message.get('version')}"
        out.append((key, now))


async def _clients_main(url: str, tokens: list[str]) -> None:
    ready = asyncio.Event()
    gate = asyncio.Semaphore(10)
    counter = [0, len(tokens)]
    received: list[list] = [[] for _ in tokens]
    tasks = [
        asyncio.create_task(_client(url, token, gate, ready, counter, received[i]))
        for i, token in enumerate(tokens)
    ]
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait([waiter, *tasks], timeout=300, return_when="FIRST_COMPLETED")
    if waiter not in done:
        for task in done:
            task.result()  # a client that gave up: show why
        raise RuntimeError(f"only {counter[0]} of {counter[1]} clients subscribed")
    print("READY", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # the writer says when it is done
    for task in tasks:
        task.cancel()
    print("RESULT " + json.dumps(received), flush=True)


# --- The writer (Django) ------------------------------------------------------------------------


def _setup_django(database_url: str, redis_url: str) -> None:
    os.environ.update(app_env(database_url, redis_url, CHANNELS_PREFIX=PREFIX))
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _seed(n_clients: int) -> tuple:
    """A bench department with a category, `n_clients` clerks with app tokens, one request."""
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

    from services.models import Category, Department, DepartmentMembership, ServiceRequest
    from services.services import request_submit, request_transition

    user_model = get_user_model()
    department, _ = Department.objects.get_or_create(
        code="bench-push", defaults={"name_en": "Bench push"}
    )
    category, _ = Category.objects.get_or_create(
        code="bench-push", defaults={"name_en": "Bench push", "department": department}
    )

    def user(email: str):
        u, created = user_model.objects.get_or_create(email=email)
        if created:
            u.set_unusable_password()
            u.save()
            EmailAddress.objects.create(user=u, email=email, verified=True, primary=True)
        return u

    def token(u) -> str:
        session = SessionStore()
        session[SESSION_KEY] = str(u.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = u.get_session_auth_hash()
        session_record_second_factor(session, u)  # after TOTP.activate for clerks
        session.create()
        return session.session_key

    clerks, tokens = [], []
    for i in range(n_clients):
        clerk = user(f"bench.push.clerk{i}@bench.invalid")
        DepartmentMembership.objects.get_or_create(user=clerk, department=department)
        if not Authenticator.objects.filter(user=clerk, type=Authenticator.Type.TOTP).exists():
            TOTP.activate(clerk, "BENCHTOTPSECRETAAAAAAAAAAAAAAAAA")
        clerks.append(clerk)
        tokens.append(token(clerk))
    resident = user("bench.push.resident@bench.invalid")
    request = request_submit(
        reporter=resident, category=category, description="Bench: lamp out.", address="Bench"
    )
    request.refresh_from_db()
    if request.department_id != department.pk or request.status == "submitted":
        ServiceRequest.objects.filter(pk=request.pk).update(department=department)
        request.refresh_from_db()
        if request.status == "submitted":
            request = request_transition(request=request, actor=None, to_status="routed")
    return department, clerks[0], resident, tokens, request


def _next_move(request, clerk, resident) -> dict:
    """One public status change that keeps the request cycling through the workflow."""
    moves = {
        "routed": {"actor": clerk, "to_status": "in_progress"},
        "reopened": {"actor": clerk, "to_status": "in_progress"},
        "in_progress": {
            "actor": clerk, "to_status": "resolved", "text": "Fixed.", "outcome": "fixed"
        },
        "resolved": {"actor": resident, "to_status": "reopened", "text": "Still dark."},
    }
    return moves[request.status]


def _forget_old_subscribers(redis_url: str) -> None:
    """Drop the bench prefix's channel-layer keys. Sockets of an earlier size (or run) stay
    members of the queue group until group_expiry (a day): a daphne that is stopped does not
    discard them, and every group_send would go on writing to their channels (thousands after
    a few runs), slowing both the baseline and the push."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{PREFIX}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
    finally:
        client.close()


def run_size(n: int, events: int, database_url: str, redis_url: str, logdir: Path) -> None:
    from django.db import transaction

    from services.live import MESSAGE, group_send_all, queue_group
    from services.models import ServiceRequest
    from services.services import request_transition

    department, clerk, resident, tokens, request = _seed(n)
    _forget_old_subscribers(redis_url)
    port = free_port()
    daphne = Proc(
        f"daphne-{port}",
        [str(Path(PYTHON).with_name("daphne")), "-b", "127.0.0.1", "-p", str(port),
         "portal.asgi:application"],
        app_env(database_url, redis_url, CHANNELS_PREFIX=PREFIX, LOG_LEVEL="WARNING"),
        logdir / f"daphne-{n}.log",
    ).start()
    clients = None
    try:
        if not wait_port(port, timeout=60):
            raise RuntimeError(f"daphne did not start:\n{daphne.tail()}")
        clients = subprocess.Popen(
            [PYTHON, __file__, "_clients", f"ws://127.0.0.1:{port}/ws/queue/"],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        clients.stdin.write(json.dumps(tokens) + "\n")
        clients.stdin.flush()
        line = clients.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"clients did not connect: {line!r}")
        gap = 0.05 + n * 0.003  # let one fan-out finish before the next starts
        group = queue_group(department.pk)

        # Baseline: a bare group_send → receipt, through the same sender push_event uses
        # (one long-lived loop and Redis pool), so the ratio is the service's own cost.
        baseline_sent: dict[str, float] = {}
        for k in range(events):
            key = f"b{k}"
            baseline_sent[key] = time.time()
            group_send_all([(group, {"type": MESSAGE, "message": {"type": "bench", "bench": key}})])
            time.sleep(gap)

        # The real thing: request_transition commits; push_event runs from the outbox.
        committed: dict[str, float] = {}
        started: dict[str, float] = {}
        for _ in range(events):
            request = ServiceRequest.objects.get(pk=request.pk)
            key = f"v{request.version + 1}"
            move = _next_move(request, clerk, resident)
            started[key] = time.time()
            with transaction.atomic():
                # Runs first among the on_commit callbacks, i.e. right at the commit.
                transaction.on_commit(lambda key=key: committed.__setitem__(key, time.time()))
                request_transition(request=request, **move)
            time.sleep(gap)
        time.sleep(1.0 + n * 0.002)
        clients.stdin.write("done\n")
        clients.stdin.flush()
        result = None
        for line in clients.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
                break
        clients.wait(timeout=30)
    finally:
        if clients is not None and clients.poll() is None:
            clients.kill()
        daphne.stop(timeout=5)

    base_lat, push_lat, total_lat = [], [], []
    base_count = push_count = 0
    for per_client in result or []:
        for key, at in per_client:
            if key in baseline_sent:
                base_lat.append((at - baseline_sent[key]) * 1000)
                base_count += 1
            elif key in committed:
                push_lat.append((at - committed[key]) * 1000)
                total_lat.append((at - started[key]) * 1000)
                push_count += 1
    expected = n * events
    b50, b99 = percentile(base_lat, 50), percentile(base_lat, 99)
    p50, p99 = percentile(push_lat, 50), percentile(push_lat, 99)
    t50, t99 = percentile(total_lat, 50), percentile(total_lat, 99)
    r = lambda v: None if v is None else round(v, 2)  # noqa: E731
    print(
        f"clients={n:4d} events={events}  commit→receipt p50={r(p50)} ms p99={r(p99)} ms  "
        f"delivered={push_count}/{expected}  | bare group_send p50={r(b50)} ms p99={r(b99)} ms "
        f"delivered={base_count}/{expected}  | ratio p50={r(p50 / b50) if b50 else None} "
        f"p99={r(p99 / b99) if b99 else None}  | call→receipt p50={r(t50)} p99={r(t99)} ms",
        flush=True,
    )
    emit_result(
        "push_latency", f"commit_to_receipt_{n}_clients",
        median=r(p50), p99=r(p99), unit="ms",
        baseline_median=r(b50), baseline_p99=r(b99),
        ratio=r(p99 / b99) if b99 and p99 else None,
        ratio_p50=r(p50 / b50) if b50 and p50 else None,
        delivered=push_count, expected=expected, baseline_delivered=base_count,
        call_to_receipt_median=r(t50), call_to_receipt_p99=r(t99),
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_clients":
        tokens = json.loads(sys.stdin.readline())
        asyncio.run(_clients_main(sys.argv[2], tokens))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="1,100,500")
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    args = parser.parse_args()
    if not args.database_url.startswith("postgres") or not args.redis_url:
        sys.exit("push_latency needs DATABASE_URL (PostgreSQL) and REDIS_URL: a daphne process "
                 "and this writer share them.")
    _setup_django(args.database_url, args.redis_url)
    logdir = Path(tempfile.mkdtemp(prefix="bench-push-"))
    print(f"daphne and worker logs: {logdir}", flush=True)
    # The outbox hands each event to `deliver_event` on the live queue: one worker on that
    # queue only, as production runs it (docs/operations.md), does the fan-out.
    worker = Proc(
        "celery-live",
        [PYTHON, "-m", "celery", "-A", "portal", "worker", "-Q", "live", "-P", "solo",
         "--without-mingle", "--without-gossip", "--loglevel", "WARNING"],
        app_env(args.database_url, args.redis_url, CHANNELS_PREFIX=PREFIX, LOG_LEVEL="WARNING"),
        logdir / "worker-live.log",
    ).start()
    try:
        time.sleep(3)  # worker start-up; a change made before then just waits in the queue
        for n in [int(x) for x in args.clients.split(",")]:
            run_size(n, args.events, args.database_url, args.redis_url, logdir)
    finally:
        worker.stop(timeout=10)


if __name__ == "__main__":
    main()
