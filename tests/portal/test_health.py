"""GET /healthz reports each component and answers 503 when one fails."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_healthz_reports_every_component_ok() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}


def test_healthz_answers_503_when_the_broker_is_unreachable(settings) -> None:
    # Port 9 (discard) on loopback: nothing listens there, the connection is refused at once.
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "failing"
    assert response.json()["status"] == "failing"


def test_healthz_needs_no_login_and_reveals_no_connection_urls(settings) -> None:
    settings.REDIS_URL = "redis://:s3cret@127.0.0.1:9/0"
    body = Client().get("/healthz").content.decode()
    assert "s3cret" not in body
    assert "redis://" not in body
