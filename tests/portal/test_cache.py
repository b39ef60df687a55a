"""A Redis outage degrades the cache instead of failing requests."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.cache import TolerantRedisCache
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead_redis_cache(settings):
    # Port 9 on loopback: connections are refused at once.
    settings.CACHES = {
        "default": {
            "BACKEND": "portal.cache.TolerantRedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    from django.core.cache import caches  # re-created by the setting_changed signal

    return caches["default"]


def test_reads_miss_and_writes_are_dropped_while_redis_is_down() -> None:
    cache = TolerantRedisCache("redis://127.0.0.1:9/0", {"OPTIONS": {}})
    cache.set("k", "v")
    assert cache.get("k", "fallback") == "fallback"
    assert cache.add("k", "v") is False


def test_a_signed_in_resident_keeps_working_while_the_session_cache_is_down(
    resident, dead_redis_cache
) -> None:
    client = Client()
    mfa_login(client, resident)
    assert client.get("/api/v1/me").status_code == 200


@pytest.mark.redis
def test_one_redis_client_serves_every_call_to_the_same_server() -> None:
    import os

    cache = TolerantRedisCache(os.environ["REDIS_URL"], {"OPTIONS": {}})
    cache.set("civicdesk-test-shared-client", "v", timeout=5)
    first = cache._cache.get_client(write=True)
    assert cache.get("civicdesk-test-shared-client") == "v"
    assert cache._cache.get_client(write=True) is first
