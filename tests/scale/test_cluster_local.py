"""scripts/cluster-local: 2 web + 2 ASGI + 2 workers on one PostgreSQL and one Redis.

A request filed on web-1 is routed by whichever worker takes it and pushed, through the
channels-redis layer, to a clerk whose socket is connected to asgi-2.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection

from services.models import Event, ServiceRequest
from tests.factories import CategoryFactory, DepartmentFactory, MembershipFactory, UserFactory
from tests.sessions import session_record_mfa

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def _free_ports(n: int) -> list[int]:
    sockets = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _token_for(user) -> str:
    """An allauth app session token (the session key), as the mobile app would hold."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    # Staff powers need a sign-in that passed the second factor (what password + TOTP records).
    session_record_mfa(session, user)
    return session.session_key


def _database_url() -> str:
    db = connection.settings_dict
    password = db.get("PASSWORD") or ""
    auth = f"{db['USER']}:{password}" if password else db["USER"]
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def cluster(tmp_path, settings):
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("NOT RUN: needs PostgreSQL and Redis (the processes share both)")
    web, asgi = _free_ports(2), _free_ports(2)
    state = tmp_path / "state.json"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DATABASE_POOL": "0",
        "REDIS_URL": settings.REDIS_URL,
        "CIVICDESK_TESTING": "0",
        "DJANGO_DEBUG": "1",
        "LOG_LEVEL": "WARNING",
        "WEB_PORTS": " ".join(map(str, web)),
        "ASGI_PORTS": " ".join(map(str, asgi)),
        "WEB_WORKERS": "1",
        "WORKER_CONCURRENCY": "1",
        "BEAT": "0",
        "CLUSTER_LOG_DIR": str(tmp_path / "logs"),
        "CLUSTER_STATE_FILE": str(state),
        "CIVICDESK_ROUTER_MODEL_PATH": str(tmp_path / "router.json"),
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    process = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "cluster-local")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 45
        while not state.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                logs = "\n".join(
                    p.name + ": " + p.read_text()[-800:] for p in (tmp_path / "logs").glob("*.log")
                )
                pytest.fail(f"the cluster did not come up:\n{logs}")
            time.sleep(0.2)
        yield json.loads(state.read_text())
    finally:
        # Ctrl-C, as a person would: the script stops every process it started.
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _post(port: int, path: str, token: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(  # noqa: S310 - loopback
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "X-Session-Token": token,
            "Idempotency-Key": str(uuid.uuid4()),
        },
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=15) as resp:  # noqa: S310 - loopback
        return resp.status, json.loads(resp.read())


async def _file_on_web1_and_hear_it_on_asgi2(state: dict, clerk_token: str,
                                             resident_token: str, category: str) -> dict:
    import websockets

    url = f"ws://127.0.0.1:{state['asgi_ports'][1]}/ws/queue/"
    async with websockets.connect(
        url, subprotocols=["civicdesk.v1", f"civicdesk.token.{clerk_token}"], open_timeout=10
    ) as sock:
        ready = json.loads(await asyncio.wait_for(sock.recv(), timeout=10))
        assert ready["type"] == "ready"
        status, created = await asyncio.to_thread(
            _post,
            state["web_ports"][0],
            "/api/v1/requests",
            resident_token,
            {"category": category, "description": "Streetlight dark at the corner",
             "lat": 39.02, "lon": 115.97},
        )
        assert status == 201
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            message = json.loads(await asyncio.wait_for(sock.recv(), timeout=20))
            if message.get("reference") == created["reference"] and message.get("status") == (
                "routed"
            ):
                return message
        pytest.fail("the clerk on asgi-2 never heard of the routed request")


def test_request_filed_on_web1_is_routed_by_a_worker_and_pushed_to_a_clerk_on_asgi2(
    cluster,
):
    lighting = DepartmentFactory(code="lighting", name_en="Street Lighting")
    DepartmentFactory(code="triage", name_en="Triage", is_triage=True)
    category = CategoryFactory(code="streetlight", department=lighting, attributes=[])
    clerk = MembershipFactory(department=lighting).user
    resident = UserFactory()

    message = asyncio.run(
        _file_on_web1_and_hear_it_on_asgi2(
            cluster, _token_for(clerk), _token_for(resident), category.code
        )
    )

    request = ServiceRequest.objects.get(reference=message["reference"])
    assert request.department_id == lighting.pk
    assert Event.objects.filter(request=request, type=Event.Type.ROUTED).count() == 1
    assert message["type"] == "queue.item"
    assert message["item"]["in_queue"] is True
