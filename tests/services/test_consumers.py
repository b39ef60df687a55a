"""WebSocket streams end to end through portal.asgi (auth middleware, routing, consumers).

The behaviours the issue names run on the in-memory layer and, with REDIS_URL set, again on
channels-redis (`channel_layer`); the rest run on the configured layer (`configured_layer`).
Negative checks are ordered, not timed: the thing that must not arrive is sent first, then
something that must; the first frame received proves the first was never delivered.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import Client

from portal.asgi import application
from services.models import DepartmentMembership, Status
from services.services import request_transition
from tests.factories import PASSWORD
from tests.services.test_live import (
    channel_layer,  # noqa: F401 - fixture
    configured_layer,  # noqa: F401 - fixture
    internal_note,
    public_reply,
    routed_request,
)
from tests.sessions import mfa_login

# Events reach the channel layer through the `deliver_event` task, run in-process here.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_eager")]

ORIGIN = "http://127.0.0.1:8000"
APP = "/_allauth/app/v1"
TIMEOUT = 3


# --- helpers ------------------------------------------------------------------------------


def session_cookie(user) -> str:
    client = Client()
    mfa_login(client, user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def app_login(user) -> str:
    response = Client().post(
        f"{APP}/auth/login",
        {"email": user.email, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()["meta"]["session_token"]


async def open_socket(path, *, cookie=None, origin=ORIGIN, subprotocols=None):
    headers = []
    if cookie is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(
        application, path, headers=headers, subprotocols=subprotocols
    )
    connected, subprotocol = await communicator.connect(timeout=TIMEOUT)
    communicator.accepted = connected
    communicator.subprotocol = subprotocol
    return communicator


async def socket_for(user, path):
    """A web socket signed in with the user's session cookie, past its `ready` frame."""
    cookie = await database_sync_to_async(session_cookie)(user)
    communicator = await open_socket(path, cookie=cookie)
    ready = await communicator.receive_json_from(timeout=TIMEOUT)
    assert ready["type"] == "ready", ready
    return communicator


async def expect_close(communicator, code):
    """Frames until the close; returns the error frame sent before it (if any)."""
    frames = []
    while True:
        output = await communicator.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            assert output.get("code") == code, (output, frames)
            return frames
        frames.append(json.loads(output["text"]))


def run(scenario):
    async_to_sync(scenario)()


transition = database_sync_to_async(request_transition)
note = database_sync_to_async(internal_note)
reply = database_sync_to_async(public_reply)
make_request = database_sync_to_async(routed_request)


# --- what each stream receives -------------------------------------------------------------


def test_resident_receives_update_of_own_request_and_not_of_another_residents(
    channel_layer, resident, other_resident, clerk_roads, roads  # noqa: F811
):
    mine = routed_request(reporter=resident, department=roads)
    theirs = routed_request(reporter=other_resident, department=roads)

    async def scenario():
        socket = await socket_for(resident, "/ws/resident/")
        await transition(request=theirs, actor=clerk_roads, to_status=Status.IN_PROGRESS)
        await transition(request=mine, actor=clerk_roads, to_status=Status.IN_PROGRESS)

        message = await socket.receive_json_from(timeout=TIMEOUT)
        assert message["reference"] == mine.reference
        assert message["status"] == Status.IN_PROGRESS
        assert message["version"] == mine.version + 1
        assert message["event"]["type"] == "status_changed"
        assert await socket.receive_nothing(timeout=0.2)
        await socket.disconnect()

    run(scenario)


def test_clerk_of_roads_receives_roads_queue_events_and_not_parks(
    channel_layer, resident, clerk_roads, clerk_parks, roads, parks  # noqa: F811
):
    in_parks = routed_request(reporter=resident, department=parks)
    in_roads = routed_request(reporter=resident, department=roads)

    async def scenario():
        socket = await socket_for(clerk_roads, "/ws/queue/")
        await transition(request=in_parks, actor=clerk_parks, to_status=Status.IN_PROGRESS)
        await transition(request=in_roads, actor=clerk_roads, to_status=Status.IN_PROGRESS)

        message = await socket.receive_json_from(timeout=TIMEOUT)
        assert message["type"] == "queue.item"
        assert message["reference"] == in_roads.reference
        assert message["item"]["department_id"] == roads.pk
        assert message["item"]["in_queue"] is True
        await socket.disconnect()

    run(scenario)


