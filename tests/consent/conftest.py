"""Fixtures for the consent tests: the demo register and a helper to publish tree heads."""

from __future__ import annotations

import pytest

from consent.demo import seed_register


@pytest.fixture
def register(db):
    seed_register()
