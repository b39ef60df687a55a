"""Residents leave: re-authenticate, erase, and no personal data stays anywhere."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import connection

from consent import ledger
from consent.keystore import keystore
from consent.models import ConsentEvent
from consent.rights.erasure import account_erase
from consent.rights.models import AccessEvent, AnonymisedRequest, ErasureReceipt
from consent.rights.retention import apply_retention
from consent.rights.reveals import contact_details_reveal
from consent.services import consent_decide, purpose_upsert
from consent.verify import verify_statement
from outbox.models import OutboxMessage
from services.models import Attachment, Event, Follow, ServiceRequest
from services.services import REMOVED_MARKER, TOPIC_EVENT, request_reply
from tests.rights.conftest import app_login, app_reauthenticate, file_request

pytestmark = pytest.mark.usefixtures("register")


def personal_data_left(terms: list[str]) -> list[tuple[str, str]]:
    """Every table's every column (text, JSON, anything) scanned for the terms; sessions decoded."""
    hits = []
    lowered = [t.lower() for t in terms]
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                text = " ".join(str(v) for v in row if v is not None).lower()
                hits.extend((table, t) for t in lowered if t in text)
    for session in Session.objects.all():
        text = json.dumps(session.get_decoded(), default=str).lower()
        hits.extend(("django_session (decoded)", t) for t in lowered if t in text)
    return hits


@pytest.fixture
def lived_in_account(resident, li_request, clerk_lighting, other_resident, streetlight,
                     django_capture_on_commit_callbacks):
    """A resident with everything: request, comment, photo, a staff reply quoting their name,
    a consent, an access event, a follow and a finished export."""
    request_reply(request=li_request, actor=clerk_lighting,
                  text=f"Dear {resident.display_name}, we will call {resident.phone}.")
    consent_decide(subject=resident, purpose_code="satisfaction-survey", decision="give",
                   notice_version=1)
    contact_details_reveal(actor=clerk_lighting, reference=li_request.reference,
                           fields=["phone"], purpose="service-delivery")
    theirs = file_request(other_resident, streetlight, description="Another lamp.", photo=False,
                          address="1 Other Street")
    Follow.objects.create(user=resident, request=theirs)
    from consent.rights.exports import export_start

    with django_capture_on_commit_callbacks(execute=True):
        export_start(user=resident)
    return resident


def test_delete_without_recent_reauthentication_is_401_with_the_allauth_flow(
    client_for, resident
):
    response = client_for(resident).post("/api/v1/me/delete", {"dry_run": False}, format="json")

    assert response.status_code == 401
    body = response.json()
    assert {"id": "reauthenticate"} in body["data"]["flows"]
    assert body["reauthenticate"]["password"].endswith("/auth/reauthenticate")
    assert get_user_model().objects.filter(pk=resident.pk).exists()


def test_a_login_alone_is_not_a_recent_reauthentication(resident):
    client, token = app_login(resident)

    response = client.post("/api/v1/me/delete", {"dry_run": False},
                           content_type="application/json", headers={"X-Session-Token": token})

    assert response.status_code == 401
    assert response.json()["meta"]["is_authenticated"] is True


def test_dry_run_changes_nothing_and_says_what_is_kept_and_why(client_for, lived_in_account):
    response = client_for(lived_in_account).post("/api/v1/me/delete", {"dry_run": True},
                                                 format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True
    assert body["receipt"] is None
    assert body["counts"]["requests_anonymised"] == 1
    assert any("Art. 17(3)" in k["why"] for k in body["kept"])
    assert get_user_model().objects.filter(pk=lived_in_account.pk).exists()
    assert ServiceRequest.objects.filter(reporter=lived_in_account).exists()


def test_erasure_leaves_no_personal_data_anywhere(
    lived_in_account, li_request, django_capture_on_commit_callbacks
):
    resident = lived_in_account
    terms = [resident.email, resident.display_name, resident.phone, "12 Lamp Lane",
             "Call me after six, please.", li_request.description]
    photo_path = Path(Attachment.objects.get(request=li_request).file.path)
    export_dir = Path(settings.CIVICDESK["EXPORT_ROOT"])
    assert personal_data_left(terms), "the scan must see the data before the erasure"
    client, token = app_login(resident)
    app_reauthenticate(client, token)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/me/delete", {"dry_run": False},
                               content_type="application/json",
                               headers={"X-Session-Token": token})

    assert response.status_code == 200, response.content
    assert personal_data_left(terms) == []
    assert not photo_path.exists()
    assert not [p for p in export_dir.rglob("*") if p.is_file()]
    # The request stays as an anonymised record for the public record and statistics.
    kept = ServiceRequest.objects.get(pk=li_request.pk)
    assert kept.reporter_id is None
    assert kept.description == REMOVED_MARKER
    assert (kept.category_id, kept.status) == (li_request.category_id, li_request.status)
    assert round(kept.lat, 2) == kept.lat  # a private address: position coarsened
    assert Event.objects.filter(request=kept, type="comment_by_resident").get().text \
        == REMOVED_MARKER
    # The session token died with the account.
    assert client.get("/api/v1/me", headers={"X-Session-Token": token}).status_code == 401