def test_internal_note_never_reaches_resident_socket_but_reaches_staff_request_stream(
    channel_layer, resident, clerk_roads, roads  # noqa: F811
):
    request = routed_request(reporter=resident, department=roads)

    async def scenario():
        resident_socket = await socket_for(resident, "/ws/resident/")
        staff_socket = await socket_for(clerk_roads, f"/ws/requests/{request.reference}/")
        secret = await note(request, clerk_roads, "Reporter is a known complainer.")
        public = await reply(request, clerk_roads)

        first = await resident_socket.receive_json_from(timeout=TIMEOUT)
        assert first["event"]["id"] == public.pk
        assert first["previous_version"] == secret.version - 1
        staff_first = await staff_socket.receive_json_from(timeout=TIMEOUT)
        assert staff_first["event"]["id"] == secret.pk
        assert staff_first["event"]["text"] == "Reporter is a known complainer."
        assert staff_first["event"]["visibility"] == "internal"
        await resident_socket.disconnect()
        await staff_socket.disconnect()

    run(scenario)


def test_nothing_is_sent_for_a_rolled_back_transaction(
    channel_layer, resident, clerk_roads, roads  # noqa: F811
):
    request = routed_request(reporter=resident, department=roads)

    class Abandon(Exception):
        pass

    def change_then_roll_back():
        try:
            with transaction.atomic():
                request_transition(
                    request=request, actor=clerk_roads, to_status=Status.IN_PROGRESS
                )
                raise Abandon
        except Abandon:
            pass
        request.refresh_from_db()
        assert request.status == Status.ROUTED

    async def scenario():
        socket = await socket_for(resident, "/ws/resident/")
        await database_sync_to_async(change_then_roll_back)()
        committed = await reply(request, clerk_roads)

        message = await socket.receive_json_from(timeout=TIMEOUT)
        assert message["event"]["id"] == committed.pk
        assert message["status"] == Status.ROUTED
        await socket.disconnect()

    run(scenario)


# --- authentication ------------------------------------------------------------------------


def test_app_client_authenticates_with_its_session_token_as_subprotocol(
    channel_layer, resident, clerk_roads, roads  # noqa: F811
):
    request = routed_request(reporter=resident, department=roads)
    token = app_login(resident)

    async def scenario():
        socket = await open_socket(
            "/ws/resident/", origin=None, subprotocols=["civicdesk.v1", f"civicdesk.token.{token}"]
        )
        assert socket.accepted
        assert socket.subprotocol == "civicdesk.v1"  # the token is never echoed
        assert (await socket.receive_json_from(timeout=TIMEOUT))["type"] == "ready"
        await transition(request=request, actor=clerk_roads, to_status=Status.IN_PROGRESS)
        assert (await socket.receive_json_from(timeout=TIMEOUT))["reference"] == request.reference
        await socket.disconnect()

    run(scenario)


def test_app_client_authenticates_with_a_first_auth_frame(
    configured_layer, resident  # noqa: F811
):
    token = app_login(resident)

    async def scenario():
        socket = await open_socket("/ws/resident/", origin=None)
        await socket.send_json_to({"type": "auth", "token": token})
        assert (await socket.receive_json_from(timeout=TIMEOUT)) == {
            "type": "ready",
            "stream": "resident",
        }
        await socket.send_json_to({"type": "ping"})
        assert (await socket.receive_json_from(timeout=TIMEOUT)) == {"type": "pong"}
        await socket.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    "token", ["not-a-real-session-token", "x" * 400, "bad token with spaces", 42, None]
)
def test_invalid_token_in_auth_frame_closes_with_4401(configured_layer, token):  # noqa: F811
    async def scenario():
        socket = await open_socket("/ws/resident/", origin=None)
        await socket.send_json_to({"type": "auth", "token": token})
        frames = await expect_close(socket, 4401)
        assert frames == [{"type": "error", "code": "invalid_token"}]
        await socket.disconnect()

    run(scenario)


def test_invalid_token_subprotocol_closes_with_4401(configured_layer):  # noqa: F811
    async def scenario():
        socket = await open_socket(
            "/ws/queue/", origin=None, subprotocols=["civicdesk.v1", "civicdesk.token.nope12345"]
        )
        await expect_close(socket, 4401)
        await socket.disconnect()

    run(scenario)


def test_anything_but_auth_before_signing_in_closes_with_4401(configured_layer):  # noqa: F811
    async def scenario():
        socket = await open_socket("/ws/resident/", origin=None)
        await socket.send_json_to({"type": "ping"})
        assert await expect_close(socket, 4401) == [{"type": "error", "code": "auth_required"}]
        await socket.disconnect()

    run(scenario)


def test_socket_that_never_signs_in_is_closed_after_the_auth_timeout(
    configured_layer, settings  # noqa: F811
):
    settings.CIVICDESK_WS_AUTH_TIMEOUT = 0.2

    async def scenario():
        socket = await open_socket("/ws/resident/", origin=None)
        assert await expect_close(socket, 4408) == [{"type": "error", "code": "auth_timeout"}]
        await socket.disconnect()

    run(scenario)


