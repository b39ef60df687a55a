"""The staff API: queue (filters, order, keyset pages, counts), detail, assign, reply, notes,
return, duplicates, transitions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from services.models import Event, Follow, Priority, ServiceRequest, Status
from services.services import event_record, requests_auto_close
from tests.factories import CategoryFactory, MembershipFactory, UserFactory

QUEUE = "/api/v1/queue"


def _refs(response):
    assert response.status_code == 200, response.content
    return [r["reference"] for r in response.json()["results"]]


def test_queue_orders_by_priority_then_deadline(client_for, clerk_roads, make_request):
    now = timezone.now()
    low_soon = make_request(priority=Priority.LOW, due_at=now + timedelta(hours=1))
    urgent_late = make_request(priority=Priority.URGENT, due_at=now + timedelta(days=3))
    urgent_soon = make_request(priority=Priority.URGENT, due_at=now + timedelta(hours=2))
    normal = make_request(priority=Priority.NORMAL, due_at=now + timedelta(hours=5))
    assert _refs(client_for(clerk_roads).get(QUEUE)) == [
        urgent_soon.reference,
        urgent_late.reference,
        normal.reference,
        low_soon.reference,
    ]


def test_queue_rows_name_things_in_the_callers_language(client_for, clerk_roads, make_request):
    make_request()
    row = client_for(clerk_roads).get(QUEUE, HTTP_ACCEPT_LANGUAGE="zh-hans").json()["results"][0]
    assert row["department"] == {"code": "roads", "name": "道路"}
    assert row["category"]["name"] == "类别"


def test_queue_rows_show_the_start_of_the_description_and_hide_a_home_address(
    client_for, clerk_roads, make_request
):
    make_request(description="x" * 400, address="12 Home Lane", is_private_address=True)
    row = client_for(clerk_roads).get(QUEUE).json()["results"][0]
    assert row["description"] == "x" * 160
    assert row["address"] == ""


def test_queue_rows_name_the_assignee_and_nothing_more(client_for, clerk_roads, make_request):
    make_request(assignee=clerk_roads)
    row = client_for(clerk_roads).get(QUEUE).json()["results"][0]
    assert row["assignee"] == {"id": clerk_roads.pk, "display_name": clerk_roads.display_name}
    assert row["district"] is None


def test_queue_shows_only_my_departments_open_work(
    client_for, clerk_roads, make_request, parks
):
    mine = make_request(status=Status.IN_PROGRESS)
    make_request(status=Status.CLOSED)
    make_request(department=parks)
    assert _refs(client_for(clerk_roads).get(QUEUE)) == [mine.reference]


def test_queue_keyset_pages_cover_everything_once_in_order(client_for, clerk_roads, make_request):
    now = timezone.now()
    made = [
        make_request(
            priority=[Priority.LOW, Priority.HIGH, Priority.NORMAL][i % 3],
            due_at=None if i == 4 else now + timedelta(hours=i % 4),
        )
        for i in range(11)
    ]
    client = client_for(clerk_roads)
    full = _refs(client.get(QUEUE + "?limit=100"))
    seen, cursor = [], None
    while True:
        page = client.get(QUEUE, {"limit": 4, **({"cursor": cursor} if cursor else {})}).json()
        seen += [r["reference"] for r in page["results"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == full
    assert sorted(seen) == sorted(r.reference for r in made)


@pytest.mark.parametrize(
    ("query", "expected_name"),
    [
        ({"status": "in_progress"}, "working"),
        ({"priority": "urgent"}, "urgent"),
        ({"overdue": "true"}, "overdue"),
        ({"assigned": "me"}, "mine"),
        ({"category": "pothole"}, "pothole"),
        ({"district": "central"}, "in_district"),
    ],
)
def test_queue_filters(
    client_for, clerk_roads, make_request, pothole, district, query, expected_name
):
    now = timezone.now()
    made = {
        "working": make_request(status=Status.IN_PROGRESS),
        "urgent": make_request(priority=Priority.URGENT),
        "overdue": make_request(due_at=now - timedelta(hours=1)),
        "mine": make_request(assignee=clerk_roads),
        "pothole": make_request(category=pothole),
        "in_district": make_request(district=district),
        "text": make_request(description="A bicycle is chained to the lamp post."),
    }
    assert _refs(client_for(clerk_roads).get(QUEUE, query)) == [made[expected_name].reference]


def test_queue_search_by_reference(client_for, clerk_roads, make_request):
    target = make_request()
    make_request()
    response = client_for(clerk_roads).post(QUEUE, {"q": target.reference.lower()}, format="json")
    assert _refs(response) == [target.reference]


def test_queue_search_by_text_in_the_description(client_for, clerk_roads, make_request):
    text = make_request(description="A bicycle is chained to the lamp post.")
    make_request()
    response = client_for(clerk_roads).post(QUEUE, {"q": "bicycle"}, format="json")
    assert _refs(response) == [text.reference]


def test_queue_unassigned_filter(client_for, clerk_roads, make_request):
    free = make_request()
    make_request(assignee=clerk_roads)
    assert _refs(client_for(clerk_roads).get(QUEUE, {"assigned": "unassigned"})) == [
        free.reference
    ]


def test_queue_refuses_a_department_that_is_not_mine(client_for, clerk_roads, parks):
    response = client_for(clerk_roads).get(QUEUE, {"department": "parks"})
    assert response.status_code == 400
    assert "department" in response.json()["errors"]


def test_queue_refuses_unknown_filters(client_for, clerk_roads):
    response = client_for(clerk_roads).get(QUEUE, {"colour": "red"})
    assert response.status_code == 400
    assert "colour" in response.json()["errors"]


def test_queue_counts(client_for, clerk_roads, make_request):
    now = timezone.now()
    make_request(status=Status.ROUTED)
    make_request(status=Status.IN_PROGRESS, assignee=clerk_roads, due_at=now - timedelta(hours=1))
    make_request(status=Status.CLOSED)
    data = client_for(clerk_roads).get(QUEUE + "/counts").json()
    assert data["total"] == 2
    assert data["overdue"] == 1
    assert data["unassigned"] == 1
    assert data["by_status"]["routed"] == 1
    assert data["by_status"]["in_progress"] == 1


# --- Detail and actions ------------------------------------------------------------------


def test_staff_detail_has_internal_notes_and_the_routing_explanation(
    client_for, clerk_roads, make_request
):
    request = make_request()
    event_record(
        request=request,
        type=Event.Type.ROUTED,
        data={"method": "rule", "rule_id": 7, "explanation": "Potholes go to Roads."},
        visibility=Event.Visibility.INTERNAL,
    )
    client = client_for(clerk_roads)
    client.post(f"/api/v1/staff/requests/{request.reference}/notes", {"text": "Check drains."})
    data = client.get(f"/api/v1/staff/requests/{request.reference}").json()
    assert data["routing"]["method"] == "rule"
    assert data["routing"]["explanation"] == "Potholes go to Roads."
    note = next(e for e in data["events"] if e["type"] == "internal_note")
    assert note["visibility"] == "internal"
    assert note["actor"]["display_name"] == clerk_roads.display_name
    assert {m["to_status"] for m in data["allowed_moves"]} >= {"in_progress", "returned"}


def test_staff_detail_does_not_name_the_resident(client_for, clerk_roads, make_request, resident):
    request = make_request()
    client_for(resident).post(
        f"/api/v1/requests/{request.reference}/comments", {"text": "Please hurry."}
    )
    body = str(client_for(clerk_roads).get(f"/api/v1/staff/requests/{request.reference}").json())
    assert resident.display_name not in body
    assert resident.email not in body


def test_clerk_takes_a_request(client_for, clerk_roads, make_request):
    request = make_request()
    data = client_for(clerk_roads).post(
        f"/api/v1/staff/requests/{request.reference}/assign", {}
    ).json()
    assert data["assignee"]["id"] == clerk_roads.pk


def test_clerk_cannot_assign_someone_else(client_for, clerk_roads, roads, make_request):
    colleague = MembershipFactory(department=roads).user
    request = make_request()
    response = client_for(clerk_roads).post(
        f"/api/v1/staff/requests/{request.reference}/assign", {"assignee_id": colleague.pk}
    )
    assert response.status_code == 403


def test_clerk_cannot_take_what_a_colleague_holds(client_for, clerk_roads, roads, make_request):
    colleague = MembershipFactory(department=roads).user
    request = make_request(assignee=colleague)
    response = client_for(clerk_roads).post(
        f"/api/v1/staff/requests/{request.reference}/assign", {}
    )
    assert response.status_code == 409


def test_supervisor_assigns_a_clerk_of_the_department(
    client_for, supervisor_roads, clerk_roads, make_request
):
    request = make_request(assignee=supervisor_roads)
    response = client_for(supervisor_roads).post(
        f"/api/v1/staff/requests/{request.reference}/assign", {"assignee_id": clerk_roads.pk}
    )
    assert response.status_code == 200
    assert response.json()["assignee"]["id"] == clerk_roads.pk
    event = Event.objects.get(request=request, type=Event.Type.ASSIGNED)
    assert event.data == {
        "assignee_id": clerk_roads.pk,
        "previous_assignee_id": supervisor_roads.pk,
    }


def test_supervisor_cannot_assign_an_outsider(
    client_for, supervisor_roads, clerk_parks, make_request
):
    request = make_request()
    response = client_for(supervisor_roads).post(
        f"/api/v1/staff/requests/{request.reference}/assign", {"assignee_id": clerk_parks.pk}
    )
    assert response.status_code == 400
    assert "assignee" in response.json()["errors"]


def test_clerk_puts_their_own_request_back_in_the_pool(client_for, clerk_roads, make_request):
    request = make_request(assignee=clerk_roads)
    response = client_for(clerk_roads).post(
        f"/api/v1/staff/requests/{request.reference}/unassign", {}
    )
    assert response.status_code == 200
    assert response.json()["assignee"] is None
    event = Event.objects.get(request=request, type=Event.Type.ASSIGNED)
    assert event.data == {"assignee_id": None, "previous_assignee_id": clerk_roads.pk}


def test_clerk_cannot_unassign_a_colleagues_request(client_for, clerk_roads, roads, make_request):
    colleague = MembershipFactory(department=roads).user
    request = make_request(assignee=colleague)
    response = client_for(clerk_roads).post(
        f"/api/v1/staff/requests/{request.reference}/unassign", {}
    )
    assert response.status_code == 409
    request.refresh_from_db()
    assert request.assignee_id == colleague.pk


def test_supervisor_unassigns_a_clerks_request(
    client_for, supervisor_roads, clerk_roads, make_request
):
    request = make_request(assignee=clerk_roads)
    response = client_for(supervisor_roads).post(
        f"/api/v1/staff/requests/{request.reference}/unassign", {}
    )
    assert response.status_code == 200
    request.refresh_from_db()
    assert request.assignee_id is None


def test_unassigning_an_unassigned_request_records_nothing(
    client_for, supervisor_roads, make_request
):
    request = make_request()
    client_for(supervisor_roads).post(f"/api/v1/staff/requests/{request.reference}/unassign", {})
    assert not Event.objects.filter(request=request, type=Event.Type.ASSIGNED).exists()


def test_clerk_raises_priority_with_a_reason_on_the_internal_timeline(
    client_for, clerk_roads, make_request
):
    request = make_request()
    response = client_for(clerk_roads).post(
        f"/api/v1/staff/requests/{request.reference}/priority",
        {"priority": "urgent", "reason": "Next to the school gate."},
    )
    assert response.status_code == 200
    assert response.json()["priority"] == "urgent"
    event = Event.objects.get(request=request, type=Event.Type.PRIORITY_CHANGED)
    assert (event.visibility, event.text) == ("internal", "Next to the school gate.")
    assert event.data == {"priority_from": 2, "priority_to": 4}


def test_priority_change_without_a_reason_is_400_and_changes_nothing(
    client_for, clerk_roads, make_request
):
    request = make_request()
    response = client_for(clerk_roads).post(
        f"/api/v1/staff/requests/{request.reference}/priority", {"priority": "urgent"}
    )
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    request.refresh_from_db()
    assert request.priority == 2


def test_priority_of_a_closed_request_cannot_change(client_for, clerk_roads, make_request):
    request = make_request(status=Status.CLOSED)
    response = client_for(clerk_roads).post(
        f"/api/v1/staff/requests/{request.reference}/priority",
        {"priority": "low", "reason": "Done anyway."},
    )
    assert response.status_code == 409
    assert not Event.objects.filter(request=request, type=Event.Type.PRIORITY_CHANGED).exists()


def test_illegal_transition_is_409_with_current_status_and_allowed_moves(
    client_for, clerk_roads, make_request
):
    request = make_request(status=Status.ROUTED)
    response = client_for(clerk_roads).post(
        f"/api/v1/staff/requests/{request.reference}/transition", {"to_status": "closed"}
    )
    assert response.status_code == 409
    problem = response.json()
    assert problem["current_status"] == "routed"
    assert {m["to_status"] for m in problem["allowed_moves"]} == {
        "in_progress", "rejected", "returned", "closed"
    }
    request.refresh_from_db()
    assert request.status == Status.ROUTED


def test_resolve_needs_a_public_reply_and_an_outcome(client_for, clerk_roads, make_request):
    request = make_request(status=Status.IN_PROGRESS)
    url = f"/api/v1/staff/requests/{request.reference}/transition"
    client = client_for(clerk_roads)
    response = client.post(url, {"to_status": "resolved"})
    assert response.status_code == 400
    ok = client.post(url, {"to_status": "resolved", "text": "Filled.", "outcome": "fixed"})
    assert ok.status_code == 200
    assert ok.json()["outcome"] == "fixed"


def test_generic_transition_cannot_close_as_duplicate_without_an_original(
    client_for, clerk_roads, make_request
):
    request = make_request(status=Status.IN_PROGRESS)
    response = client_for(clerk_roads).post(
        f"/api/v1/staff/requests/{request.reference}/transition", {"to_status": "closed"}
    )
    assert response.status_code == 409


def test_return_needs_a_reason_and_goes_back_to_routing(client_for, clerk_roads, make_request):
    request = make_request(status=Status.IN_PROGRESS, assignee=clerk_roads)
    url = f"/api/v1/staff/requests/{request.reference}/return"
    client = client_for(clerk_roads)
    assert client.post(url, {"reason": ""}).status_code == 400
    response = client.post(url, {"reason": "This is a lighting problem."})
    assert response.status_code == 200
    request.refresh_from_db()
    assert request.status == Status.RETURNED
    assert request.assignee is None
    assert request.return_count == 1


def test_reply_is_public_and_note_is_internal(client_for, clerk_roads, make_request):
    request = make_request()
    client = client_for(clerk_roads)
    base = f"/api/v1/staff/requests/{request.reference}"
    assert client.post(f"{base}/reply", {"text": "Crew booked."}).json()["visibility"] == "public"
    assert client.post(f"{base}/notes", {"text": "Crew B."}).json()["visibility"] == "internal"


def test_mark_duplicate_closes_it_and_moves_reporter_and_followers_to_the_original(
    client_for, clerk_roads, make_request, resident
):
    original = make_request(status=Status.IN_PROGRESS, reporter=UserFactory())
    duplicate = make_request(status=Status.ROUTED, reporter=resident)
    fan = UserFactory()
    Follow.objects.create(user=fan, request=duplicate)
    response = client_for(clerk_roads).post(
        f"/api/v1/staff/requests/{duplicate.reference}/duplicate",
        {"original": original.reference},
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["status"], data["outcome"], data["duplicate_of"]) == (
        "closed", "duplicate", original.reference
    )
    followers = set(Follow.objects.filter(request=original).values_list("user_id", flat=True))
    assert followers == {resident.pk, fan.pk}
    # The reporter now sees the original's public progress.
    seen = client_for(resident).get(f"/api/v1/requests/{original.reference}")
    assert seen.status_code == 200


def test_a_request_cannot_duplicate_itself(client_for, clerk_roads, make_request):
    request = make_request()
    response = client_for(clerk_roads).post(
        f"/api/v1/staff/requests/{request.reference}/duplicate", {"original": request.reference}
    )
    assert response.status_code == 400
    assert "original" in response.json()["errors"]


def test_duplicate_of_a_request_outside_my_departments_is_a_field_error(
    client_for, clerk_roads, make_request, parks
):
    request = make_request()
    elsewhere = make_request(department=parks, category=CategoryFactory(department=parks))
    response = client_for(clerk_roads).post(
        f"/api/v1/staff/requests/{request.reference}/duplicate", {"original": elsewhere.reference}
    )
    assert response.status_code == 400


# --- Auto-close ---------------------------------------------------------------------------


def test_auto_close_closes_requests_resolved_more_than_n_days_ago(make_request, settings):
    settings.CIVICDESK = {**settings.CIVICDESK, "AUTO_CLOSE_DAYS": 7}
    now = timezone.now()
    old = make_request(status=Status.RESOLVED, resolved_at=now - timedelta(days=8))
    fresh = make_request(status=Status.RESOLVED, resolved_at=now - timedelta(days=2))
    reopened = make_request(status=Status.REOPENED, resolved_at=None)
    assert requests_auto_close(now=now) == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    reopened.refresh_from_db()
    assert (old.status, old.outcome) == (Status.CLOSED, "fixed")
    assert fresh.status == Status.RESOLVED
    assert reopened.status == Status.REOPENED
    event = Event.objects.get(request=old)
    assert event.actor_role == "system"
    assert event.data["auto_closed"] is True
    assert requests_auto_close(now=now) == 0


def test_requests_are_not_visible_to_staff_once_another_department_holds_them(
    client_for, clerk_roads, make_request, parks
):
    request = make_request()
    ServiceRequest.objects.filter(pk=request.pk).update(department=parks)
    response = client_for(clerk_roads).get(f"/api/v1/staff/requests/{request.reference}")
    assert response.status_code == 404


def test_staff_detail_withholds_a_home_position_and_photos_for_the_logged_reveal(
    client_for, clerk_roads, make_request, resident
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.services.conftest import image_bytes

    request = make_request(is_private_address=True, address="Flat 3, 12 Elm Street")
    client_for(resident).post(
        f"/api/v1/requests/{request.reference}/attachments",
        {"photos": [SimpleUploadedFile("p.jpg", image_bytes(), "image/jpeg")]},
        format="multipart",
    )
    data = client_for(clerk_roads).get(f"/api/v1/staff/requests/{request.reference}").json()
    assert (data["lat"], data["lon"], data["address"]) == (None, None, "")
    assert data["photo_count"] == 1
    assert "/attachments/" not in str(data)
    assert "Elm Street" not in str(data)


def test_staff_opening_the_resident_view_get_progress_only(client_for, clerk_roads, make_request):
    request = make_request(address="12 Elm Street")
    data = client_for(clerk_roads).get(f"/api/v1/requests/{request.reference}").json()
    assert data["is_owner"] is False
    assert data["description"] == ""
    assert data["address"] == ""
    assert data["lat"] is None
