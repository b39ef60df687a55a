"""POST /api/v1/requests: JSON and multipart, validation, Idempotency-Key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from services.models import Attachment, Category, Event, IdempotencyKey, ServiceRequest
from services.services import idempotency_keys_prune
from tests.factories import CategoryFactory
from tests.services.conftest import image_bytes

URL = "/api/v1/requests"


@pytest.fixture
def body(pothole):
    return {
        "category": "pothole",
        "description": "A deep pothole in front of the school gate.",
        "lat": 39.05,
        "lon": 116.05,
        "address": "12 School Road",
        "attributes": {"size": "large"},
    }


def test_resident_files_a_request_and_gets_201_with_reference_and_location(
    client_for, resident, body, district
):
    response = client_for(resident).post(URL, body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["reference"].startswith("CD-")
    assert response["Location"] == f"/api/v1/requests/{data['reference']}"
    assert data["status"] == "submitted"
    assert data["district"]["code"] == "central"
    assert data["attribute_values"] == {"size": "large"}
    assert data["version"] >= 1
    request = ServiceRequest.objects.get(reference=data["reference"])
    assert request.reporter == resident
    assert request.channel == "web"
    assert request.due_at is not None


def test_anonymous_cannot_file_a_request(api, body):
    response = api.post(URL, body, format="json")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert ServiceRequest.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lat": 91}, "lat"),
        ({"lon": -181}, "lon"),
        ({"lat": "north"}, "lat"),
        ({"description": ""}, "description"),
        ({"description": "x" * 5001}, "description"),
        ({"category": "no-such-thing"}, "category"),
        ({"attributes": {}}, "attributes.size"),
        ({"attributes": {"size": "enormous"}}, "attributes.size"),
        ({"attributes": {"size": "small", "colour": "red"}}, "attributes.colour"),
        ({"surprise": True}, "surprise"),
        ({"lat": None, "lon": None, "address": ""}, "location"),
    ],
)
def test_bad_input_gets_a_field_error_and_writes_nothing(client_for, resident, body, change, field):
    response = client_for(resident).post(URL, {**body, **change}, format="json")
    assert response.status_code == 400, response.content
    problem = response.json()
    assert problem["status"] == 400
    assert field in problem["errors"], problem
    assert ServiceRequest.objects.count() == 0
    assert Event.objects.count() == 0


def test_inactive_category_is_refused(client_for, resident, body, pothole):
    Category.objects.filter(pk=pothole.pk).update(is_active=False)
    response = client_for(resident).post(URL, body, format="json")
    assert response.status_code == 400
    assert "category" in response.json()["errors"]


def test_field_errors_follow_accept_language(client_for, resident, body):
    response = client_for(resident).post(
        URL, {**body, "lat": 91}, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert response.status_code == 400
    assert response["Content-Language"] == "zh-hans"


def test_multipart_with_photos_stores_them_with_the_request(client_for, resident, body):
    data = {k: v for k, v in body.items() if k != "attributes"}
    data["attributes"] = '{"size": "small"}'
    data["photos"] = [
        SimpleUploadedFile("a.jpg", image_bytes("JPEG"), content_type="image/jpeg"),
        SimpleUploadedFile("b.png", image_bytes("PNG"), content_type="image/png"),
    ]
    response = client_for(resident).post(URL, data, format="multipart")
    assert response.status_code == 201, response.content
    attachments = response.json()["attachments"]
    assert [a["content_type"] for a in attachments] == ["image/jpeg", "image/png"]
    assert Attachment.objects.count() == 2


def test_a_bad_photo_in_a_submission_writes_no_request(client_for, resident, body):
    data = {k: v for k, v in body.items() if k != "attributes"}
    data["attributes"] = '{"size": "small"}'
    data["photos"] = [
        SimpleUploadedFile("a.jpg", image_bytes("JPEG"), content_type="image/jpeg"),
        SimpleUploadedFile("evil.jpg", b"not really a picture", content_type="image/jpeg"),
    ]
    response = client_for(resident).post(URL, data, format="multipart")
    assert response.status_code == 415
    assert "photos" in response.json()["errors"]
    assert ServiceRequest.objects.count() == 0
    assert Attachment.objects.count() == 0


def test_more_than_five_photos_are_refused(client_for, resident, body):
    data = {k: v for k, v in body.items() if k != "attributes"}
    data["attributes"] = '{"size": "small"}'
    data["photos"] = [
        SimpleUploadedFile(f"{i}.jpg", image_bytes("JPEG"), content_type="image/jpeg")
        for i in range(6)
    ]
    response = client_for(resident).post(URL, data, format="multipart")
    assert response.status_code == 400
    assert "photos" in response.json()["errors"]
    assert ServiceRequest.objects.count() == 0


# --- Idempotency-Key ------------------------------------------------------------------------


def test_same_idempotency_key_and_body_returns_the_same_request_with_200(
    client_for, resident, body
):
    client = client_for(resident)
    first = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-123")
    retry = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-123")
    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.json()["reference"] == first.json()["reference"]
    assert ServiceRequest.objects.count() == 1


def test_same_idempotency_key_with_another_body_is_422_and_writes_nothing(
    client_for, resident, body
):
    client = client_for(resident)
    client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-123")
    other = client.post(
        URL, {**body, "description": "Something else"}, format="json", HTTP_IDEMPOTENCY_KEY="k-123"
    )
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["errors"]
    assert ServiceRequest.objects.count() == 1


def test_an_idempotency_key_older_than_its_lifetime_makes_a_new_request(
    client_for, resident, body, settings
):
    settings.CIVICDESK = {**settings.CIVICDESK, "IDEMPOTENCY_KEY_HOURS": 24}
    client = client_for(resident)
    first = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-123")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    later = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-123")
    assert later.status_code == 201
    assert later.json()["reference"] != first.json()["reference"]
    assert IdempotencyKey.objects.get().request.reference == later.json()["reference"]


def test_pruning_deletes_only_idempotency_keys_past_their_lifetime(client_for, resident, body):
    client = client_for(resident)
    client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="old")
    client.post(URL, {**body, "description": "Another"}, format="json",
                HTTP_IDEMPOTENCY_KEY="new")
    IdempotencyKey.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(days=2)
    )
    assert idempotency_keys_prune() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_idempotency_keys_belong_to_one_user(client_for, resident, other_resident, body):
    client_for(resident).post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-123")
    theirs = client_for(other_resident).post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-123")
    assert theirs.status_code == 201
    assert ServiceRequest.objects.count() == 2
    assert IdempotencyKey.objects.count() == 2


def test_replay_with_the_same_photos_is_200_and_different_photos_422(client_for, resident, body):
    client = client_for(resident)

    def post(photo: bytes):
        data = {k: v for k, v in body.items() if k != "attributes"}
        data["attributes"] = '{"size": "small"}'
        data["photos"] = [SimpleUploadedFile("a.jpg", photo, content_type="image/jpeg")]
        return client.post(URL, data, format="multipart", HTTP_IDEMPOTENCY_KEY="photo-key")

    assert post(image_bytes("JPEG")).status_code == 201
    assert post(image_bytes("JPEG")).status_code == 200
    assert post(image_bytes("JPEG", size=(10, 10))).status_code == 422
    assert Attachment.objects.count() == 1


def test_an_unusable_idempotency_key_is_a_field_error(client_for, resident, body):
    response = client_for(resident).post(
        URL, body, format="json", HTTP_IDEMPOTENCY_KEY="x" * 101
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]


def test_submissions_are_throttled_per_user(client_for, resident, body, settings):
    from rest_framework.throttling import ScopedRateThrottle

    ScopedRateThrottle.THROTTLE_RATES = {**ScopedRateThrottle.THROTTLE_RATES, "submit": "2/hour"}
    try:
        client = client_for(resident)
        codes = [client.post(URL, body, format="json").status_code for _ in range(3)]
    finally:
        ScopedRateThrottle.THROTTLE_RATES = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert codes == [201, 201, 429]


def test_a_complaint_about_another_residents_request_is_a_field_error(
    client_for, resident, other_resident, body, roads
):
    theirs = client_for(other_resident).post(URL, body, format="json").json()["reference"]
    CategoryFactory(code="conduct", kind=Category.Kind.COMPLAINT, department=roads)
    response = client_for(resident).post(
        URL,
        {"category": "conduct", "description": "Rude clerk.", "address": "Town hall",
         "related_request": theirs},
        format="json",
    )
    assert response.status_code == 400
    assert "related_request" in response.json()["errors"]
    assert ServiceRequest.objects.count() == 1
