"""Residents keep their own data up to date (portal and API); every change is listed for
them; the e-mail address changes only through allauth's verified flow."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from portal.accounts.models import ProfileChange
from services.models import Event, Status
from services.notifications import notification_deliver
from services.services import event_record
from tests.factories import PASSWORD, CategoryFactory, ServiceRequestFactory, UserFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def test_a_resident_changes_name_phone_language_and_email_choice_on_the_portal():
    user = UserFactory(display_name="Li", phone="", preferred_language="en")
    client = signed_in(user)

    response = client.post("/my/profile/", {
        "display_name": "Li Wei", "phone": "+86 138 1234 5678",
        "preferred_language": "zh-hans", "email_updates": "outcomes",
    })

    user.refresh_from_db()
    assert response.status_code == 302
    assert (user.display_name, user.phone, user.preferred_language, user.email_updates) == (
        "Li Wei", "+86 138 1234 5678", "zh-hans", "outcomes")
    assert sorted(ProfileChange.objects.filter(user=user).values_list("field", flat=True)) == [
        "display_name", "email_updates", "phone", "preferred_language"]


def test_the_profile_page_lists_the_residents_own_changes_in_their_language():
    user = UserFactory(display_name="Li", preferred_language="en")
    client = signed_in(user)
    client.post("/my/profile/", {"display_name": "Li Wei", "phone": "",
                                 "preferred_language": "zh-hans", "email_updates": "all"})

    page = client.get("/my/profile/").content.decode()

    assert "您的修改记录" in page
    assert page.count("data-change=") == 3  # name, phone (emptied) and language
    assert "门户" in page  # "via the portal", in Chinese now


def test_a_wrong_phone_number_is_refused_and_changes_nothing():
    user = UserFactory(display_name="Li", phone="")

    api = APIClient()
    api.force_authenticate(user)
    response = api.patch("/api/v1/me", {"phone": "call me maybe", "display_name": "X"},
                         format="json")

    user.refresh_from_db()
    assert response.status_code == 400
    assert "phone" in response.json()["errors"]
    assert (user.display_name, user.phone) == ("Li", "")
    assert not ProfileChange.objects.filter(user=user).exists()


def test_the_app_changes_the_profile_through_the_api_and_sees_the_change_listed():
    user = UserFactory(preferred_language="en")
    api = APIClient()
    api.force_authenticate(user)

    response = api.patch("/api/v1/me", {"preferred_language": "zh-hans",
                                        "email_updates": "off"}, format="json")

    body = response.json()
    assert response.status_code == 200
    assert (body["preferred_language"], body["email_updates"]) == ("zh-hans", "off")
    assert {(c["field"], c["via"]) for c in body["profile_changes"]} == {
        ("preferred_language", "api"), ("email_updates", "api")}


def test_the_api_refuses_to_change_the_email_address_directly():
    user = UserFactory()
    api = APIClient()
    api.force_authenticate(user)

    response = api.patch("/api/v1/me", {"email": "new@example.org"}, format="json")

    user.refresh_from_db()
    assert response.status_code == 400
    assert "email" in response.json()["errors"]
    assert user.email != "new@example.org"


def test_saving_unchanged_values_records_nothing():
    user = UserFactory(display_name="Li", phone="", preferred_language="en")
    api = APIClient()
    api.force_authenticate(user)

    api.patch("/api/v1/me", {"display_name": "Li", "preferred_language": "en"}, format="json")

    assert not ProfileChange.objects.filter(user=user).exists()


@pytest.fixture
def a_request(roads, clerk_roads):
    category = CategoryFactory(department=roads)
    return ServiceRequestFactory(category=category, department=roads,
                                 status=Status.IN_PROGRESS, reporter=UserFactory())


def _deliver(request, event):
    return notification_deliver(event_id=event.pk, user_id=request.reporter_id,
                                channel="email")


def test_a_resident_who_wants_no_emails_gets_none(a_request, clerk_roads):
    a_request.reporter.email_updates = "off"
    a_request.reporter.save()
    event = event_record(request=a_request, type=Event.Type.PUBLIC_REPLY, actor=clerk_roads,
                         text="On Tuesday.")

    assert not _deliver(a_request, event)
    assert mail.outbox == []


def test_a_resident_who_wants_only_outcomes_hears_of_the_resolution_not_the_reply(
    a_request, clerk_roads
):
    from services.services import request_transition

    a_request.reporter.email_updates = "outcomes"
    a_request.reporter.save()
    reply = event_record(request=a_request, type=Event.Type.PUBLIC_REPLY, actor=clerk_roads,
                         text="On Tuesday.")
    request_transition(request=a_request, actor=clerk_roads, to_status=Status.RESOLVED,
                       outcome="fixed", text="Done.")
    resolution = a_request.events.order_by("-id").first()

    assert (_deliver(a_request, reply), _deliver(a_request, resolution)) == (False, True)


def test_the_email_address_changes_only_after_the_new_one_is_confirmed():
    user = UserFactory(email="old@example.org")
    client = signed_in(user)

    client.post("/accounts/email/", {"action_add": "", "email": "new@example.org"})
    user.refresh_from_db()
    assert user.email == "old@example.org"
    [message] = [m for m in mail.outbox if m.to == ["new@example.org"]]
    code = re.search(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", message.body, re.M).group(1)
    client.post("/accounts/confirm-email/", {"code": code})

    user.refresh_from_db()
    assert user.email == "new@example.org"
    assert ProfileChange.objects.filter(user=user, field="email", via="email").exists()