def test_session_cookie_from_a_foreign_origin_is_refused(configured_layer, resident):  # noqa: F811
    cookie = session_cookie(resident)

    async def scenario():
        socket = await open_socket("/ws/resident/", cookie=cookie, origin="https://evil.example")
        assert socket.accepted is False
        await socket.disconnect()

    run(scenario)


def test_session_cookie_without_origin_does_not_sign_in(configured_layer, resident):  # noqa: F811
    cookie = session_cookie(resident)

    async def scenario():
        socket = await open_socket("/ws/resident/", cookie=cookie, origin=None)
        await socket.send_json_to({"type": "ping"})
        await expect_close(socket, 4401)
        await socket.disconnect()

    run(scenario)


# --- streams one may not open ------------------------------------------------------------------


def test_resident_cannot_open_the_queue_stream(configured_layer, resident):  # noqa: F811
    async def scenario():
        cookie = await database_sync_to_async(session_cookie)(resident)
        socket = await open_socket("/ws/queue/", cookie=cookie)
        assert await expect_close(socket, 4403) == [{"type": "error", "code": "not_staff"}]
        await socket.disconnect()

    run(scenario)


@pytest.mark.parametrize("who", ["reporter", "clerk_parks"])
def test_staff_stream_of_a_request_one_may_not_see_closes_with_4404(
    configured_layer, who, resident, clerk_parks, roads  # noqa: F811
):
    request = routed_request(reporter=resident, department=roads)
    user = {"reporter": resident, "clerk_parks": clerk_parks}[who]

    async def scenario():
        cookie = await database_sync_to_async(session_cookie)(user)
        socket = await open_socket(f"/ws/requests/{request.reference}/", cookie=cookie)
        assert await expect_close(socket, 4404) == [{"type": "error", "code": "not_found"}]
        await socket.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    "path", ["/ws/requests/CD-2222222/", "/ws/requests/../queue/", "/ws/nothing-here/"]
)
def test_unknown_stream_or_reference_closes_with_4404(
    configured_layer, path, clerk_roads  # noqa: F811
):
    async def scenario():
        cookie = await database_sync_to_async(session_cookie)(clerk_roads)
        socket = await open_socket(path, cookie=cookie)
        frames = await expect_close(socket, 4404)
        assert frames[0]["type"] == "error"
        await socket.disconnect()

    run(scenario)


# --- bad frames ---------------------------------------------------------------------------------


def test_bad_frames_get_error_frames_and_the_socket_stays_usable(
    configured_layer, clerk_roads  # noqa: F811
):
    async def scenario():
        socket = await socket_for(clerk_roads, "/ws/queue/")
        await socket.send_to(text_data="{not json")
        assert (await socket.receive_json_from(timeout=TIMEOUT))["code"] == "invalid_json"
        await socket.send_to(text_data="[1, 2]")
        assert (await socket.receive_json_from(timeout=TIMEOUT))["code"] == "invalid_message"
        await socket.send_json_to({"type": "subscribe", "group": "queue.1"})
        assert (await socket.receive_json_from(timeout=TIMEOUT))["code"] == "unknown_type"
        await socket.send_to(bytes_data=b"\x00\x01")
        assert (await socket.receive_json_from(timeout=TIMEOUT))["code"] == (
            "binary_not_supported"
        )
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
        await socket.disconnect()

    run(scenario)


def test_oversized_frame_closes_with_1009(configured_layer, clerk_roads):  # noqa: F811
    async def scenario():
        socket = await socket_for(clerk_roads, "/ws/queue/")
        await socket.send_to(text_data=json.dumps({"type": "ping", "pad": "x" * 10_000}))
        await expect_close(socket, 1009)
        await socket.disconnect()

    run(scenario)


def test_a_client_that_keeps_sending_garbage_is_closed_with_4400(
    configured_layer, clerk_roads  # noqa: F811
):
    async def scenario():
        socket = await socket_for(clerk_roads, "/ws/queue/")
        for _ in range(11):
            await socket.send_to(text_data="garbage")
        frames = await expect_close(socket, 4400)
        assert frames[-1] == {"type": "error", "code": "too_many_bad_frames"}
        await socket.disconnect()

    run(scenario)


# --- sockets close when the session or the roles end -------------------------------------------


def test_socket_is_closed_when_the_app_logs_out(channel_layer, resident):  # noqa: F811
    token = app_login(resident)

    def log_out():
        response = Client().delete(f"{APP}/auth/session", headers={"X-Session-Token": token})
        assert response.status_code == 401

    async def scenario():
        socket = await open_socket(
            "/ws/resident/", origin=None, subprotocols=["civicdesk.v1", f"civicdesk.token.{token}"]
        )
        await socket.receive_json_from(timeout=TIMEOUT)
        await database_sync_to_async(log_out)()
        assert await expect_close(socket, 4401) == [{"type": "error", "code": "signed_out"}]
        await socket.disconnect()

    run(scenario)


