"""Portal test setup: compiled message catalogs (as `make messages` builds them) and no cached
statistics between tests."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from django.core.cache import cache

ROOT = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    runpy.run_path(str(ROOT / "scripts" / "compile_messages.py"))


@pytest.fixture(autouse=True)
def _clean_cache():
    # Only our keys: with REDIS_URL the cache shares a Redis database with the broker.
    keys = [f"portal:statistics:{lang}" for lang in ("en", "zh-hans")]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Factories set a password per user; the production hasher makes each one take ~0.5 s.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
