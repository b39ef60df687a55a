"""Portal test setup: compiled message catalogs (as `make messages` builds them) and a clean
cache per test (statistics and once-only form tokens live there)."""

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
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Factories set a password per user; the production hasher makes each one take ~0.5 s.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
