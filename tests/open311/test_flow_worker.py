"""With real Redis: a request filed over Open311 is routed by a real Celery worker."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker

from portal.celery import app
from services.models import ServiceRequest, Status
from services.open311.services import api_key_issue
from tests.factories import CategoryFactory, DepartmentFactory
from tests.open311.conftest import parse

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_worker_routes_a_request_filed_over_open311(api):
    roads = DepartmentFactory(code="roads", name_en="Roads")
    DepartmentFactory(code="triage", name_en="Triage", is_triage=True)
    CategoryFactory(code="pothole", name_en="Pothole", department=roads)
    _, raw_key = api_key_issue(name="Worker test")
    with start_worker(app, pool="solo", perform_ping_check=False,
                      queues=["routing", "default", "notifications", "maintenance"]):
        response = api.post(
            "/open311/v2/requests.json",
            {"api_key": raw_key, "service_code": "pothole", "lat": "39.05", "long": "116.05"},
            format="multipart",
        )
        assert response.status_code == 200
        reference = parse(response)[1][0]["service_request_id"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            request = ServiceRequest.objects.get(reference=reference)
            if request.status == Status.ROUTED:
                break
            time.sleep(0.2)
    assert request.status == Status.ROUTED
    assert request.department == roads
    detail = api.get(f"/open311/v2/requests/{reference}.xml")
    assert parse(detail)[1][0]["agency_responsible"] == "Roads"
