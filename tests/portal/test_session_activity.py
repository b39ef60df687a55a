"""Session activity (allauth UserSession: last seen, IP) is written at most once a minute."""

from __future__ import annotations

import pytest
from allauth.usersessions.models import UserSession
from django.core.cache import cache
from django.test import Client

from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db


def _signed_in(user) -> Client:
    client = Client(REMOTE_ADDR="192.0.2.10")
    mfa_login(client, user)
    return client


def _last_seen(user):
    return UserSession.objects.get(user=user).last_seen_at


def test_a_signed_in_request_records_the_session_as_seen(resident):
    _signed_in(resident).get("/")

    session = UserSession.objects.get(user=resident)
    assert session.ip == "192.0.2.10"


def test_a_second_request_within_the_minute_writes_nothing(resident):
    client = _signed_in(resident)
    client.get("/")
    first = _last_seen(resident)

    client.get("/")

    assert _last_seen(resident) == first


def test_activity_is_recorded_again_once_the_minute_has_passed(resident):
    client = _signed_in(resident)
    client.get("/")
    first = _last_seen(resident)
    cache.clear()  # the once-a-minute marks expire

    client.get("/")

    assert _last_seen(resident) > first
