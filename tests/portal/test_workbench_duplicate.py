"""The workbench's "mark as duplicate of…" step (of the one "Next step" control), through the
workflow's own service."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from services import services as request_services
from services.models import Follow, ServiceRequest, Status
from services.routing import request_route
from tests.factories import CategoryFactory
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        mfa_login(client, user)
    return client


@pytest.fixture
def two_reports(resident, other_resident, roads, triage, django_capture_on_commit_callbacks):
    category = CategoryFactory(code="pothole", department=roads)
    made = []
    for who in (resident, other_resident):
        with django_capture_on_commit_callbacks(execute=False):
            sr = request_services.request_submit(
                reporter=who, category=category, description="Hole", address="Main Street 1"
            )
        request_route(request_id=sr.pk)
        sr.refresh_from_db()
        made.append(sr)
    return made


def _token(page: str) -> str:
    form = page[page.index("data-next-step"):]
    match = re.search(r'name="form_token" value="([^"]+)"', form)
    assert match
    return match.group(1)


def _mark(client: Client, duplicate, original_ref: str, token: str = ""):
    return client.post(
        reverse("portal:wb-step", args=[duplicate.reference]),
        {"form_token": token, "step-step": "duplicate", "step-original": original_ref,
         "step-text": ""},
    )


def test_clerk_marks_a_request_as_duplicate_and_its_reporter_follows_the_original(
    two_reports, clerk_roads, other_resident
):
    original, duplicate = two_reports
    response = _mark(browser(clerk_roads), duplicate, original.reference.lower())
    assert response.status_code == 302
    duplicate.refresh_from_db()
    assert duplicate.status == Status.CLOSED
    assert duplicate.duplicate_of == original
    assert Follow.objects.filter(user=other_resident, request=original).exists()


def test_unknown_original_is_shown_on_the_field_and_changes_nothing(two_reports, clerk_roads):
    _original, duplicate = two_reports
    response = _mark(browser(clerk_roads), duplicate, "CD-NOPE000")
    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_step-original_errors"' in page
    assert 'value="CD-NOPE000"' in page
    duplicate.refresh_from_db()
    assert duplicate.status == Status.ROUTED


def test_a_request_cannot_be_marked_as_its_own_duplicate(two_reports, clerk_roads):
    original, _duplicate = two_reports
    response = _mark(browser(clerk_roads), original, original.reference)
    assert response.status_code == 400
    assert "Choose another request." in response.content.decode()


def test_double_submitted_duplicate_form_closes_once_without_an_error(two_reports, clerk_roads):
    original, duplicate = two_reports
    client = browser(clerk_roads)
    page = client.get(reverse("portal:workbench", args=[duplicate.reference])).content.decode()
    token = _token(page)
    _mark(client, duplicate, original.reference, token)
    again = client.post(
        reverse("portal:wb-step", args=[duplicate.reference]),
        {"form_token": token, "step-step": "duplicate", "step-original": original.reference},
        follow=True,
    )
    assert "That form was already sent" in again.content.decode()
    assert ServiceRequest.objects.get(pk=duplicate.pk).status == Status.CLOSED


def test_duplicate_action_is_offered_only_while_the_workflow_allows_it(two_reports, clerk_roads):
    original, duplicate = two_reports
    client = browser(clerk_roads)
    url = reverse("portal:workbench", args=[duplicate.reference])
    assert 'data-move="duplicate"' in client.get(url).content.decode()
    _mark(client, duplicate, original.reference)
    assert 'data-move="duplicate"' not in client.get(url).content.decode()


def test_clerk_of_another_department_cannot_mark_a_duplicate(two_reports, clerk_parks):
    original, duplicate = two_reports
    assert _mark(browser(clerk_parks), duplicate, original.reference).status_code == 404
    duplicate.refresh_from_db()
    assert duplicate.duplicate_of_id is None
