"""Production mode refuses to start without its secrets, and passes the deploy checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.portal.test_city import REAL_CITY

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CIVICDESK_"))
    }
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_production_mode_without_a_secret_key_stops_with_a_clear_error() -> None:
    result = _run("check", DJANGO_DEBUG="0", DJANGO_ALLOWED_HOSTS="city.example")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


@pytest.mark.slow
def test_production_values_pass_check_deploy_at_warning_level() -> None:
    result = _run(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="a-long-random-production-secret-key-for-the-deploy-check-0123456789",
        CIVICDESK_TESTING="0",
        **REAL_CITY,
        DJANGO_ALLOWED_HOSTS="service.xiongan.gov.cn",
    )
    assert result.returncode == 0, result.stderr
