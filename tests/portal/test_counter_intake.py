"""Counter intake: a clerk files a request for a walk-in resident, records the consents asked on
the spot (method counter) and hands over the reference (printed receipt, e-mail)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from consent.demo import seed_register
from consent.models import ConsentEvent, ConsentRecord, LogEntry, Notice
from consent.rights.intake import counter_receipt_message
from outbox.models import OutboxMessage
from portal.accounts.models import User
from services.models import ServiceRequest
from tests.factories import STAND_IN_STAFF, CategoryFactory
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db

URL = "/staff/counter/"
SURVEY = "satisfaction-survey"
SMS = "status-notifications-sms"


@pytest.fixture
def pothole(roads, triage):
    seed_register()
    return CategoryFactory(code="pothole", department=roads, name_en="Pothole",
                           name_zh_hans="坑洼")


@pytest.fixture
def counter(clerk_roads):
    return mfa_login(Client(), clerk_roads)


def _version(code: str) -> int:
    return Notice.objects.filter(purpose__code=code).order_by("-version").first().version


def _post(client: Client, **extra):
    data = {
        "has_account": "no",
        "language": "en",
        "category": "pothole",
        "description": "Deep hole in front of the bakery",
        "address": "Elm Street 3",
        "form_token": extra.pop("form_token", "tok-" + str(len(extra))),
    }
    for code in (SURVEY, SMS):
        data[f"notice_{code}"] = str(_version(code))
    data.update(extra)
    return client.post(URL, data)


def test_a_clerk_files_a_request_for_a_walk_in_without_account_and_gets_a_printable_receipt(
    pothole, counter
):
    response = _post(counter)
    assert response.status_code == 302
    sr = ServiceRequest.objects.get()
    assert (sr.channel, sr.reporter_id) == ("counter", None)
    receipt = counter.get(response["Location"])
    page = receipt.content.decode()
    assert receipt.status_code == 200
    assert f'data-receipt="{sr.reference}"' in page
    assert "data-print" in page


def test_the_receipt_stylesheet_hides_the_portal_when_printed():
    from pathlib import Path

    css = (Path(__file__).resolve().parents[2] / "portal/static/portal/css/portal.css").read_text()
    block = css[css.index("@media print"):]
    assert ".site-header" in block
    assert ".no-print" in block


def test_a_walk_in_without_account_who_gives_an_email_gets_the_reference_by_email(
    pothole, counter, django_capture_on_commit_callbacks, celery_eager
):
    with django_capture_on_commit_callbacks(execute=True):
        _post(counter, email="walkin@example.org", name="Wang Fang", phone="+86 139 0000 1111")
    sr = ServiceRequest.objects.get()
    person = User.objects.get(email="walkin@example.org")
    assert sr.reporter == person
    assert not person.has_usable_password()
    assert (person.display_name, person.phone) == ("Wang Fang", "+86 139 0000 1111")
    receipts = [m for m in mail.outbox
                if m.to == ["walkin@example.org"] and "service counter" in m.subject]
    assert len(receipts) == 1
    assert sr.reference in receipts[0].subject
    assert sr.reference in receipts[0].body


def test_the_receipt_email_says_where_and_how_to_follow_the_request_in_the_residents_language(
    pothole, counter
):
    _post(counter, email="walkin@example.org", name="Wang Fang", language="zh-hans")
    sr = ServiceRequest.objects.get()
    message = counter_receipt_message(request=sr)
    assert message.language == "zh-hans"
    assert sr.reference in message.subject
    assert "柜台" in message.subject
    assert f"/requests/{sr.reference}/" in message.body
    assert "Wang Fang" in message.body
    assert "坑洼" in message.body
    english = counter_receipt_message(request=_as_english(sr))
    assert english.subject == f"[{sr.reference}] Your request was received at the service counter"
    assert "Forgot password?" in english.body


def _as_english(sr):
    sr.reporter.preferred_language = "en"
    return sr


def test_a_clerk_files_for_a_resident_with_an_account_by_their_login_address(
    pothole, counter, resident
):
    response = _post(counter, has_account="yes", email=resident.email.upper())
    assert response.status_code == 302
    sr = ServiceRequest.objects.get()
    assert sr.reporter == resident
    assert sr.channel == "counter"
    # The resident and the clerk: no new account (the factories' stand-in staff aside).
    assert User.objects.exclude(email=STAND_IN_STAFF).count() == 2


def test_consent_given_and_refused_at_the_counter_are_recorded_with_method_counter(
    pothole, counter, clerk_roads
):
    _post(counter, email="walkin@example.org", **{f"consent_{SURVEY}": "give",
                                                  f"consent_{SMS}": "refuse"})
    person = User.objects.get(email="walkin@example.org")
    states = dict(ConsentRecord.objects.filter(subject=person)
                  .values_list("purpose__code", "state"))
    assert states == {SURVEY: "given", SMS: "refused"}
    events = ConsentEvent.objects.filter(purpose__code__in=[SURVEY, SMS])
    assert {(e.method, e.actor_role, e.recorded_by_id) for e in events} == {
        ("counter", "clerk", clerk_roads.pk)
    }


def test_consent_not_asked_records_nothing(pothole, counter):
    _post(counter, email="walkin@example.org")
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize(
    "bad",
    [
        {"description": ""},
        {"has_account": "yes", "email": "nobody@example.org"},
        {"phone": "+86 139 0000 1111"},  # contact details kept only with an e-mail address
        {f"consent_{SURVEY}": "give"},  # consent needs a person to belong to
        {"email": "walkin@example.org", f"notice_{SURVEY}": "99", f"consent_{SURVEY}": "give"},
    ],
    ids=["no-description", "unknown-account", "phone-without-email", "consent-without-person",
         "stale-notice"],
)
def test_bad_counter_input_shows_field_errors_and_changes_nothing(pothole, counter, bad):
    users, entries = User.objects.count(), LogEntry.objects.count()
    response = _post(counter, **bad)
    assert response.status_code == 400
    assert 'class="errorlist"' in response.content.decode()
    assert not ServiceRequest.objects.exists()
    assert User.objects.count() == users
    assert LogEntry.objects.count() == entries
    assert not OutboxMessage.objects.filter(topic="request.counter_receipt").exists()


def test_residents_cannot_open_the_counter(pothole, resident):
    client = Client()
    client.force_login(resident)
    assert client.get(URL).status_code == 403
    assert _post(client).status_code == 403
    assert not ServiceRequest.objects.exists()


def test_staff_without_the_second_factor_get_403_at_the_counter(pothole, clerk_roads):
    client = Client()
    client.force_login(clerk_roads)  # password only: staff powers wait for TOTP
    assert client.get(URL).status_code == 403


def test_another_clerk_cannot_open_a_receipt_filed_by_someone_else(pothole, counter, clerk_parks):
    location = _post(counter)["Location"]
    other = mfa_login(Client(), clerk_parks)
    assert other.get(location).status_code == 404