def test_web_logout_closes_that_sessions_socket_and_not_the_other_devices(
    configured_layer, resident  # noqa: F811
):
    web = Client()
    mfa_login(web, resident)
    phone_token = app_login(resident)

    async def scenario():
        web_socket = await open_socket(
            "/ws/resident/", cookie=web.cookies[settings.SESSION_COOKIE_NAME].value
        )
        await web_socket.receive_json_from(timeout=TIMEOUT)
        phone_socket = await open_socket("/ws/resident/", origin=None)
        await phone_socket.send_json_to({"type": "auth", "token": phone_token})
        await phone_socket.receive_json_from(timeout=TIMEOUT)

        await database_sync_to_async(web.post)("/accounts/logout/")

        await expect_close(web_socket, 4401)
        await phone_socket.send_json_to({"type": "ping"})
        assert await phone_socket.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
        await web_socket.disconnect()
        await phone_socket.disconnect()

    run(scenario)


def test_losing_the_department_role_closes_the_queue_socket(
    configured_layer, clerk_roads  # noqa: F811
):
    async def scenario():
        socket = await socket_for(clerk_roads, "/ws/queue/")
        await database_sync_to_async(
            lambda: DepartmentMembership.objects.get(user=clerk_roads).delete()
        )()
        assert await expect_close(socket, 4409) == [{"type": "error", "code": "reconnect"}]
        await socket.disconnect()

        reconnect = await open_socket(
            "/ws/queue/", cookie=await database_sync_to_async(session_cookie)(clerk_roads)
        )
        await expect_close(reconnect, 4403)
        await reconnect.disconnect()

    run(scenario)


def test_deactivating_the_account_closes_its_sockets(configured_layer, resident):  # noqa: F811
    def deactivate():
        resident.is_active = False
        resident.save(update_fields=["is_active"])

    async def scenario():
        socket = await socket_for(resident, "/ws/resident/")
        await database_sync_to_async(deactivate)()
        await expect_close(socket, 4409)
        await socket.disconnect()

    run(scenario)


def test_removing_the_second_factor_staff_roles_need_closes_the_queue_socket(
    configured_layer, clerk_roads  # noqa: F811
):
    from allauth.mfa.models import Authenticator

    async def scenario():
        socket = await socket_for(clerk_roads, "/ws/queue/")
        await database_sync_to_async(
            lambda: Authenticator.objects.filter(user=clerk_roads).delete()
        )()
        await expect_close(socket, 4409)
        await socket.disconnect()

    run(scenario)


@pytest.mark.redis
def test_redis_layer_reads_time_out_later_than_its_blocking_receive(configured_layer):  # noqa: F811
    # redis-py's default 5 s read timeout equals channels-redis' 5 s BZPOPMIN: idle sockets
    # died with 1011 under load until settings gave the layer a longer socket timeout.
    from redis._defaults import DEFAULT_SOCKET_TIMEOUT  # noqa: PLC2701 - the default under test

    timeouts = [h.get("socket_timeout", DEFAULT_SOCKET_TIMEOUT) for h in configured_layer.hosts]
    assert all(t is None or t > configured_layer.brpop_timeout * 2 for t in timeouts), timeouts


@pytest.mark.redis
@pytest.mark.slow
def test_socket_idle_longer_than_the_layers_blocking_receive_still_hears_changes(
    configured_layer, resident, clerk_roads, roads  # noqa: F811
):
    request = routed_request(reporter=resident, department=roads)

    async def scenario():
        socket = await socket_for(resident, "/ws/resident/")
        await asyncio.sleep(configured_layer.brpop_timeout + 2)
        await transition(request=request, actor=clerk_roads, to_status=Status.IN_PROGRESS)
        assert (await socket.receive_json_from(timeout=TIMEOUT))["reference"] == request.reference
        await socket.disconnect()

    run(scenario)


def test_socket_whose_session_ended_without_a_close_message_is_closed_by_the_recheck(
    configured_layer, settings, resident  # noqa: F811
):
    # E.g. Redis was down when the user signed out, or the session simply expired.
    settings.CIVICDESK_WS_RECHECK_SECONDS = 0.2
    from django.contrib.sessions.backends.cached_db import SessionStore

    async def scenario():
        cookie = await database_sync_to_async(session_cookie)(resident)
        socket = await open_socket("/ws/resident/", cookie=cookie)
        assert (await socket.receive_json_from(timeout=TIMEOUT))["type"] == "ready"
        assert await socket.receive_nothing(timeout=0.5)  # still valid: stays open

        await database_sync_to_async(SessionStore(session_key=cookie).delete)()

        assert await expect_close(socket, 4401) == [{"type": "error", "code": "session_ended"}]
        await socket.disconnect()

    run(scenario)
