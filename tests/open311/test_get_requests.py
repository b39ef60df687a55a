"""GET requests and GET requests/{id}: filters, the 90-day window, status mapping, privacy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from services.models import Event, ServiceRequest, Status
from services.open311.models import Open311Submission
from services.services import event_record, request_submit
from tests.factories import ServiceRequestFactory
from tests.open311.conftest import both

pytestmark = pytest.mark.django_db


def file(category, reporter=None, **fields) -> ServiceRequest:
    values = {"description": "The lamp at the bus stop is dark.", "lat": 39.051234,
              "lon": 116.056789, "address": "12 Jianshe Road"}
    values.update(fields)
    return request_submit(reporter=reporter, category=category, **values)


def test_a_single_request_is_a_one_element_service_requests_collection(api, pothole, resident):
    request = file(pothole, resident, is_public=True)
    status, root, data = both(api, f"/open311/v2/requests/{request.reference}")
    assert (status, root) == (200, "service_requests")
    request.refresh_from_db()
    local = timezone.localtime
    assert data == [
        {
            "service_request_id": request.reference,
            "status": "open",
            "status_notes": None,
            "service_name": "Pothole",
            "service_code": "pothole",
            "description": "The lamp at the bus stop is dark.",
            "agency_responsible": None,
            "service_notice": "We aim to resolve this within 72 hours.",
            "requested_datetime": local(request.created_at).isoformat(timespec="seconds"),
            "updated_datetime": local(request.updated_at).isoformat(timespec="seconds"),
            "expected_datetime": local(request.due_at).isoformat(timespec="seconds"),
            "address": "12 Jianshe Road",
            "address_id": None,
            "zipcode": None,
            "lat": 39.051234,
            "long": 116.056789,
            "location_precision": "exact",
            "media_url": None,
        }
    ]


def test_datetimes_are_w3c_with_the_city_offset(api, pothole):
    request = file(pothole)
    _, _, data = both(api, f"/open311/v2/requests/{request.reference}")
    assert data[0]["requested_datetime"].endswith("+08:00")  # Asia/Shanghai
    assert "T" in data[0]["requested_datetime"]


def test_the_department_is_the_agency_responsible(api, pothole, roads):
    request = file(pothole)
    ServiceRequest.objects.filter(pk=request.pk).update(department=roads)
    _, _, data = both(api, f"/open311/v2/requests/{request.reference}")
    assert data[0]["agency_responsible"] == "Roads"


def test_status_notes_are_the_latest_public_reply_never_an_internal_note(api, pothole):
    request = file(pothole)
    event_record(request=request, type=Event.Type.PUBLIC_REPLY, text="Crew booked for Monday.")
    event_record(request=request, type=Event.Type.INTERNAL_NOTE, text="Contractor is slow",
                 visibility=Event.Visibility.INTERNAL)
    event_record(request=request, type=Event.Type.COMMENT_BY_RESIDENT, text="My phone is 138")
    _, _, data = both(api, f"/open311/v2/requests/{request.reference}")
    assert data[0]["status_notes"] == "Crew booked for Monday."


EXPECTED_STATUS = {
    "submitted": "open",
    "routed": "open",
    "in_progress": "open",
    "reopened": "open",
    "returned": "open",
    "resolved": "closed",
    "closed": "closed",
    "rejected": "closed",
    "withdrawn": "closed",
}


def test_the_mapping_covers_every_workflow_status():
    assert set(EXPECTED_STATUS) == set(Status.values)


@pytest.mark.parametrize(("workflow_status", "open311_status"), EXPECTED_STATUS.items())
def test_every_workflow_status_maps_to_open_or_closed(api, pothole, workflow_status,
                                                      open311_status):
    request = ServiceRequestFactory(category=pothole, status=workflow_status, reporter=None)
    _, _, data = both(api, f"/open311/v2/requests/{request.reference}")
    assert data[0]["status"] == open311_status
    _, _, listed = both(api, "/open311/v2/requests", {"status": open311_status})
    assert [r["service_request_id"] for r in listed] == [request.reference]
    other = "closed" if open311_status == "open" else "open"
    _, _, not_listed = both(api, "/open311/v2/requests", {"status": other})
    assert not_listed == []


# --- Privacy ----------------------------------------------------------------------------------


def test_description_and_media_url_are_withheld_unless_the_resident_published_them(
    api, pothole, client_app
):
    private = file(pothole, description="Outside my flat, I am home after 6")
    Open311Submission.objects.create(request=private, api_key=client_app,
                                     media_url="https://photos.example.org/p.jpg")
    published = file(pothole, is_public=True, description="Hole by the school gate")
    Open311Submission.objects.create(request=published, api_key=client_app,
                                     media_url="https://photos.example.org/q.jpg")
    _, _, data = both(api, "/open311/v2/requests")
    by_id = {r["service_request_id"]: r for r in data}
    assert by_id[private.reference]["description"] is None
    assert by_id[private.reference]["media_url"] is None
    assert by_id[published.reference]["description"] == "Hole by the school gate"
    assert by_id[published.reference]["media_url"] == "https://photos.example.org/q.jpg"


def test_a_private_address_is_coarsened_to_about_100_metres_and_its_address_withheld(
    api, pothole, client_app
):
    request = file(pothole, lat=39.051234, lon=116.056789, address="Flat 3, 12 Jianshe Road",
                   is_private_address=True)
    Open311Submission.objects.create(request=request, api_key=client_app, address_id="545483")
    _, _, data = both(api, f"/open311/v2/requests/{request.reference}")
    assert (data[0]["lat"], data[0]["long"]) == (39.051, 116.057)
    assert data[0]["address"] is None
    assert data[0]["address_id"] is None


def test_no_reporter_data_ever_appears(api, pothole, resident, client_app):
    request = file(pothole, resident, is_public=True)
    Open311Submission.objects.create(
        request=request, api_key=client_app, email="li.wei@example.org", first_name="Wei",
        last_name="Li", phone="+86 138 1234 5678", device_id="device-xyz", account_id="acct-777",
    )
    secrets = [b"li.wei@example.org", b"Li Wei", b"138 1234 5678", b"device-xyz", b"acct-777",
               client_app.name.encode(), client_app.prefix.encode()]
    for path in (f"/open311/v2/requests/{request.reference}", "/open311/v2/requests"):
        for fmt in ("json", "xml"):
            body = api.get(f"{path}.{fmt}").content
            assert not [s for s in secrets if s in body], path


def test_requests_in_non_public_categories_and_complaints_are_invisible(
    api, pothole, hidden_category, complaint_category
):
    visible = file(pothole)
    hidden = file(hidden_category)
    complaint = file(complaint_category)
    _, _, data = both(api, "/open311/v2/requests")
    assert [r["service_request_id"] for r in data] == [visible.reference]
    for request in (hidden, complaint):
        status, root, errors = both(api, f"/open311/v2/requests/{request.reference}")
        assert (status, root) == (404, "errors")
        assert errors == [{"code": 404,
                           "description": f"service_request_id {request.reference} was not found."}]
    _, _, by_id = both(api, "/open311/v2/requests",
                       {"service_request_id": f"{hidden.reference},{complaint.reference}"})
    assert by_id == []


# --- Filters and the window -------------------------------------------------------------------


def _age(request: ServiceRequest, days: float) -> ServiceRequest:
    ServiceRequest.objects.filter(pk=request.pk).update(
        created_at=timezone.now() - timedelta(days=days)
    )
    return request


def test_the_default_window_is_the_last_90_days_newest_first(api, pothole):
    old = _age(file(pothole), 91)
    middle = _age(file(pothole), 30)
    new = file(pothole)
    _, _, data = both(api, "/open311/v2/requests")
    assert [r["service_request_id"] for r in data] == [new.reference, middle.reference]
    assert old.reference not in str(data)


def test_start_and_end_dates_select_by_requested_datetime(api, pothole):
    a = _age(file(pothole), 40)
    _age(file(pothole), 10)
    start = (timezone.now() - timedelta(days=45)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (timezone.now() - timedelta(days=20)).isoformat(timespec="seconds")
    _, _, data = both(api, "/open311/v2/requests", {"start_date": start, "end_date": end})
    assert [r["service_request_id"] for r in data] == [a.reference]


def test_a_plus_offset_decoded_as_a_space_is_still_understood(api, pothole):
    request = file(pothole)
    start = (timezone.localtime() - timedelta(days=1)).isoformat(timespec="seconds")
    # "+08:00" sent unencoded in a query string arrives as " 08:00".
    response = api.get("/open311/v2/requests.json?start_date=" + start)
    assert response.status_code == 200
    assert [r["service_request_id"] for r in response.json()] == [request.reference]


def test_service_request_ids_override_every_other_filter(api, pothole, streetlight):
    old = _age(file(pothole), 200)
    closed = ServiceRequestFactory(category=pothole, status=Status.CLOSED, reporter=None)
    _, _, data = both(api, "/open311/v2/requests", {
        "service_request_id": f"{old.reference}, {closed.reference}",
        "service_code": "streetlight", "status": "open",
    })
    assert {r["service_request_id"] for r in data} == {old.reference, closed.reference}


def test_service_codes_filter_comma_separated(api, pothole, streetlight, hidden_category):
    a = file(pothole)
    b = file(streetlight, attribute_values={"pole": "P-1"})
    file(hidden_category)
    _, _, only_pothole = both(api, "/open311/v2/requests", {"service_code": "pothole"})
    assert [r["service_request_id"] for r in only_pothole] == [a.reference]
    _, _, both_codes = both(api, "/open311/v2/requests",
                            {"service_code": "pothole,streetlight,internal-audit"})
    assert {r["service_request_id"] for r in both_codes} == {a.reference, b.reference}


def test_at_most_1000_requests_are_returned(api, pothole):
    ServiceRequest.objects.bulk_create(
        ServiceRequestFactory.build(category=pothole, reporter=None, reference=f"CD-T{i:05d}")
        for i in range(1001)
    )
    response = api.get("/open311/v2/requests.json")
    assert len(response.json()) == 1000


def test_listing_requests_takes_one_query_whatever_the_count(
    api, pothole, roads, client_app, django_assert_num_queries
):
    for _ in range(5):
        request = file(pothole, is_public=True)
        event_record(request=request, type=Event.Type.PUBLIC_REPLY, text="On it.")
        Open311Submission.objects.create(request=request, api_key=client_app)
    ServiceRequest.objects.update(department=roads)
    with django_assert_num_queries(1):
        response = api.get("/open311/v2/requests.json")
    assert len(response.json()) == 5
