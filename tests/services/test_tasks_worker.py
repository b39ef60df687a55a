"""Celery against a real Redis: idempotent routing, Redis down at submit, a worker killed mid-task.

Every test runs its own throwaway redis-server on a free loopback port (never 6379's data),
so it can stop and restart the broker and see exactly which messages exist.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.urls import reverse

from outbox.models import OutboxMessage
from outbox.services import outbox_relay
from portal.celery import app
from services.models import Event, ServiceRequest, Status
from services.services import event_record, request_submit
from services.tasks import route_request
from tests.factories import CategoryFactory, DepartmentFactory, ServiceRequestFactory, UserFactory

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayRedis:
    def __init__(self, tmp_path: Path) -> None:
        self.port = _free_port()
        self.dir = tmp_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("throwaway redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def client(self):
        import redis

        return redis.Redis.from_url(self.url)


@pytest.fixture
def broker(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("NOT RUN: redis-server is not installed")
    server = ThrowawayRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def _drop_broker_pools() -> None:
    # Celery keeps a connection pool and a producer pool per app; both must be rebuilt for
    # a new broker URL (app.close() would also deregister the app).
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def app_on_broker(url: str):
    """Point this process's Celery app (and its connection pools) at another broker."""
    old = app.conf.broker_url
    app.conf.broker_url = url
    _drop_broker_pools()
    try:
        yield
    finally:
        app.conf.broker_url = old
        _drop_broker_pools()


@contextmanager
def in_thread_worker(queues=("routing",)):
    from celery.contrib.testing.worker import start_worker

    with start_worker(
        app, pool="solo", perform_ping_check=False, queues=list(queues), shutdown_timeout=10
    ) as worker:
        yield worker


# Upper bounds for a loaded CI machine; on an idle one each step takes well under a second
# (worker start-up a few seconds).
def _wait_for(predicate, timeout=30.0, interval=0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def _routed(request_id: int) -> int:
    return Event.objects.filter(request_id=request_id, type=Event.Type.ROUTED).count()


def _drained(server: ThrowawayRedis, queue: str = "routing") -> bool:
    client = server.client()
    return client.llen(queue) == 0 and client.hlen("unacked") == 0


@pytest.fixture
def city(tmp_path, settings):
    settings.CIVICDESK = {**settings.CIVICDESK, "ROUTER_MODEL_PATH": str(tmp_path / "router.json")}
    DepartmentFactory(code="triage", name_en="Triage", is_triage=True)
    lighting = DepartmentFactory(code="lighting", name_en="Street Lighting")
    return CategoryFactory(code="streetlight", name_en="Streetlight out", department=lighting)


def test_routing_task_delivered_twice_records_one_routed_event(broker, city):
    request = ServiceRequestFactory(category=city, department=None)

    with app_on_broker(broker.url), in_thread_worker():
        route_request.delay(request.pk)
        route_request.delay(request.pk)
        assert _wait_for(lambda: _routed(request.pk) >= 1 and _drained(broker))

    request.refresh_from_db()
    assert request.status == Status.ROUTED
    assert request.department.code == "lighting"
    assert _routed(request.pk) == 1


def test_submit_while_redis_is_down_answers_201_and_the_relay_routes_it_once(
    broker, city, client_for
):
    resident = UserFactory()
    with app_on_broker(broker.url):
        broker.stop()
        started = time.monotonic()
        response = client_for(resident).post(
            reverse("api:request-list"),
            {
                "category": "streetlight",
                "description": "Dark all week.",
                "lat": 39.05,
                "lon": 116.05,
            },
            format="json",
        )
        elapsed = time.monotonic() - started
        assert response.status_code == 201, response.content
        request = ServiceRequest.objects.get(reporter=resident)
        assert request.status == Status.SUBMITTED
        assert elapsed < 10

        broker.start()
        with in_thread_worker():
            assert outbox_relay(min_age_seconds=0) >= 1
            assert _wait_for(lambda: _routed(request.pk) >= 1 and _drained(broker))
            assert outbox_relay(min_age_seconds=0) == 0  # everything was published once

    request.refresh_from_db()
    assert request.status == Status.ROUTED
    assert _routed(request.pk) == 1


def _listen(group: str):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)

    async def receive() -> dict:
        return await asyncio.wait_for(layer.receive(channel), timeout=30)

    return lambda: async_to_sync(receive)()


def test_a_worker_on_the_live_queue_pushes_a_committed_change_to_the_reporters_sockets(
    broker, city
):
    resident = UserFactory()
    request = ServiceRequestFactory(category=city, reporter=resident, department=None)
    next_message = _listen(f"resident.{resident.pk}")

    with app_on_broker(broker.url):
        with transaction.atomic():
            event_record(
                request=request, type=Event.Type.PUBLIC_REPLY, text="Crew booked for Monday."
            )
        # The request that made the change only wrote to the broker; the worker does the rest.
        assert broker.client().llen("live") == 1
        with in_thread_worker(queues=("live",)):
            message = next_message()
            assert _wait_for(lambda: _drained(broker, "live"))

    assert message["message"]["reference"] == request.reference
    assert message["message"]["event"]["text"] == "Crew booked for Monday."


