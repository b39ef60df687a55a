"""The workbench's priority and "put back in the pool" actions, through the services."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from services.models import Event, ServiceRequest
from tests.factories import CategoryFactory, MembershipFactory, ServiceRequestFactory
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    mfa_login(client, user)
    return client


@pytest.fixture
def open_request(roads):
    return ServiceRequestFactory(
        category=CategoryFactory(department=roads), department=roads, status="routed"
    )


def test_clerk_changes_priority_from_the_workbench(clerk_roads, open_request):
    response = browser(clerk_roads).post(
        reverse("portal:wb-priority", args=[open_request.reference]),
        {"prio-priority": "4", "prio-reason": "Next to the school gate."},
    )
    assert response.status_code == 302
    open_request.refresh_from_db()
    assert open_request.priority == 4


def test_priority_form_without_a_reason_shows_the_error_and_keeps_the_choice(
    clerk_roads, open_request
):
    response = browser(clerk_roads).post(
        reverse("portal:wb-priority", args=[open_request.reference]),
        {"prio-priority": "4", "prio-reason": ""},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="id_prio-reason"' in page
    assert "aria-invalid" in page
    assert '<option value="4" selected>' in page
    assert not Event.objects.filter(request=open_request, type="priority_changed").exists()


def test_assignee_puts_the_request_back_in_the_pool(clerk_roads, open_request):
    ServiceRequest.objects.filter(pk=open_request.pk).update(assignee=clerk_roads)
    response = browser(clerk_roads).post(
        reverse("portal:wb-release", args=[open_request.reference])
    )
    assert response.status_code == 302
    open_request.refresh_from_db()
    assert open_request.assignee_id is None


def test_release_button_is_hidden_from_a_clerk_on_a_colleagues_request(
    clerk_roads, roads, open_request
):
    colleague = MembershipFactory(department=roads).user
    ServiceRequest.objects.filter(pk=open_request.pk).update(assignee=colleague)
    page = browser(clerk_roads).get(
        reverse("portal:workbench", args=[open_request.reference])
    ).content.decode()
    assert reverse("portal:wb-release", args=[open_request.reference]) not in page


def test_release_button_is_shown_to_the_supervisor(supervisor_roads, clerk_roads, open_request):
    ServiceRequest.objects.filter(pk=open_request.pk).update(assignee=clerk_roads)
    page = browser(supervisor_roads).get(
        reverse("portal:workbench", args=[open_request.reference])
    ).content.decode()
    assert reverse("portal:wb-release", args=[open_request.reference]) in page
