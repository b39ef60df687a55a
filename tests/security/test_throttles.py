"""Abuse limits: every API endpoint is rate-limited per account and per IP, with Retry-After."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def tight_limits(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "user": "3/min",
            "anon": "3/min",
        },
    }
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    api_settings.reload()
    SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    cache.clear()
    yield
    cache.clear()
    settings.REST_FRAMEWORK = settings.REST_FRAMEWORK  # restored by the settings fixture
    api_settings.reload()
    SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES


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