def test_filing_a_report_costs_one_broker_message_whose_task_pushes_routes_and_emails(
    broker, city, mailoutbox
):
    resident = UserFactory()
    next_message = _listen(f"resident.{resident.pk}")

    with app_on_broker(broker.url):
        request = request_submit(
            reporter=resident, category=city, description="Dark all week.", lat=39.05, lon=116.05
        )
        client = broker.client()
        assert [client.llen(q) for q in ("routing", "live", "notifications")] == [1, 0, 0]
        with in_thread_worker(queues=("routing", "live", "notifications")):
            pushed = [next_message(), next_message()]
            assert _wait_for(
                lambda: _routed(request.pk) == 1
                and all(_drained(broker, q) for q in ("routing", "live", "notifications"))
            )

    assert [m["message"]["event"]["type"] for m in pushed] == ["submitted", "routed"]
    assert [m.to for m in mailoutbox] == [[resident.email]]
    assert not OutboxMessage.objects.filter(published_at__isnull=True).exists()


def _worker_env(broker: ThrowawayRedis, tmp_path: Path) -> dict[str, str]:
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DATABASE_POOL": "0",
        "REDIS_URL": broker.url,
        "CELERY_VISIBILITY_TIMEOUT": "2",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CIVICDESK_ROUTER_MODEL_PATH": str(tmp_path / "router.json"),
        "CIVICDESK_TESTING": "1",
    }


def _start_worker(env: dict[str, str], name: str, pool: str = "solo") -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "-Q",
            "routing",
            "-P",
            pool,
            "-c",
            "1",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "-n",
            f"{name}@%h",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        process.wait(timeout=15)


@pytest.mark.postgres
@pytest.mark.slow
def test_worker_killed_mid_task_routes_the_request_once_after_a_new_worker_starts(
    broker, city, tmp_path
):
    import psycopg

    if connection.vendor != "postgresql":
        pytest.skip("NOT RUN: needs PostgreSQL (a worker subprocess shares the database)")
    request = ServiceRequestFactory(category=city, department=None)
    env = _worker_env(broker, tmp_path)
    db = connection.settings_dict
    blocker = psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=db["NAME"],
        autocommit=False,
    )
    first = second = None
    try:
        # Hold the request's row so the first worker's routing blocks mid-task.
        blocker.execute(
            "SELECT id FROM services_servicerequest WHERE id = %s FOR UPDATE", [request.pk]
        )
        with app_on_broker(broker.url):
            route_request.delay(request.pk)
        first = _start_worker(env, "doomed")

        def first_is_waiting_on_the_row() -> bool:
            with psycopg.connect(
                host=db["HOST"] or "127.0.0.1",
                port=db["PORT"] or 5432,
                user=db["USER"],
                password=db.get("PASSWORD") or None,
                dbname=db["NAME"],
                autocommit=True,
            ) as probe:
                row = probe.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                    " AND wait_event_type = 'Lock'",
                    [db["NAME"]],
                ).fetchone()
                return bool(row and row[0])

        assert _wait_for(first_is_waiting_on_the_row, timeout=60), "worker never took the task"
        _stop(first, signal.SIGKILL)
        assert broker.client().hlen("unacked") == 1  # the task was taken, never acked
        # End the killed worker's orphaned database session too (as PostgreSQL would on
        # its own once it noticed), then let go of the row.
        with psycopg.connect(
            host=db["HOST"] or "127.0.0.1",
            port=db["PORT"] or 5432,
            user=db["USER"],
            password=db.get("PASSWORD") or None,
            dbname=db["NAME"],
            autocommit=True,
        ) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'",
                [db["NAME"]],
            )
        blocker.rollback()
        assert _routed(request.pk) == 0

        second = _start_worker(env, "survivor")
        assert _wait_for(lambda: _routed(request.pk) >= 1, timeout=60)
        assert _wait_for(lambda: _drained(broker), timeout=10)
    finally:
        blocker.close()
        for process in (first, second):
            if process is not None:
                _stop(process)

    request.refresh_from_db()
    assert request.status == Status.ROUTED
    assert _routed(request.pk) == 1


def _sessions_opened(dbname: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", [dbname])
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.slow
def test_a_prefork_worker_keeps_its_database_connections_from_task_to_task(
    broker, city, tmp_path
):
    if connection.vendor != "postgresql":
        pytest.skip("NOT RUN: needs PostgreSQL (a worker subprocess shares the database)")
    requests = [ServiceRequestFactory(category=city, department=None) for _ in range(8)]
    env = {**_worker_env(broker, tmp_path), "DATABASE_POOL": "1", "DATABASE_POOL_MIN": "1"}
    dbname = connection.settings_dict["NAME"]
    before = _sessions_opened(dbname)
    worker = _start_worker(env, "steady", pool="prefork")
    try:
        with app_on_broker(broker.url):
            for request in requests:
                route_request.delay(request.pk)
        assert _wait_for(lambda: all(_routed(r.pk) == 1 for r in requests), timeout=60)
    finally:
        _stop(worker)  # its sessions end, so PostgreSQL has counted them all
    time.sleep(0.5)
    # The parent checks the database once at start; each child uses one pooled connection
    # (plus the pool's spare). Celery's own Django fixup would reconnect around every task:
    # at least two sessions per task.
    assert _sessions_opened(dbname) - before <= 4
