"""Every staff page that shows a resident's personal data is an access event the resident sees
in words on "who looked at my data": the workbench, the administration's account page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from consent.models import LogEntry
from consent.rights.models import AccessEvent
from services import services as request_services
from services.routing import request_route
from tests.factories import CategoryFactory
from tests.sessions import app_login_with_totp, mfa_login

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    return mfa_login(Client(), user)


def _file(reporter, roads, django_capture_on_commit_callbacks, **fields):
    category = CategoryFactory(code="pothole", department=roads)
    with django_capture_on_commit_callbacks(execute=False):
        sr = request_services.request_submit(
            reporter=reporter, category=category, description="Hole by the gate",
            address=fields.pop("address", "Elm Street 3"), **fields,
        )
    request_route(request_id=sr.pk)
    sr.refresh_from_db()
    return sr


@pytest.fixture
def filed(register, resident, roads, triage, django_capture_on_commit_callbacks):
    return _file(resident, roads, django_capture_on_commit_callbacks)


def _events(resident, kind):
    return AccessEvent.objects.filter(subject=resident, kind=kind)


def test_walking_the_staff_pages_records_one_event_per_page_that_shows_personal_data(
    filed, resident, clerk_roads, admin_user
):
    clerk, admin = signed_in(clerk_roads), signed_in(admin_user)
    assert clerk.get(reverse("portal:queue")).status_code == 200
    assert AccessEvent.objects.count() == 0  # the queue shows no personal data
    assert clerk.get(reverse("portal:workbench", args=[filed.reference])).status_code == 200
    assert _events(resident, "view").count() == 1
    assert admin.get(reverse("admin:accounts_user_changelist")).status_code == 200
    assert AccessEvent.objects.count() == 1  # the list of people shows no personal data
    page = admin.get(reverse("admin:accounts_user_change", args=[resident.pk]))
    assert page.status_code == 200
    assert _events(resident, "admin").count() == 1
    assert AccessEvent.objects.count() == 2


def test_the_workbench_records_one_view_per_clerk_request_and_day(filed, resident, clerk_roads,
                                                                  supervisor_roads):
    clerk = signed_in(clerk_roads)
    for _ in range(3):
        clerk.get(reverse("portal:workbench", args=[filed.reference]))
    signed_in(supervisor_roads).get(reverse("portal:workbench", args=[filed.reference]))
    assert sorted(_events(resident, "view").values_list("actor_role", flat=True)) == [
        "clerk", "supervisor"]


def test_a_private_address_is_not_among_what_the_workbench_showed(
    register, resident, roads, triage, clerk_roads, django_capture_on_commit_callbacks
):
    sr = _file(resident, roads, django_capture_on_commit_callbacks, is_private_address=True)
    signed_in(clerk_roads).get(reverse("portal:workbench", args=[sr.reference]))
    assert _events(resident, "view").get().revealed_fields == ["description"]


def test_a_request_without_a_reporter_records_no_view(
    register, roads, triage, clerk_roads, django_capture_on_commit_callbacks
):
    sr = _file(None, roads, django_capture_on_commit_callbacks)
    signed_in(clerk_roads).get(reverse("portal:workbench", args=[sr.reference]))
    assert not AccessEvent.objects.exists()


def test_the_list_of_people_in_the_administration_shows_no_email_address(resident, admin_user):
    page = signed_in(admin_user).get(reverse("admin:accounts_user_changelist")).content.decode()
    assert resident.email not in page
    assert resident.display_name not in page


def test_the_resident_reads_each_staff_look_in_words(filed, resident, clerk_roads, admin_user):
    signed_in(clerk_roads).get(reverse("portal:workbench", args=[filed.reference]))
    signed_in(admin_user).get(reverse("admin:accounts_user_change", args=[resident.pk]))
    page = signed_in(resident).get(reverse("portal:my-data")).content.decode()
    assert (
        "Roads clerk opened your request and saw its address and description on" in page
    )
    assert f"to handle {filed.reference}" in page
    assert (
        "Administrator opened your account in the administration and saw your e-mail address, "
        "name and phone number on" in page
    )
    assert "to administer your account" in page


def test_the_resident_reads_the_looks_in_chinese(filed, resident, clerk_roads, admin_user):
    signed_in(clerk_roads).get(reverse("portal:workbench", args=[filed.reference]))
    signed_in(admin_user).get(reverse("admin:accounts_user_change", args=[resident.pk]))
    resident.preferred_language = "zh-hans"
    resident.save()
    text = signed_in(resident).get(reverse("portal:my-data")).content.decode()
    assert "道路办事员打开了您的请求，看到了其地址和描述，以便处理" in text
    assert "管理员在管理后台打开了您的账户" in text


def test_the_log_entries_of_staff_looks_hold_no_personal_data(
    filed, resident, clerk_roads, admin_user
):
    signed_in(clerk_roads).get(reverse("portal:workbench", args=[filed.reference]))
    signed_in(admin_user).get(reverse("admin:accounts_user_change", args=[resident.pk]))
    entries = " ".join(LogEntry.objects.filter(kind="access").values_list("entry", flat=True))
    assert entries.count('"type":"access"') == 2
    for value in (resident.email, resident.display_name, resident.phone, "Elm Street",
                  "Hole by the gate"):
        assert value not in entries


def test_an_administrator_opening_their_own_account_records_nothing(admin_user):
    signed_in(admin_user).get(reverse("admin:accounts_user_change", args=[admin_user.pk]))
    assert not AccessEvent.objects.exists()


def test_the_staff_api_detail_of_a_request_is_a_recorded_view_too(filed, resident, clerk_roads):
    client, token = app_login_with_totp(clerk_roads)
    response = client.get(f"/api/v1/staff/requests/{filed.reference}",
                          headers={"X-Session-Token": token})
    assert response.status_code == 200
    assert _events(resident, "view").count() == 1
