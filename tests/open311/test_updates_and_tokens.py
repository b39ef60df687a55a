"""FixMyStreet's servicerequestupdates extension, and GET tokens/{token}."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from services.models import Event, Status
from services.services import event_record, request_submit
from tests.open311.conftest import both

pytestmark = pytest.mark.django_db


def file(category, **fields):
    return request_submit(reporter=None, category=category, description="Dark lamp",
                          lat=39.05, lon=116.05, **fields)


def change(request, to_status, text="", type=Event.Type.STATUS_CHANGED):
    from_status = request.status
    # A status change as the workflow records it (the services are tested elsewhere).
    request.status = to_status
    request.save(update_fields=["status"])
    return event_record(request=request, type=type, from_status=from_status,
                        to_status=to_status, text=text)


def test_updates_list_public_changes_with_the_status_after_each(api, pothole):
    request = file(pothole)
    routed = change(request, Status.ROUTED, type=Event.Type.ROUTED)
    reply = event_record(request=request, type=Event.Type.PUBLIC_REPLY, text="Crew booked.")
    change(request, Status.IN_PROGRESS)
    resolved = change(request, Status.RESOLVED, text="Fixed on Tuesday.")
    status, root, data = both(api, "/open311/v2/servicerequestupdates")
    assert (status, root) == (200, "service_request_updates")
    assert [(u["status"], u["description"]) for u in data] == [
        ("open", ""),
        ("open", "Crew booked."),
        ("in_progress", ""),
        ("closed", "Fixed on Tuesday."),  # resolved with no outcome recorded: just closed
    ]
    assert data[0] == {
        "update_id": str(routed.pk),
        "service_request_id": request.reference,
        "status": "open",
        "updated_datetime": timezone.localtime(routed.created_at).isoformat(timespec="seconds"),
        "description": "",
        "media_url": "",
        "external_status_code": "routed",
    }
    assert data[1]["update_id"] == str(reply.pk)
    assert data[3]["update_id"] == str(resolved.pk)


def test_updates_leave_out_internal_notes_resident_text_and_non_public_requests(
    api, pothole, hidden_category, complaint_category
):
    request = file(pothole)
    event_record(request=request, type=Event.Type.INTERNAL_NOTE, text="Slow contractor",
                 visibility=Event.Visibility.INTERNAL)
    event_record(request=request, type=Event.Type.COMMENT_BY_RESIDENT, text="Call me on 138")
    change(request, Status.ROUTED, type=Event.Type.ROUTED)
    change(request, Status.IN_PROGRESS)
    change(request, Status.RESOLVED, text="Fixed.")
    change(request, Status.REOPENED, text="Still dark, I live at number 12",
           type=Event.Type.REOPENED)
    for other in (file(hidden_category), file(complaint_category)):
        change(other, Status.ROUTED, type=Event.Type.ROUTED)
        event_record(request=other, type=Event.Type.PUBLIC_REPLY, text="Secret reply")
    _, _, data = both(api, "/open311/v2/servicerequestupdates")
    assert {u["service_request_id"] for u in data} == {request.reference}
    assert [(u["status"], u["description"]) for u in data][-1] == ("open", "")
    text = str(data)
    for secret in ("Slow contractor", "138", "number 12"):
        assert secret not in text


def test_updates_honour_the_date_window(api, pothole):
    request = file(pothole)
    old = change(request, Status.ROUTED, type=Event.Type.ROUTED)
    Event.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    new = event_record(request=request, type=Event.Type.PUBLIC_REPLY, text="Booked.")
    start = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _, _, data = both(api, "/open311/v2/servicerequestupdates", {"start_date": start})
    assert [u["update_id"] for u in data] == [str(new.pk)]
    end = (timezone.now() - timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _, _, data = both(api, "/open311/v2/servicerequestupdates", {"end_date": end})
    assert [u["update_id"] for u in data] == [str(old.pk)]


def test_updates_refuse_a_span_over_90_days(api):
    status, root, data = both(api, "/open311/v2/servicerequestupdates",
                              {"start_date": "2026-01-01T00:00:00Z",
                               "end_date": "2026-06-01T00:00:00Z"})
    assert (status, root) == (400, "errors")
    assert data == [{"code": 400, "description": "end_date: The range may span at most 90 days."}]


def test_a_request_id_works_as_a_token(api, pothole):
    request = file(pothole)
    status, root, data = both(api, f"/open311/v2/tokens/{request.reference}")
    assert (status, root) == (200, "service_requests")
    assert data == [{"service_request_id": request.reference, "token": request.reference}]


def test_a_token_for_a_non_public_request_is_a_404(api, complaint_category):
    request = file(complaint_category)
    status, _, _ = both(api, f"/open311/v2/tokens/{request.reference}")
    assert status == 404
