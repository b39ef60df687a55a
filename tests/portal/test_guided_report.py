"""The guided report, without JavaScript: what (with a suggested category the resident
confirms) → where → details and photos → review → thank-you page."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from services.classifier import category_suggest
from services.models import Category, IdempotencyKey, ServiceRequest
from tests.factories import CategoryFactory, DepartmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def city(roads, triage):
    lighting = DepartmentFactory(code="lighting", name_en="Street Lighting")
    pothole = CategoryFactory(
        code="pothole", name_en="Pothole", department=roads, keywords="hole,pothole,road",
        sla_hours=72,
        attributes=[{"code": "size", "datatype": "singlevaluelist", "required": True,
                     "description": "How big is it?",
                     "values": [{"key": "small", "name": "Small"},
                                {"key": "large", "name": "Large"}]}],
    )
    streetlight = CategoryFactory(code="streetlight", name_en="Streetlight out",
                                  department=lighting, keywords="light,lamp,dark")
    return {"pothole": pothole, "streetlight": streetlight}


@pytest.fixture
def client(resident):
    c = Client()
    c.force_login(resident)
    c.get(reverse("portal:guided-start"))
    return c


def step(name: str) -> str:
    return reverse("portal:guided", args=[name])


def photo() -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format="PNG")
    return SimpleUploadedFile("hole.png", out.getvalue(), content_type="image/png")


def walk_to_review(client, *, details=None):
    assert client.post(step("what"), {"description": "A deep pothole in the road"})[
        "Location"] == step("category")
    assert client.post(step("category"), {"category": "pothole"})["Location"] == step("where")
    assert client.post(step("where"), {"address": "12 Jianshe Road"})["Location"] == step(
        "details")
    response = client.post(step("details"), details or {"attr__pothole__size": "large"})
    assert response["Location"] == step("review")


def test_the_category_step_preselects_the_suggestion_from_the_description(client, city):
    client.post(step("what"), {"description": "The street lamp outside is dark every night"})
    page = client.get(step("category")).content.decode()
    assert 'data-suggestion="streetlight"' in page
    assert 'id="cat-streetlight" value="streetlight" checked' in page
    assert 'id="cat-pothole" value="pothole" checked' not in page


def test_the_suggestion_is_only_a_suggestion_the_resident_confirms(client, city):
    client.post(step("what"), {"description": "The street lamp outside is dark every night"})
    # Next without a choice sent: nothing is assumed.
    response = client.post(step("category"), {})
    assert response.status_code == 400
    # The resident may choose something else than the suggestion.
    assert client.post(step("category"), {"category": "pothole"})["Location"] == step("where")


def test_category_suggest_names_the_likely_category_or_nothing(city):
    categories = list(Category.objects.select_related("department"))
    assert category_suggest(text="There is a big pothole in the road", categories=categories
                            ) == city["pothole"]
    assert category_suggest(text="zzzz qqqq", categories=categories) is None


def test_required_questions_are_marked_and_checked_at_their_step(client, city):
    client.post(step("what"), {"description": "A deep pothole in the road"})
    client.post(step("category"), {"category": "pothole"})
    client.post(step("where"), {"address": "12 Jianshe Road"})
    page = client.get(step("details")).content.decode()
    assert "How big is it? <span class=\"muted\">(required)</span>" in page
    response = client.post(step("details"), {})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not ServiceRequest.objects.exists()


def test_a_step_without_any_location_is_refused(client, city):
    client.post(step("what"), {"description": "A deep pothole in the road"})
    client.post(step("category"), {"category": "pothole"})
    response = client.post(step("where"), {"address": "  "})
    assert response.status_code == 400
    assert "Give an address or landmark" in response.content.decode()


def test_steps_cannot_be_skipped(client, city):
    assert client.get(step("review"))["Location"] == step("what")
    client.post(step("what"), {"description": "A deep pothole in the road"})
    assert client.get(step("details"))["Location"] == step("category")


def test_the_review_shows_every_answer_and_nothing_is_filed_before_send(client, city):
    walk_to_review(client)
    page = client.get(step("review")).content.decode()
    for text in ("Pothole", "A deep pothole in the road", "12 Jianshe Road", "Large"):
        assert text in page
    assert not ServiceRequest.objects.exists()


def test_sending_files_the_request_and_thanks_with_reference_department_and_target(
    client, city, resident, django_capture_on_commit_callbacks
):
    walk_to_review(client, details={"attr__pothole__size": "large", "photos": photo(),
                                    "is_public": "on"})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(step("review"))
    sr = ServiceRequest.objects.get()
    assert response["Location"] == reverse("portal:guided-thanks", args=[sr.reference])
    assert (sr.reporter, sr.category.code, sr.address) == (resident, "pothole", "12 Jianshe Road")
    assert sr.attribute_values == {"size": "large"}
    assert sr.is_public is True
    assert sr.attachments.count() == 1
    page = client.get(response["Location"]).content.decode()
    assert f'data-reference>{sr.reference}<' in page
    assert "Roads" in page
    due = timezone.localtime(sr.due_at).strftime("%Y-%m-%dT%H:%M:%S")
    assert f'datetime="{due}' in page
    assert "What happens next" in page
    assert 'id="thanks-heading" tabindex="-1" data-focus-on-load' in page


def test_sending_twice_files_once(client, city):
    walk_to_review(client)
    first = client.post(step("review"))
    second = client.post(step("review"))
    assert ServiceRequest.objects.count() == 1
    assert first.status_code == 302
    assert second.status_code == 302


def test_the_thank_you_page_is_only_for_the_reporter(client, city, other_resident):
    walk_to_review(client)
    client.post(step("review"))
    sr = ServiceRequest.objects.get()
    other = Client()
    other.force_login(other_resident)
    response = other.get(reverse("portal:guided-thanks", args=[sr.reference]))
    assert response.status_code == 404


def test_the_guided_report_and_the_app_give_the_same_report_the_same_body_hash(
    client, city, resident
):
    walk_to_review(client, details={"attr__pothole__size": "large", "photos": photo()})
    assert client.post(step("review")).status_code == 302
    api = APIClient()
    api.force_authenticate(resident)
    response = api.post(
        "/api/v1/requests",
        {"category": "pothole", "description": "A deep pothole in the road",
         "address": "12 Jianshe Road", "attributes": '{"size": "large"}', "photos": [photo()]},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="app-key",
    )
    assert response.status_code == 201
    web, app = IdempotencyKey.objects.order_by("-key")
    assert (web.key[:4], app.key) == ("web:", "app-key")
    assert web.body_hash == app.body_hash
