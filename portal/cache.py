"""The Django cache on Redis, tolerant of Redis being down.

The cache holds sessions (cached_db falls back to the database), rate-limit counters and
short-lived marks. None of that may turn a Redis outage into 500s on every request: while
Redis is unreachable, reads miss, writes are dropped, and a warning is logged. Rate limits
fail open for the outage; sessions keep working from the database.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)


def _tolerant(name: str, fallback: Callable[..., Any]) -> Callable[..., Any]:
    method = getattr(RedisCache, name)

    @functools.wraps(method)
    def wrapped(self: RedisCache, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except _UNAVAILABLE:
            logger.warning("cache unavailable; %s degraded", name, extra={"cache_op": name})
            return fallback(*args, **kwargs)

    return wrapped


def _default(key: str, default: Any = None, *args: Any, **kwargs: Any) -> Any:
    return default


class SharedClientRedisCacheClient(RedisCacheClient):
    """Django builds a new `redis.Redis` for every cache call, and its constructor fills a
    table of ~170 response callbacks each time (about a third of a millisecond, five times per
    API request). A client is thread-safe and fork-safe (its pool notices a new pid), so keep
    one per connection pool."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Django's own (untyped in django-stubs) helpers, as its get_client uses them.
        base: Any = self
        index = base._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = base._client(connection_pool=base._get_connection_pool(write))
            self._clients[index] = client
        return client


class TolerantRedisCache(RedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient

    get = _tolerant("get", _default)
    set = _tolerant("set", lambda *a, **k: None)
    add = _tolerant("add", lambda *a, **k: False)
    touch = _tolerant("touch", lambda *a, **k: False)
    delete = _tolerant("delete", lambda *a, **k: False)
    get_many = _tolerant("get_many", lambda *a, **k: {})
    set_many = _tolerant("set_many", lambda *a, **k: [])
    delete_many = _tolerant("delete_many", lambda *a, **k: None)
    has_key = _tolerant("has_key", lambda *a, **k: False)
    incr = _tolerant("incr", lambda key, delta=1, *a, **k: delta)
