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
