"""POST requests: a client app files a request with its api_key; attributes are validated."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image

from services.models import Channel, ServiceRequest
from services.open311.models import ApiKey as Open311ApiKey
from services.open311.models import Open311Submission
from tests.open311.conftest import parse

pytestmark = pytest.mark.django_db


def post(api, fmt: str = "json", **fields):
    return api.post(f"/open311/v2/requests.{fmt}", fields, format="multipart")


def urlencoded(api, body: str, fmt: str = "json"):
    return api.generic(
        "POST",
        f"/open311/v2/requests.{fmt}",
        body,
        content_type="application/x-www-form-urlencoded; charset=utf-8",
    )


def test_a_client_app_files_a_request_and_gets_our_reference_back(api, client_app, pothole):
    body = (
        f"api_key={client_app.raw}&jurisdiction_id=civicdesk.city&service_code=pothole"
        "&lat=39.05&long=116.05&address_string=12+Jianshe+Road"
        "&email=li%40example.org&first_name=Li&last_name=Wei&phone=%2B86+138+1234+5678"
        "&device_id=dev-1&account_id=acct-9&description=Deep+hole+by+the+bus+stop"
        "&media_url=https%3A%2F%2Fphotos.example.org%2F1.jpg"
    )
    response = urlencoded(api, body)
    assert response.status_code == 200
    root, data = parse(response)
    request = ServiceRequest.objects.get()
    assert data == [
        {
            "service_request_id": request.reference,
            "service_notice": "We aim to resolve this within 72 hours.",
            "account_id": "acct-9",
        }
    ]
    assert request.channel == Channel.OPEN311
    assert request.reporter is None
    assert request.is_public is False
    assert (request.lat, request.lon, request.address) == (39.05, 116.05, "12 Jianshe Road")
    assert request.description == "Deep hole by the bus stop"


def test_the_client_app_and_reporter_contact_are_kept_apart_from_the_request(
    api, client_app, pothole
):
    response = post(api, api_key=client_app.raw, service_code="pothole", lat="39.05", long="116.05",
         email="li@example.org", first_name="Li", last_name="Wei", phone="+86 138",
         device_id="dev-1", account_id="acct-9", media_url="https://photos.example.org/1.jpg")
    assert response.status_code == 200, response.content
    submission = Open311Submission.objects.get()
    assert submission.api_key == client_app
    assert (submission.email, submission.first_name, submission.last_name) == (
        "li@example.org", "Li", "Wei"
    )
    assert (submission.phone, submission.device_id, submission.account_id) == (
        "+86 138", "dev-1", "acct-9"
    )
    assert submission.media_url == "https://photos.example.org/1.jpg"
    client_app.refresh_from_db()
    assert client_app.last_used_at is not None


def test_the_post_answer_is_a_service_requests_collection_in_xml(api, client_app, pothole):
    response = post(api, "xml", api_key=client_app.raw, service_code="pothole",
                    address_string="Corner of Jianshe Road and Xinhua Street")
    root, data = parse(response)
    assert root == "service_requests"
    reference = ServiceRequest.objects.get().reference
    assert data == [
        {
            "service_request_id": reference,
            "service_notice": "We aim to resolve this within 72 hours.",
            "account_id": None,
        }
    ]


def test_an_address_id_alone_is_a_location(api, client_app, pothole):
    response = post(api, api_key=client_app.raw, service_code="pothole", address_id="545483")
    assert response.status_code == 200
    request = ServiceRequest.objects.get()
    assert request.address == "Address ID 545483"
    assert request.open311_submission.address_id == "545483"


def test_a_missing_description_becomes_the_service_name(api, client_app, pothole):
    post(api, api_key=client_app.raw, service_code="pothole", lat="39.05", long="116.05")
    assert ServiceRequest.objects.get().description == "Pothole"


def test_attribute_values_of_every_datatype_are_stored_cleaned(api, client_app, streetlight):
    body = (
        f"api_key={client_app.raw}&service_code=streetlight&lat=39.05&long=116.05"
        "&attribute[pole]=P-1234&attribute[height]=7.5"
        "&attribute[seen_at]=2026-11-20T21:00:00%2B08:00&attribute[notes]=Line+one%0ALine+two"
        "&attribute[kind]=led&attribute[sides][]=north&attribute[sides][]=south"
    )
    response = urlencoded(api, body)
    assert response.status_code == 200, response.content
    assert ServiceRequest.objects.get().attribute_values == {
        "pole": "P-1234",
        "height": 7.5,
        "seen_at": "2026-11-20T21:00:00+08:00",
        "notes": "Line one\nLine two",
        "kind": "led",
        "sides": ["north", "south"],
    }


def test_a_single_value_for_a_multivaluelist_is_accepted(api, client_app, streetlight):
    response = urlencoded(
        api,
        f"api_key={client_app.raw}&service_code=streetlight&lat=39.05&long=116.05"
        "&attribute[pole]=P-1&attribute[sides]=north",
    )
    assert response.status_code == 200
    assert ServiceRequest.objects.get().attribute_values["sides"] == ["north"]


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("pole", "", "attribute[pole]: This field is required."),
        ("pole", "x" * 201, "attribute[pole]: Use at most 200 characters."),
        ("height", "tall", "attribute[height]: Enter a number."),
        ("height", "nan", "attribute[height]: Enter a number."),
        ("seen_at", "yesterday",
         "attribute[seen_at]: Enter a date and time with a time zone (ISO 8601)."),
        ("seen_at", "2026-11-20T21:00:00",
         "attribute[seen_at]: Enter a date and time with a time zone (ISO 8601)."),
        ("notes", "x" * 2001, "attribute[notes]: Use at most 2000 characters."),
        ("kind", "neon", "attribute[kind]: Choose one of: led, sodium."),
        ("sides", "west", "attribute[sides]: Choose from: north, south."),
        # A code the service does not define is kept (FixMyStreet sends its own), within limits.
        ("colour", "x" * 201, "attribute[colour]: Use at most 200 characters."),
    ],
)
def test_each_attribute_datatype_is_validated_and_nothing_is_filed(
    api, client_app, streetlight, attribute, value, message
):
    fields = {"api_key": client_app.raw, "service_code": "streetlight", "lat": "39.05",
              "long": "116.05", "attribute[pole]": "P-1"}
    fields[f"attribute[{attribute}]"] = value
    for fmt in ("json", "xml"):
        response = post(api, fmt, **fields)
        assert response.status_code == 400
        root, data = parse(response)
        assert root in ("json", "errors")
        assert {"code": "400" if fmt == "xml" else 400, "description": message} in data
    assert not ServiceRequest.objects.exists()
    assert not Open311Submission.objects.exists()


def _jpeg() -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "orange").save(buffer, format="JPEG")
    buffer.seek(0)
    buffer.name = "photo.jpg"
    return buffer


def test_a_multipart_post_with_a_photo_stores_it_like_our_own_uploads(api, client_app, pothole):
    response = api.post(
        "/open311/v2/requests.json",
        {"api_key": client_app.raw, "service_code": "pothole", "lat": "39.05", "long": "116.05",
         "media": _jpeg()},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    attachment = ServiceRequest.objects.get().attachments.get()
    assert attachment.content_type == "image/jpeg"
    assert (attachment.width, attachment.height) == (8, 8)


def test_a_file_that_is_not_an_image_is_refused_and_nothing_is_filed(api, client_app, pothole):
    fake = io.BytesIO(b"#!/bin/sh\necho not a photo\n")
    fake.name = "photo.jpg"
    response = api.post(
        "/open311/v2/requests.xml",
        {"api_key": client_app.raw, "service_code": "pothole", "lat": "39.05", "long": "116.05",
         "media": fake},
        format="multipart",
    )
    assert response.status_code == 400
    root, data = parse(response)
    assert root == "errors"
    assert data == [
        {"code": "415", "description": "media: Only JPEG, PNG and WebP photos can be uploaded."}
    ]
    assert not ServiceRequest.objects.exists()


def test_media_url_is_stored_as_a_link_and_never_fetched(api, client_app, pothole):
    # An address nothing listens on: fetching it would fail or hang; the POST does neither.
    response = post(api, api_key=client_app.raw, service_code="pothole", lat="39.05",
                    long="116.05", media_url="http://127.0.0.1:9/never-fetched.jpg")
    assert response.status_code == 200
    assert Open311Submission.objects.get().media_url == "http://127.0.0.1:9/never-fetched.jpg"


def test_erasing_the_contact_keeps_the_request_and_the_client_app(api, client_app, pothole):
    from services.open311.services import open311_contact_erase

    post(api, api_key=client_app.raw, service_code="pothole", lat="39.05", long="116.05",
         email="li@example.org", first_name="Li", phone="+86 138", device_id="d", account_id="a")
    request = ServiceRequest.objects.get()
    assert open311_contact_erase(request=request) == 1
    submission = Open311Submission.objects.get()
    assert (submission.email, submission.first_name, submission.phone) == ("", "", "")
    assert (submission.device_id, submission.account_id) == ("", "")
    assert submission.api_key == client_app


def test_an_impossible_attribute_datetime_is_a_400_not_a_500(api, client_app, streetlight):
    response = post(api, api_key=client_app.raw, service_code="streetlight", lat="39.05",
                    long="116.05", **{"attribute[pole]": "P-1",
                                      "attribute[seen_at]": "2026-02-30T21:00:00+08:00"})
    assert response.status_code == 400


def test_a_keys_last_use_is_stamped_to_the_minute_not_rewritten_by_every_submission(
    api, client_app, pothole
):
    fields = {"api_key": client_app.raw, "service_code": "pothole", "lat": 39.05, "long": 116.05}
    assert post(api, **fields).status_code == 200
    client_app.refresh_from_db()
    first = client_app.last_used_at

    assert post(api, **fields).status_code == 200
    client_app.refresh_from_db()
    assert client_app.last_used_at == first

    Open311ApiKey.objects.filter(pk=client_app.pk).update(
        last_used_at=first - timedelta(minutes=2)
    )
    assert post(api, **fields).status_code == 200
    client_app.refresh_from_db()
    assert client_app.last_used_at > first