def test_erasure_destroys_the_pseudonym_key_and_the_log_still_verifies(
    lived_in_account, django_capture_on_commit_callbacks
):
    resident = lived_in_account
    events_before = ConsentEvent.objects.count()
    assert keystore().get(resident.pk) is not None

    with django_capture_on_commit_callbacks(execute=True):
        account_erase(user=resident, dry_run=False)

    assert keystore().get(resident.pk) is None
    assert ConsentEvent.objects.count() == events_before  # history kept, now unlinkable
    assert AccessEvent.objects.get().subject_id is None
    ledger.publish_tree_head()
    assert ledger.verify_log(record=False).ok


def test_erasure_receipt_is_signed_and_in_the_log(lived_in_account):
    result = account_erase(user=lived_in_account, dry_run=False)

    receipt = ErasureReceipt.objects.get()
    statement = verify_statement(receipt.statement, receipt.signature,
                                 ledger.log_key().verifier)
    assert statement["receipt_id"] == str(result.receipt.pk)
    assert statement["log"]["index"] == receipt.log_entry_id
    assert statement["removed"]["requests_anonymised"] == 1
    assert lived_in_account.email not in receipt.statement


def test_staff_accounts_are_not_erased_here(client_for, clerk_lighting):
    response = client_for(clerk_lighting).post("/api/v1/me/delete", {"dry_run": True},
                                               format="json")

    assert response.status_code == 409


def test_text_under_a_legal_obligation_is_kept_until_its_end_and_the_resident_is_told(
    resident, li_request
):
    purpose_upsert(
        code="complaint-records", title_en="Keeping complaint records",
        description_en="The archives law obliges us to keep complaints.",
        dpv_purpose="https://w3id.org/dpv#LegalCompliance", legal_basis="legal_obligation",
        legal_reference="Municipal archives act, art. 12", data_categories=["free_text"],
        recipients=[], retention_days=365, retention_trigger="after the request is closed",
        retention_end_action="delete", requires_consent=False, is_active=True,
    )
    description = li_request.description

    result = account_erase(user=resident, dry_run=False)

    told = [k for k in result.plan.kept if k.get("purpose") == "complaint-records"]
    assert told
    assert "Municipal archives act" in told[0]["why"]
    kept = ServiceRequest.objects.get(pk=li_request.pk)
    assert kept.reporter_id is None
    assert kept.description == description
    hold = AnonymisedRequest.objects.get(request=kept)
    assert hold.complete is False
    # At the end of the obligation the nightly retention removes it.
    apply_retention(now=hold.kept_until + timedelta(days=1))
    assert ServiceRequest.objects.get(pk=li_request.pk).description == REMOVED_MARKER
    assert AnonymisedRequest.objects.get(request=kept).complete is True


def test_erasure_changes_requests_through_their_owner_with_a_version_an_event_and_a_push(
    lived_in_account, li_request, django_capture_on_commit_callbacks
):
    before = ServiceRequest.objects.get(pk=li_request.pk).version

    with django_capture_on_commit_callbacks(execute=False):
        account_erase(user=lived_in_account, dry_run=False)

    request = ServiceRequest.objects.get(pk=li_request.pk)
    assert request.version == before + 1
    event = Event.objects.get(request=request, type=Event.Type.ANONYMISED)
    assert (event.visibility, event.version, event.actor_id) == ("internal", request.version, None)
    assert event.data == {"cause": "erasure"}
    assert OutboxMessage.objects.filter(
        topic=TOPIC_EVENT, payload={"event_id": event.pk}
    ).exists()
