"""Data-use pages: the public register and log, residents' consents, the data officer's log."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from consent.demo import seed_register
from consent.models import ConsentEvent, ConsentRecord
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db

SMS = "status-notifications-sms"


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        mfa_login(client, user)
    return client


@pytest.fixture
def register(db):
    seed_register()


def _decide(client: Client, decision: str, purpose: str = SMS):
    page = client.get(reverse("portal:my-data")).content.decode()
    version = re.search(
        rf'action="/my/data/consents/{purpose}".*?name="notice_version" value="(\d+)"', page, re.S
    )
    assert version, "the page offers a form for this purpose"
    return client.post(
        reverse("portal:consent-change", args=[purpose]),
        {"decision": decision, "notice_version": version.group(1)},
        follow=True,
    )


def test_register_page_lists_every_purpose_with_basis_and_retention(register):
    page = browser().get(reverse("portal:register")).content.decode()
    assert "Text messages (SMS) about your requests" in page
    assert "public task" in page
    assert "only with your consent" in page
    assert "Kept for" in page


def test_log_page_is_public_and_explains_verification(register):
    page = browser().get(reverse("portal:log")).content.decode()
    assert "How to check a receipt" in page
    assert "verify.py" in page


def test_resident_gives_and_withdraws_consent_with_one_click_each(register, resident):
    client = browser(resident)
    _decide(client, "give")
    assert ConsentRecord.objects.get(subject=resident, purpose__code=SMS).state == "given"
    response = _decide(client, "withdraw")
    page = response.content.decode()
    assert ConsentRecord.objects.get(subject=resident, purpose__code=SMS).state == "withdrawn"
    assert "Stops now" in page
    assert ConsentEvent.objects.count() == 2
    receipt = re.search(r'href="(/api/v1/me/consents/receipts/[^"?]+)\?download=true"', page)
    assert receipt
    download = client.get(receipt.group(1) + "?download=true")
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]


def test_a_stale_notice_version_changes_nothing_and_says_why(register, resident):
    response = browser(resident).post(
        reverse("portal:consent-change", args=[SMS]),
        {"decision": "give", "notice_version": "99"},
        follow=True,
    )
    assert not ConsentRecord.objects.exists()
    assert "notice for this purpose changed" in response.content.decode()


def test_a_purpose_that_is_not_consent_based_cannot_be_given(register, resident):
    browser(resident).post(
        reverse("portal:consent-change", args=["service-delivery"]),
        {"decision": "withdraw", "notice_version": "1"},
    )
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize(
    ("role", "status"),
    [("resident", 403), ("clerk_roads", 403), ("data_officer", 200)],
)
def test_only_data_officers_open_the_consent_log(request, register, role, status):
    user = request.getfixturevalue(role)
    assert browser(user).get(reverse("portal:dpo-consent-log")).status_code == status
    assert browser(user).get(reverse("portal:dpo")).status_code == status
    assert browser(user).get(reverse("portal:dpo-records")).status_code == status


def test_data_officer_filters_the_consent_log_and_gets_matching_export_links(
    register, resident, other_resident, data_officer
):
    _decide(browser(resident), "give")
    _decide(browser(other_resident), "refuse")
    page = browser(data_officer).get(
        reverse("portal:dpo-consent-log"), {"decision": "refused"}
    ).content.decode()
    assert page.count("data-consent-event=") == 1
    assert 'data-decision="refused"' in page
    assert "output=csv" in page
    assert "decision=refused" in page
    assert resident.email not in page


def test_records_of_processing_are_generated_from_the_register(register, data_officer):
    page = browser(data_officer).get(reverse("portal:dpo-records")).content.decode()
    assert "Records of processing" in page
    assert "Text messages (SMS) about your requests" in page or "status-notifications-sms" in page
