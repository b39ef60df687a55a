"""Two daphne processes on loopback sharing PostgreSQL and the channels-redis layer.

A client on server B hears of a change committed elsewhere, and of a logout made through
server A's HTTP API (its socket on B closes). This is what "any number of ASGI servers" means.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.cached_db import SessionStore
from django.db import connection
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from services.models import Status
from services.services import request_transition
from tests.services.test_live import routed_request
from tests.sessions import session_record_mfa

pytestmark = [
    pytest.mark.slow,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    # The change is made in this process; its `deliver_event` task runs here after commit.
    pytest.mark.usefixtures("celery_eager"),
]

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "civicdesk-test-twoservers:asgi"
TIMEOUT = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"daphne on {port} exited with {proc.returncode}"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"daphne on {port} did not start in {timeout}s")


def _http(base: str, method: str, path: str, body=None, token=None) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 - loopback
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Content-Type": "application/json",
            **({"X-Session-Token": token} if token else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


async def receive(websocket) -> dict:
    return json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))


def app_session_token(user) -> str:
    """An allauth app session token, as /_allauth/app/v1/auth/login would hand out.

    (Made directly: the test settings hash passwords with MD5, which the servers don't accept.)
    """
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    # Staff powers need a sign-in that passed the second factor (what password + TOTP records).
    session_record_mfa(store, user)
    return store.session_key


@pytest.fixture
def two_servers(settings, tmp_path):
    """Start daphne A and B on free ports against the test database and our Redis prefix."""
    config = json.loads(json.dumps(settings.CHANNEL_LAYERS))
    config["default"]["CONFIG"]["prefix"] = PREFIX
    settings.CHANNEL_LAYERS = config  # this process publishes with the same prefix
    database_url = urlunsplit(
        urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"])
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": database_url,
        "CHANNELS_PREFIX": PREFIX,
        "CIVICDESK_TESTING": "1",
        "LOG_LEVEL": "WARNING",
    }
    daphne = str(Path(sys.executable).with_name("daphne"))
    servers = []
    try:
        for name in ("a", "b"):
            port = _free_port()
            log = open(tmp_path / f"daphne-{name}.log", "wb")  # noqa: SIM115
            proc = subprocess.Popen(
                [daphne, "-b", "127.0.0.1", "-p", str(port), "portal.asgi:application"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            servers.append((port, proc, log))
        for port, proc, _ in servers:
            _wait_port(port, proc)
        yield [port for port, _, _ in servers]
    finally:
        for _, proc, log in servers:
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def test_change_through_server_a_reaches_client_on_server_b(
    two_servers, resident, clerk_roads, roads
):
    port_a, port_b = two_servers
    http_a = f"http://127.0.0.1:{port_a}"
    request = routed_request(reporter=resident, department=roads)

    resident_token = app_session_token(resident)
    clerk_token = app_session_token(clerk_roads)

    def protocols(token: str) -> list[str]:
        return ["civicdesk.v1", f"civicdesk.token.{token}"]

    async def scenario():
        async with (
            connect(f"ws://127.0.0.1:{port_b}/ws/resident/",
                    subprotocols=protocols(resident_token)) as on_b,
            connect(f"ws://127.0.0.1:{port_a}/ws/queue/",
                    subprotocols=protocols(clerk_token)) as on_a,
        ):
            assert (await receive(on_b))["type"] == "ready"
            assert (await receive(on_a))["type"] == "ready"

            await database_sync_to_async(request_transition)(
                request=request, actor=clerk_roads, to_status=Status.IN_PROGRESS
            )
            heard_on_b = await receive(on_b)
            heard_on_a = await receive(on_a)
            assert (heard_on_b["reference"], heard_on_b["status"]) == (
                request.reference, Status.IN_PROGRESS,
            )
            assert heard_on_a["type"] == "queue.item"
            assert heard_on_a["version"] == heard_on_b["version"]

            # The resident signs out through server A; their socket on server B closes.
            status, _ = await database_sync_to_async(_http)(
                http_a, "DELETE", "/_allauth/app/v1/auth/session", token=resident_token
            )
            assert status == 401
            assert await receive(on_b) == {
                "type": "error", "code": "signed_out",
            }
            with pytest.raises(ConnectionClosed) as closed:
                await receive(on_b)
            assert closed.value.rcvd.code == 4401

            # The clerk's socket on A is untouched by the resident's logout.
            await on_a.send(json.dumps({"type": "ping"}))
            assert await receive(on_a) == {"type": "pong"}

    async_to_sync(scenario)()
