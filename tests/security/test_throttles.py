"""Abuse limits: every API endpoint is rate-limited per account and per IP, with Retry-After."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def tight_limits():
    """User and anonymous limits of 3 a minute for this test only.

    DRF reads the rates into SimpleRateThrottle.THROTTLE_RATES at import, so the class
    attribute itself is swapped and put back afterwards.
    """
    from rest_framework.throttling import SimpleRateThrottle

    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = {**original, "user": "3/min", "anon": "3/min"}
    cache.clear()
    yield
    SimpleRateThrottle.THROTTLE_RATES = original
    cache.clear()


def test_a_signed_in_caller_over_the_limit_gets_429_with_retry_after(resident, tight_limits):
    client = APIClient()
    client.force_authenticate(resident)
    statuses = [client.get("/api/v1/me").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/v1/me")
    assert int(response["Retry-After"]) > 0
    assert response.json()["status"] == 429


def test_an_anonymous_caller_over_the_limit_gets_429(tight_limits):
    client = APIClient()
    statuses = [client.get("/api/v1/categories").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
