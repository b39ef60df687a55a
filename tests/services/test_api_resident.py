"""The resident's API: my requests, detail, timeline privacy, answers, follow, nearby."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from services.models import Event, Follow, ServiceRequest, Status
from services.services import (
    event_record,
    request_note,
    request_reply,
    request_submit,
    request_transition,
)


@pytest.fixture
def filed(resident, streetlight):
    return request_submit(
        reporter=resident,
        category=streetlight,
        description="The lamp on pole 7 is dark.",
        lat=39.05,
        lon=116.05,
    )


def _routed(request, department):
    ServiceRequest.objects.filter(pk=request.pk).update(department=department)
    request.refresh_from_db()
    return request_transition(request=request, actor=None, to_status=Status.ROUTED)


def test_categories_are_localized_by_accept_language(api, pothole):
    english = api.get("/api/v1/categories").json()
    chinese = api.get("/api/v1/categories", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert english[0]["name"] == "Pothole"
    assert chinese[0]["name"] == "路面坑洞"
    assert english[0]["attributes"][0]["code"] == "size"


def test_inactive_categories_are_not_listed(api, pothole, streetlight):
    streetlight.is_active = False
    streetlight.save()
    codes = [c["code"] for c in api.get("/api/v1/categories").json()]
    assert codes == ["pothole"]


def test_districts_are_listed_with_their_boundary(api, district):
    data = api.get("/api/v1/districts").json()
    assert data[0]["code"] == "central"
    assert data[0]["boundary"]["type"] == "Polygon"


def test_my_requests_lists_only_mine(client_for, resident, other_resident, make_request):
    mine = make_request()
    make_request(reporter=other_resident)
    data = client_for(resident).get("/api/v1/requests").json()
    assert [r["reference"] for r in data["results"]] == [mine.reference]


def test_my_requests_filter_by_status_and_kind(client_for, resident, make_request):
    routed = make_request(status=Status.ROUTED)
    make_request(status=Status.CLOSED)
    client = client_for(resident)
    data = client.get("/api/v1/requests?status=routed&status=in_progress&kind=request").json()
    assert [r["reference"] for r in data["results"]] == [routed.reference]
    assert client.get("/api/v1/requests?kind=complaint").json()["results"] == []


def test_my_requests_cursor_pages_cover_everything_once(client_for, resident, make_request):
    made = {make_request().reference for _ in range(7)}
    client = client_for(resident)
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/requests?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url).json()
        seen += [r["reference"] for r in page["results"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    assert len(seen) == 7
    assert set(seen) == made


def test_my_requests_updated_since_returns_only_later_changes(client_for, resident, make_request):
    old = make_request()
    new = make_request()
    ServiceRequest.objects.filter(pk=old.pk).update(
        updated_at=timezone.now() - timedelta(days=2)
    )
    since = (timezone.now() - timedelta(days=1)).isoformat()
    data = client_for(resident).get("/api/v1/requests", {"updated_since": since}).json()
    assert [r["reference"] for r in data["results"]] == [new.reference]


def test_a_garbled_cursor_is_a_field_error(client_for, resident):
    response = client_for(resident).get("/api/v1/requests?cursor=%%%not-base64")
    assert response.status_code == 400
    assert "cursor" in response.json()["errors"]


def test_detail_shows_public_events_only_and_staff_as_role_and_department(
    client_for, resident, filed, roads, clerk_roads
):
    _routed(filed, roads)
    request_reply(request=filed, actor=clerk_roads, text="We will fix it this week.")
    request_note(request=filed, actor=clerk_roads, text="Reporter sounds upset; call later.")
    data = client_for(resident).get(f"/api/v1/requests/{filed.reference}").json()
    types = [e["type"] for e in data["events"]]
    assert Event.Type.INTERNAL_NOTE not in types
    reply = next(e for e in data["events"] if e["type"] == Event.Type.PUBLIC_REPLY)
    assert reply["actor"] == {"role": "clerk", "department": {"code": "roads", "name": "Roads"}}
    body = str(data)
    assert clerk_roads.display_name not in body
    assert clerk_roads.email not in body
    assert "call later" not in body


def test_returned_for_rerouting_is_internal(client_for, resident, filed, roads, clerk_roads):
    _routed(filed, roads)
    request_transition(
        request=filed, actor=clerk_roads, to_status=Status.RETURNED, text="Lighting's job."
    )
    data = client_for(resident).get(f"/api/v1/requests/{filed.reference}").json()
    assert "Lighting's job." not in str(data)


def test_resident_comments_on_their_request(client_for, resident, filed):
    response = client_for(resident).post(
        f"/api/v1/requests/{filed.reference}/comments", {"text": "Now two lamps are out."}
    )
    assert response.status_code == 201
    assert response.json()["type"] == "comment_by_resident"
    filed.refresh_from_db()
    assert filed.version == 2


def test_an_empty_comment_is_a_field_error(client_for, resident, filed):
    response = client_for(resident).post(
        f"/api/v1/requests/{filed.reference}/comments", {"text": "  "}
    )
    assert response.status_code == 400
    assert "text" in response.json()["errors"]


def test_withdraw_before_work_starts(client_for, resident, filed):
    response = client_for(resident).post(f"/api/v1/requests/{filed.reference}/withdraw")
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    assert response.json()["outcome"] == "withdrawn"


def test_withdraw_after_work_started_is_409_with_allowed_moves(
    client_for, resident, make_request
):
    request = make_request(status=Status.IN_PROGRESS)
    response = client_for(resident).post(f"/api/v1/requests/{request.reference}/withdraw")
    assert response.status_code == 409
    problem = response.json()
    assert problem["current_status"] == "in_progress"
    assert problem["allowed_moves"] == []
    request.refresh_from_db()
    assert request.status == Status.IN_PROGRESS


def test_confirm_closes_and_keeps_the_outcome(client_for, resident, make_request):
    request = make_request(status=Status.RESOLVED, outcome="could_not_fix")
    data = client_for(resident).post(f"/api/v1/requests/{request.reference}/confirm").json()
    assert data["status"] == "closed"
    assert data["outcome"] == "could_not_fix"
    assert "rate" in data["allowed_actions"]


def test_reopen_needs_a_reason(client_for, resident, make_request):
    request = make_request(status=Status.RESOLVED)
    response = client_for(resident).post(f"/api/v1/requests/{request.reference}/reopen", {})
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]


def test_not_fixed_reopens_and_clears_the_outcome(client_for, resident, make_request):
    request = make_request(status=Status.RESOLVED, outcome="fixed")
    response = client_for(resident).post(f"/api/v1/requests/{request.reference}/not-fixed", {})
    assert response.status_code == 200
    assert response.json()["status"] == "reopened"
    assert response.json()["outcome"] == ""
    event = Event.objects.get(request=request, type=Event.Type.REOPENED)
    assert event.data["answer"] == "not_fixed"


def test_rating_is_once_and_only_after_closure(client_for, resident, make_request):
    request = make_request(status=Status.RESOLVED)
    client = client_for(resident)
    url = f"/api/v1/requests/{request.reference}/rating"
    assert client.post(url, {"rating": 5}).status_code == 409
    client.post(f"/api/v1/requests/{request.reference}/confirm")
    assert client.post(url, {"rating": 6}).status_code == 400
    assert client.post(url, {"rating": 4, "feedback": "Quick."}).status_code == 200
    assert client.post(url, {"rating": 1}).status_code == 409
    request.refresh_from_db()
    assert (request.rating, request.feedback) == (4, "Quick.")


def test_nearby_finds_open_requests_of_the_category_within_50_m_without_personal_data(
    client_for, other_resident, filed, streetlight, make_request
):
    # ~30 m north of `filed`; another 200 m away; a closed one on the same spot.
    make_request(category=streetlight, lat=39.0503, lon=116.05, status=Status.CLOSED)
    far = make_request(category=streetlight, lat=39.0518, lon=116.05)
    data = client_for(other_resident).get(
        "/api/v1/requests/nearby", {"category": "streetlight", "lat": 39.0503, "lon": 116.05}
    ).json()
    assert [r["reference"] for r in data] == [filed.reference]
    assert far.reference not in str(data)
    assert data[0]["distance_m"] in (30, 35)
    assert data[0]["description"] == ""  # not published by the reporter
    assert set(data[0]) == {
        "reference", "category", "status", "match", "distance_m", "location_precision",
        "street", "district", "created_at", "age", "followers", "description", "photo_url",
    }


def test_nearby_validates_coordinates(client_for, resident, streetlight):
    response = client_for(resident).get(
        "/api/v1/requests/nearby", {"category": "streetlight", "lat": 95, "lon": 116}
    )
    assert response.status_code == 400
    assert "lat" in response.json()["errors"]


def test_follow_then_unfollow(client_for, other_resident, filed):
    client = client_for(other_resident)
    url = f"/api/v1/requests/{filed.reference}/follow"
    assert client.post(url).status_code == 201
    assert client.post(url).status_code == 200
    detail = client.get(f"/api/v1/requests/{filed.reference}").json()
    assert detail["is_following"] is True
    assert detail["is_owner"] is False
    assert client.delete(url).status_code == 204
    assert client.get(f"/api/v1/requests/{filed.reference}").status_code == 404


def test_a_follower_may_not_withdraw(client_for, other_resident, filed):
    client = client_for(other_resident)
    client.post(f"/api/v1/requests/{filed.reference}/follow")
    assert client.post(f"/api/v1/requests/{filed.reference}/withdraw").status_code == 403
    filed.refresh_from_db()
    assert filed.status == Status.SUBMITTED


def test_closed_requests_cannot_be_followed(client_for, other_resident, make_request):
    closed = make_request(status=Status.CLOSED)
    url = f"/api/v1/requests/{closed.reference}/follow"
    assert client_for(other_resident).post(url).status_code == 404
    assert not Follow.objects.exists()


def test_event_versions_increase_with_every_change(resident, filed):
    event = event_record(request=filed, type=Event.Type.COMMENT_BY_RESIDENT, actor=resident)
    assert event.version == filed.version == 2
