"""Sessions end after inactivity (sooner for staff) and after an absolute lifetime."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from portal.middleware import SEEN, STARTED
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db


def _client_logged_in_as(user, *, started_ago: int, seen_ago: int) -> Client:
    client = Client()
    mfa_login(client, user)
    client.get("/api/v1/me")  # first request stamps the session
    session = client.session
    now = int(time.time())
    session[STARTED] = now - started_ago
    session[SEEN] = now - seen_ago
    session.save()
    return client


def test_resident_session_survives_a_short_pause(resident) -> None:
    client = _client_logged_in_as(resident, started_ago=600, seen_ago=600)
    assert client.get("/api/v1/me").status_code == 200


def test_staff_session_ends_after_thirty_idle_minutes(clerk_roads) -> None:
    client = _client_logged_in_as(clerk_roads, started_ago=3600, seen_ago=31 * 60)
    assert client.get("/api/v1/me").status_code == 401


def test_resident_session_ends_after_the_idle_limit(resident) -> None:
    client = _client_logged_in_as(resident, started_ago=5 * 3600, seen_ago=4 * 3600 + 60)
    assert client.get("/api/v1/me").status_code == 401


def test_any_session_ends_after_the_absolute_limit_even_when_active(resident) -> None:
    client = _client_logged_in_as(resident, started_ago=12 * 3600 + 60, seen_ago=10)
    assert client.get("/api/v1/me").status_code == 401


# --- App tokens: the same limits (an app token is a session) ---------------------------------


def _token_used_then_left(user, *, started_ago: int, seen_ago: int) -> str:
    from django.contrib.sessions.backends.cached_db import SessionStore

    from tests.sessions import app_login_with_totp

    _client, token = app_login_with_totp(user)
    headers = {"X-Session-Token": token}
    assert Client().get("/api/v1/me", headers=headers).status_code == 200  # stamps it
    session = SessionStore(session_key=token)
    now = int(time.time())
    session[STARTED] = now - started_ago
    session[SEEN] = now - seen_ago
    session.save()
    return token


def test_staff_app_token_ends_after_the_staff_idle_limit(settings, clerk_roads) -> None:
    # The pen test: a 20 s staff idle limit, the clerk's token used again after 90 s.
    settings.CIVICDESK = {**settings.CIVICDESK, "STAFF_IDLE_TIMEOUT": 20}
    token = _token_used_then_left(clerk_roads, started_ago=120, seen_ago=90)
    assert Client().get("/api/v1/me", headers={"X-Session-Token": token}).status_code == 401
    # Ended, not merely refused once: allauth's own app endpoints no longer know it either.
    response = Client().get("/_allauth/app/v1/auth/session", headers={"X-Session-Token": token})
    assert response.status_code in (401, 410)


def test_staff_app_token_survives_a_pause_within_the_staff_idle_limit(clerk_roads) -> None:
    token = _token_used_then_left(clerk_roads, started_ago=3600, seen_ago=29 * 60)
    assert Client().get("/api/v1/queue", headers={"X-Session-Token": token}).status_code == 200


def test_resident_app_token_survives_a_pause_longer_than_the_staff_limit(resident) -> None:
    token = _token_used_then_left(resident, started_ago=3600, seen_ago=31 * 60)
    assert Client().get("/api/v1/me", headers={"X-Session-Token": token}).status_code == 200


def test_resident_app_token_ends_after_the_resident_idle_limit(resident) -> None:
    token = _token_used_then_left(resident, started_ago=5 * 3600, seen_ago=4 * 3600 + 60)
    assert Client().get("/api/v1/me", headers={"X-Session-Token": token}).status_code == 401


def test_any_app_token_ends_after_the_absolute_limit_even_when_active(resident) -> None:
    token = _token_used_then_left(resident, started_ago=12 * 3600 + 60, seen_ago=10)
    assert Client().get("/api/v1/me", headers={"X-Session-Token": token}).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_socket_signed_in_with_an_idle_staff_token_is_refused(clerk_roads) -> None:
    from tests.services.test_consumers import expect_close, open_socket, run

    token = _token_used_then_left(clerk_roads, started_ago=3600, seen_ago=31 * 60)

    async def scenario():
        socket = await open_socket("/ws/queue/", origin=None)
        await socket.send_json_to({"type": "auth", "token": token})
        assert await expect_close(socket, 4401) == [{"type": "error", "code": "invalid_token"}]
        await socket.disconnect()

    run(scenario)
