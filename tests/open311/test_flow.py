"""End to end: a request filed over Open311 is routed, lands in the clerk's queue, and the
clerk's status changes show through GET requests/{id} and FixMyStreet's update feed."""

from __future__ import annotations

import pytest

from outbox.models import OutboxMessage
from services.models import Channel, ServiceRequest, Status
from tests.open311.conftest import both

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _eager_tasks():
    """Routing runs in-process here (with REDIS_URL the app is not eager by default);
    test_flow_worker.py routes through a real worker."""
    from portal.celery import app

    old = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = old


def file_over_open311(api, client_app, django_capture_on_commit_callbacks) -> str:
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/open311/v2/requests.xml",
            {"api_key": client_app.raw, "service_code": "pothole", "lat": "39.05",
             "long": "116.05", "description": "Deep hole by the bus stop",
             "email": "li@example.org"},
            format="multipart",
        )
    assert response.status_code == 200
    return ServiceRequest.objects.get().reference


def test_a_request_filed_over_open311_is_routed_to_the_category_department(
    api, client_app, pothole, roads, triage, django_capture_on_commit_callbacks
):
    reference = file_over_open311(api, client_app, django_capture_on_commit_callbacks)
    request = ServiceRequest.objects.get(reference=reference)
    assert request.status == Status.ROUTED
    assert request.department == roads
    assert request.channel == Channel.OPEN311
    assert not OutboxMessage.objects.filter(published_at__isnull=True).exists()
    _, _, data = both(api, f"/open311/v2/requests/{reference}")
    assert (data[0]["status"], data[0]["agency_responsible"]) == ("open", "Roads")


def test_the_routed_request_appears_in_the_clerk_queue(
    api, client_app, pothole, roads, triage, clerk_roads, client_for,
    django_capture_on_commit_callbacks,
):
    reference = file_over_open311(api, client_app, django_capture_on_commit_callbacks)
    queue = client_for(clerk_roads).get("/api/v1/queue")
    assert queue.status_code == 200
    item = next(r for r in queue.json()["results"] if r["reference"] == reference)
    assert item["status"] == "routed"
    assert item["department"]["code"] == "roads"


def test_the_clerk_status_changes_are_visible_over_open311(
    api, client_app, pothole, roads, triage, clerk_roads, client_for,
    django_capture_on_commit_callbacks,
):
    reference = file_over_open311(api, client_app, django_capture_on_commit_callbacks)
    clerk = client_for(clerk_roads)
    url = f"/api/v1/staff/requests/{reference}/transition"
    with django_capture_on_commit_callbacks(execute=True):
        assert clerk.post(url, {"to_status": "in_progress"}).status_code == 200
    _, _, data = both(api, f"/open311/v2/requests/{reference}")
    assert data[0]["status"] == "open"

    with django_capture_on_commit_callbacks(execute=True):
        response = clerk.post(url, {"to_status": "resolved", "outcome": "fixed",
                                    "text": "Filled and rolled on Tuesday."})
        assert response.status_code == 200, response.content
    _, _, data = both(api, f"/open311/v2/requests/{reference}")
    assert data[0]["status"] == "closed"
    assert data[0]["status_notes"] == "Filled and rolled on Tuesday."

    _, root, updates = both(api, "/open311/v2/servicerequestupdates")
    assert root == "service_request_updates"
    mine = [u for u in updates if u["service_request_id"] == reference]
    # routed, started, resolved as fixed: FixMyStreet's extended statuses
    assert [u["status"] for u in mine] == ["open", "in_progress", "fixed"]
    assert mine[-1]["description"] == "Filled and rolled on Tuesday."
