"""The one door for filing a request (`services.services.request_file`): the category, the
attributes, the related request and the Idempotency-Key body hash, the same for every channel."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from core.errors import Forbidden, Invalid, Unprocessable
from services.attachments import photos_prepare
from services.models import Category, IdempotencyKey, ServiceRequest
from services.services import request_file, request_submit
from tests.factories import CategoryFactory
from tests.services.conftest import image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def conduct(roads):
    return CategoryFactory(code="conduct", kind=Category.Kind.COMPLAINT, department=roads)


def _file(reporter, category="streetlight", **fields):
    fields.setdefault("description", "The lamp is dark.")
    fields.setdefault("address", "Elm Street 4")
    return request_file(reporter=reporter, category=category, **fields)


def _photos(size=(64, 48)):
    upload = SimpleUploadedFile("a.jpg", image_bytes("JPEG", size=size), content_type="image/jpeg")
    return photos_prepare(uploads=[upload])


def test_a_complaint_may_point_at_the_complainants_own_request(resident, streetlight, conduct):
    earlier = _file(resident).request
    complaint, created = _file(resident, "conduct", related_request=earlier.reference)
    assert created
    assert complaint.related_request == earlier


def test_a_complaint_cannot_point_at_another_residents_request(
    resident, other_resident, streetlight, conduct
):
    theirs = _file(other_resident).request
    with pytest.raises(Invalid) as refused:
        _file(resident, "conduct", related_request=theirs.reference)
    assert list(refused.value.errors) == ["related_request"]
    assert ServiceRequest.objects.count() == 1


def test_a_complaint_pointing_at_an_unknown_reference_is_a_field_error(resident, conduct):
    with pytest.raises(Invalid) as refused:
        _file(resident, "conduct", related_request="CD-NOSUCH")
    assert list(refused.value.errors) == ["related_request"]
    assert not ServiceRequest.objects.exists()


def test_a_submission_without_an_account_cannot_point_at_any_request(
    resident, streetlight, conduct
):
    earlier = _file(resident).request
    with pytest.raises(Invalid) as refused:
        _file(None, "conduct", related_request=earlier.reference)
    assert list(refused.value.errors) == ["related_request"]


def test_the_rule_holds_below_the_door_too(resident, other_resident, streetlight, conduct):
    theirs = _file(other_resident).request
    with pytest.raises(Invalid) as refused:
        request_submit(
            reporter=resident, category=conduct, description="Rude.", address="Elm 1",
            related_request=theirs,
        )
    assert list(refused.value.errors) == ["related_request"]


def test_an_unknown_category_code_is_a_field_error(resident):
    with pytest.raises(Invalid) as refused:
        _file(resident, "no-such-category")
    assert list(refused.value.errors) == ["category"]


def test_attribute_values_are_checked_against_the_category(resident, pothole):
    with pytest.raises(Invalid) as refused:
        _file(resident, "pothole", attribute_values={"size": "enormous"})
    assert list(refused.value.errors) == ["attributes.size"]
    assert not ServiceRequest.objects.exists()


def test_the_same_key_and_body_answers_the_first_request(resident, streetlight):
    first = _file(resident, photos=_photos(), idempotency_key="k1")
    again = _file(resident, photos=_photos(), idempotency_key="k1")
    assert (again.request, again.created) == (first.request, False)
    assert ServiceRequest.objects.count() == 1


def test_the_same_key_with_other_photo_bytes_is_refused(resident, streetlight):
    _file(resident, photos=_photos(), idempotency_key="k1")
    with pytest.raises(Unprocessable):
        _file(resident, photos=_photos(size=(10, 10)), idempotency_key="k1")
    assert IdempotencyKey.objects.count() == 1


# --- The same body through two doors -------------------------------


def _upload(name="hole.jpg"):
    return SimpleUploadedFile(name, image_bytes("JPEG"), content_type="image/jpeg")


def _api_post(client_for, resident, **extra):
    data = {"category": "pothole", "description": "Deep hole.", "address": "Elm Street 4",
            "attributes": '{"size": "large"}', "photos": [_upload("IMG_0001.jpg")], **extra}
    return client_for(resident).post(
        "/api/v1/requests", data, format="multipart", HTTP_IDEMPOTENCY_KEY="app-key"
    )


def _form_post(resident, **extra):
    client = Client()
    client.force_login(resident)
    page = client.get(reverse("portal:request-new")).content.decode()
    token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
    data = {"form_token": token, "category": "pothole", "description": "Deep hole.",
            "address": "Elm Street 4", "attr__pothole__size": "large",
            "photos": [_upload("photo.jpg")], **extra}
    return client.post(reverse("portal:request-new"), data)


def test_the_same_report_from_the_app_and_the_form_has_the_same_body_hash(
    client_for, resident, pothole
):
    assert _api_post(client_for, resident).status_code == 201
    assert _form_post(resident).status_code == 302
    app, web = IdempotencyKey.objects.order_by("key")
    assert (app.key, web.key[:4]) == ("app-key", "web:")
    assert app.body_hash == web.body_hash



def test_an_anonymous_visitor_cannot_file_through_the_door(streetlight):
    with pytest.raises(Forbidden):
        _file(AnonymousUser())
    assert not ServiceRequest.objects.exists()
