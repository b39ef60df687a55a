"""Every error path answers in the spec's form: a list of {code, description}."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from rest_framework.throttling import AnonRateThrottle

from services.models import ServiceRequest
from services.open311.services import api_key_revoke
from tests.open311.conftest import both, parse

pytestmark = pytest.mark.django_db


def post_both(api, fields: dict) -> tuple[int, str, list]:
    as_json = api.post("/open311/v2/requests.json", fields, format="multipart")
    as_xml = api.post("/open311/v2/requests.xml", fields, format="multipart")
    assert as_json.status_code == as_xml.status_code
    _, data = parse(as_json)
    root, xml_data = parse(as_xml)
    assert root == "errors"
    assert xml_data == [{k: str(v) for k, v in e.items()} for e in data]
    return as_json.status_code, root, data


def test_posting_without_an_api_key_is_a_403(api, pothole):
    status, _, data = post_both(api, {"service_code": "pothole", "lat": "39", "long": "116"})
    assert status == 403
    assert data == [{"code": 403, "description": "api_key is missing."}]
    assert not ServiceRequest.objects.exists()


def test_posting_with_a_wrong_api_key_is_a_403(api, pothole):
    status, _, data = post_both(
        api, {"api_key": "o311_guess", "service_code": "pothole", "lat": "39", "long": "116"}
    )
    assert status == 403
    assert data == [{"code": 403, "description": "api_key is not valid."}]


def test_a_revoked_api_key_stops_working_at_once(api, client_app, pothole):
    fields = {"api_key": client_app.raw, "service_code": "pothole", "lat": "39", "long": "116"}
    assert api.post("/open311/v2/requests.json", fields, format="multipart").status_code == 200
    api_key_revoke(api_key=client_app)
    status, _, data = post_both(api, fields)
    assert status == 403
    assert ServiceRequest.objects.count() == 1


def test_posting_without_a_service_code_is_a_400(api, client_app):
    status, _, data = post_both(api, {"api_key": client_app.raw, "lat": "39", "long": "116"})
    assert status == 400
    assert data == [{"code": 400, "description": "service_code: This field is required."}]


@pytest.mark.parametrize("code", ["no-such-service", "internal-audit", "staff-conduct"])
def test_posting_to_an_unknown_or_non_public_service_is_a_404(
    api, client_app, code, hidden_category, complaint_category
):
    status, _, data = post_both(
        api, {"api_key": client_app.raw, "service_code": code, "lat": "39", "long": "116"}
    )
    assert status == 404
    assert data == [{"code": 404, "description": f"service_code {code} was not found."}]
    assert not ServiceRequest.objects.exists()


@pytest.mark.parametrize(
    ("fields", "description"),
    [
        ({}, "location: Send lat and long, address_string or address_id."),
        ({"lat": "39.05"}, "long: Send both lat and long."),
        ({"long": "116.05"}, "lat: Send both lat and long."),
        ({"lat": "91", "long": "116"}, "lat: Ensure this value is less than or equal to 90."),
        ({"lat": "39", "long": "-181"},
         "long: Ensure this value is greater than or equal to -180."),
        ({"lat": "north", "long": "116"}, "lat: A valid number is required."),
        ({"lat": "nan", "long": "116"}, "lat: A valid number is required."),
        ({"lat": "39", "long": "116", "email": "not-an-email"},
         "email: Enter a valid email address."),
        ({"lat": "39", "long": "116", "media_url": "file:///etc/passwd"},
         "media_url: Enter a valid URL."),
        ({"lat": "39", "long": "116", "description": "x" * 4001},
         "description: Ensure this field has no more than 4000 characters."),
    ],
)
def test_bad_fields_are_400_with_the_field_named_and_nothing_is_filed(
    api, client_app, pothole, fields, description
):
    status, _, data = post_both(
        api, {"api_key": client_app.raw, "service_code": "pothole", **fields}
    )
    assert status == 400
    assert {"code": 400, "description": description} in data
    assert not ServiceRequest.objects.exists()


def test_a_json_body_is_refused_as_the_spec_wants_a_form(api, client_app, pothole):
    response = api.post(
        "/open311/v2/requests.json",
        {"api_key": client_app.raw, "service_code": "pothole", "lat": 39, "long": 116},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == [
        {"code": 415, "description": 'Unsupported media type "application/json" in request.'}
    ]


def test_a_wrong_jurisdiction_on_post_is_a_404(api, client_app, pothole):
    status, _, data = post_both(api, {
        "api_key": client_app.raw, "jurisdiction_id": "elsewhere.gov",
        "service_code": "pothole", "lat": "39", "long": "116",
    })
    assert status == 404
    assert data == [{"code": 404, "description": "jurisdiction_id elsewhere.gov was not found."}]


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"start_date": "yesterday"},
         "start_date: Use a W3C datetime with a time zone, e.g. 2026-01-01T00:00:00Z."),
        ({"end_date": "2026-01-01T00:00:00"},
         "end_date: Use a W3C datetime with a time zone, e.g. 2026-01-01T00:00:00Z."),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-04-02T00:00:01Z"},
         "end_date: The range may span at most 90 days."),
        ({"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
         "end_date: end_date is before start_date."),
        ({"start_date": "2026-02-30T00:00:00Z"},
         "start_date: Use a W3C datetime with a time zone, e.g. 2026-01-01T00:00:00Z."),
        ({"end_date": "2026-01-01T00:00:00+99:00"},
         "end_date: Use a W3C datetime with a time zone, e.g. 2026-01-01T00:00:00Z."),
        ({"status": "pending"}, "status: Use open, closed or both."),
    ],
)
def test_bad_request_filters_are_400(api, params, description):
    status, root, data = both(api, "/open311/v2/requests", params)
    assert (status, root) == (400, "errors")
    assert data == [{"code": 400, "description": description}]


def test_exactly_90_days_is_allowed(api):
    status, _, _ = both(api, "/open311/v2/requests", {
        "start_date": "2026-01-01T00:00:00Z", "end_date": "2026-04-01T00:00:00Z"})
    assert status == 200


def test_an_unknown_request_is_a_404(api):
    status, root, data = both(api, "/open311/v2/requests/CD-NOSUCH")
    assert (status, root) == (404, "errors")
    assert data == [{"code": 404, "description": "service_request_id CD-NOSUCH was not found."}]


@pytest.mark.parametrize("path", ["/open311/v2/nothing-here", "/open311/v2/requests/a/b",
                                  "/open311/v3/services"])
def test_an_unknown_resource_is_a_404_in_the_spec_form_not_an_html_page(api, path):
    status, root, data = both(api, path)
    assert (status, root) == (404, "errors")
    assert data == [{"code": 404, "description": "There is no such Open311 resource."}]


def test_an_unknown_resource_without_suffix_answers_in_xml(api):
    root, data = parse(api.get("/open311/v2/nothing-here"))
    assert root == "errors"


def test_a_wrong_method_is_a_405_with_allow(api):
    response = api.delete("/open311/v2/services.json")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert response.json() == [{"code": 405, "description": 'Method "DELETE" not allowed.'}]


def test_a_token_that_is_not_a_request_is_a_404(api):
    status, root, data = both(api, "/open311/v2/tokens/12345")
    assert (status, root) == (404, "errors")
    assert data == [{"code": 404, "description": "token 12345 was not found."}]


def test_errors_never_echo_long_input(api):
    response = api.get("/open311/v2/services.json", {"jurisdiction_id": "j" * 5000})
    assert response.status_code == 404
    assert len(response.content) < 300




def test_anonymous_reads_past_the_anon_rate_get_a_429_in_the_spec_form(api):
    # DRF's "anon" rate (120/min) per client address: fill this address's history for the
    # minute, as 120 reads would, then read once more.
    throttle = AnonRateThrottle()
    key = throttle.cache_format % {"scope": throttle.scope, "ident": "127.0.0.1"}
    cache.set(key, [time.time()] * throttle.num_requests, 60)
    response = api.get("/open311/v2/services.xml")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    root, data = parse(response)
    assert root == "errors"
    assert data[0]["code"] == "429"
    assert api.get("/open311/v2/services.json", REMOTE_ADDR="10.0.0.9").status_code == 200
