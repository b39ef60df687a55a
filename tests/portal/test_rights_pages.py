"""Residents' rights pages and the staff reveal: who looked, export, delete; officer views."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from consent import ledger
from consent.demo import seed_register
from consent.rights import services as rights_services
from consent.rights.models import AccessEvent, ExportJob
from portal.accounts.models import User
from services import services as request_services
from services.routing import request_route
from tests.factories import PASSWORD, CategoryFactory
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        mfa_login(client, user)
    return client


@pytest.fixture
def filed(resident, roads, triage, django_capture_on_commit_callbacks):
    seed_register()
    category = CategoryFactory(code="pothole", department=roads)
    # Routed by the routing service itself (not through Celery): with REDIS_URL set the task
    # would go to a broker with no worker in this test.
    with django_capture_on_commit_callbacks(execute=False):
        sr = request_services.request_submit(
            reporter=resident, category=category, description="Hole", address="Elm 3"
        )
    request_route(request_id=sr.pk)
    sr.refresh_from_db()
    return sr


def _reveal(client: Client, sr, fields=("phone",)):
    return client.post(
        reverse("portal:wb-reveal", args=[sr.reference]),
        {"show": list(fields), "purpose": "service-delivery", "reason": "contact_resident"},
    )


def test_clerk_reveals_a_phone_number_with_a_purpose_and_the_resident_sees_it(
    filed, clerk_roads, resident
):
    response = _reveal(browser(clerk_roads), filed)
    assert response.status_code == 200
    assert resident.phone in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    page = browser(resident).get(reverse("portal:my-data")).content.decode()
    assert AccessEvent.objects.filter(subject=resident).count() == 1
    assert "viewed your phone number" in page


def test_reveal_without_fields_shows_the_error_and_logs_nothing(filed, clerk_roads):
    response = browser(clerk_roads).post(
        reverse("portal:wb-reveal", args=[filed.reference]),
        {"purpose": "service-delivery", "reason": "contact_resident"},
    )
    assert response.status_code == 400
    assert not AccessEvent.objects.exists()


def test_clerk_of_another_department_cannot_reveal(filed, clerk_parks):
    assert _reveal(browser(clerk_parks), filed).status_code == 404
    assert not AccessEvent.objects.exists()


def test_resident_requests_an_export_and_sees_it_ready(filed, resident):
    client = browser(resident)
    client.post(reverse("portal:export-request"))
    job = ExportJob.objects.get(user=resident)
    assert job.state == "queued"
    rights_services.export_build(job_id=job.pk)  # what the Celery job runs
    job.refresh_from_db()
    assert job.state == "ready"
    page = client.get(reverse("portal:my-data")).content.decode()
    assert reverse("api:me-export-download", args=[job.pk]) in page


def test_delete_page_shows_what_goes_and_what_stays(filed, resident):
    page = browser(resident).get(reverse("portal:delete-account")).content.decode()
    assert "What will be removed" in page
    assert "What is kept, and why" in page


def test_delete_needs_the_confirmation_box(filed, resident):
    response = browser(resident).post(reverse("portal:delete-account"), {})
    assert response.status_code == 400
    assert User.objects.filter(pk=resident.pk).exists()


def test_delete_asks_to_reauthenticate_first(filed, resident):
    response = browser(resident).post(reverse("portal:delete-account"), {"confirm": "yes"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    assert User.objects.filter(pk=resident.pk).exists()


def test_delete_after_reauthentication_erases_and_shows_the_receipt(filed, resident):
    client = browser(resident)
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    response = client.post(reverse("portal:delete-account"), {"confirm": "yes"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "data-erasure-receipt" in page
    assert not User.objects.filter(email="li.wei@example.org").exists()
    filed.refresh_from_db()
    assert filed.reporter_id is None


def test_delete_page_says_when_the_erasure_becomes_final(filed, resident, settings):
    settings.CIVICDESK = {**settings.CIVICDESK, "KEYSTORE_BACKUP_DAYS": 9,
                          "DATABASE_BACKUP_DAYS": 40}
    page = browser(resident).get(reverse("portal:delete-account")).content.decode()
    assert "When the erasure is final" in page
    assert "kept 9 days" in page
    assert "after 40 days" in page


def test_the_deleted_page_gives_the_date_the_link_is_gone_for_good(filed, resident):
    client = browser(resident)
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    page = client.post(reverse("portal:delete-account"), {"confirm": "yes"}).content.decode()
    final = timezone.now() + timedelta(days=settings.CIVICDESK["DATABASE_BACKUP_DAYS"])
    assert f"From {final.date().isoformat()} the link" in page


def test_data_officer_sees_the_access_log_with_pseudonyms(filed, clerk_roads, data_officer,
                                                          resident):
    _reveal(browser(clerk_roads), filed)
    page = browser(data_officer).get(reverse("portal:dpo-access-log")).content.decode()
    assert filed.reference in page
    assert resident.email not in page
    assert resident.phone not in page


@pytest.mark.parametrize("role", ["resident", "clerk_roads"])
def test_access_log_and_requests_pages_are_for_data_officers_only(request, role):
    user = request.getfixturevalue(role)
    client = browser(user)
    assert client.get(reverse("portal:dpo-access-log")).status_code == 403
    assert client.get(reverse("portal:dpo-dsr")).status_code == 403


def test_data_officer_starts_a_verification_and_sees_the_result(data_officer):
    seed_register()
    client = browser(data_officer)
    response = client.post(reverse("portal:dpo-verify"), follow=True)
    assert "Verification started" in response.content.decode()
    ledger.verify_log(record=True)  # what the background job runs (eagerly without Redis)
    page = client.get(reverse("portal:dpo")).content.decode()
    assert "passed" in page


def test_workbench_shows_photos_only_after_a_logged_reveal(filed, clerk_roads):
    from services.models import Attachment

    Attachment.objects.create(
        request=filed, content_type="image/png", width=1, height=1, size=10, token="tok1",
        file="attachments/x/tok1.png",
    )
    client = browser(clerk_roads)
    page = client.get(reverse("portal:workbench", args=[filed.reference])).content.decode()
    photo_url = reverse("portal:photo", args=[filed.reference, "tok1"])
    assert photo_url not in page
    assert "data-photo-count" in page
    revealed = _reveal(client, filed, fields=("photos",)).content.decode()
    assert photo_url in revealed
    assert AccessEvent.objects.filter(revealed_fields=["photos"]).count() == 1


def test_data_officer_moves_a_counter_request_on_and_a_refusal_needs_reasons(
    resident, clerk_roads, data_officer
):
    dsr = rights_services.dsr_create(
        kind="erasure", channel="counter", subject=resident, recorded_by=clerk_roads
    )
    client = browser(data_officer)
    url = reverse("portal:dpo-dsr-update", args=[dsr.reference])
    assert dsr.reference in client.get(reverse("portal:dpo-dsr")).content.decode()
    client.post(url, {"status": "refused", "outcome": ""})
    dsr.refresh_from_db()
    assert dsr.status == "received"
    client.post(url, {"status": "in_progress", "outcome": "We are on it."})
    dsr.refresh_from_db()
    assert dsr.status == "in_progress"
    assert browser(resident).post(url, {"status": "completed"}).status_code == 403


def test_the_reveal_form_defaults_to_a_purpose_that_works_and_says_what_each_permits(
    filed, clerk_roads, resident
):
    import re

    client = browser(clerk_roads)
    page = client.get(reverse("portal:workbench", args=[filed.reference])).content.decode()
    select = page.split('name="purpose"', 1)[1].split("</select>", 1)[0]
    options = re.findall(r"<option[^>]*>([^<]*)</option>", select)
    assert options
    assert all("may show:" in label for label in options)
    default = re.search(r'<option value="([^"]+)"[^>]*selected', select).group(1)
    response = client.post(
        reverse("portal:wb-reveal", args=[filed.reference]),
        {"show": ["name", "email", "phone"], "purpose": default, "reason": "contact_resident"},
    )
    assert response.status_code == 200
    assert resident.phone in response.content.decode()
