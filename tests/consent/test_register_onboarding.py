"""A city sets up its register in the admin: a bad entry is a form error (never a 500), and a
consent purpose is offered (and listed) only once it has a published notice."""

from __future__ import annotations

import pytest
from django.test import Client

from consent import policy, services
from consent.models import Notice, Purpose
from core.errors import DomainError
from tests.factories import UserFactory, enroll_totp
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db

VALID = {
    "code": "newsletter",
    "title_en": "City newsletter",
    "description_en": "A monthly e-mail about city works.",
    "dpv_purpose": "https://w3id.org/dpv#CommunicationManagement",
    "legal_basis": "consent",
    "legal_reference": "",
    "data_categories": ["contact"],
    "rows-recipients-TOTAL_FORMS": "1",
    "rows-recipients-INITIAL_FORMS": "0",
    "rows-recipients-0-name": "City Mail Relay",
    "rows-recipients-0-role": "processor",
    "rows-recipients-0-country": "cn",
    "retention_days": "90",
    "retention_trigger": "after_withdrawal",
    "retention_end_action": "delete",
    "requires_consent": "on",
    "is_active": "on",
}


@pytest.fixture
def admin_client():
    client = Client()
    admin = UserFactory(is_staff=True, is_superuser=True)
    enroll_totp(admin)
    mfa_login(client, admin)
    return client


@pytest.mark.parametrize(("change", "field"), [
    ({"requires_consent": ""}, "requires_consent"),  # consent basis without asking consent
    ({"data_categories": ["shoe size"]}, "data_categories"),
    ({"data_categories": []}, "data_categories"),
])
def test_an_invalid_purpose_is_a_form_error_in_the_admin_not_a_500(admin_client, change, field):
    response = admin_client.post("/admin/consent/purpose/add/", {**VALID, **change})

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not Purpose.objects.filter(code="newsletter").exists()


@pytest.mark.parametrize(("change", "field"), [
    ({"rows-recipients-0-name": ""}, "name"),
    ({"rows-recipients-0-role": "friend"}, "role"),
    ({"rows-recipients-0-country": "China"}, "country"),
])
def test_a_bad_recipient_row_is_a_field_error_not_a_500(admin_client, change, field):
    response = admin_client.post("/admin/consent/purpose/add/", {**VALID, **change})

    assert response.status_code == 200
    rows = response.context["adminform"].form.row_formsets["recipients"]
    assert field in rows.forms[0].errors
    assert not Purpose.objects.filter(code="newsletter").exists()


def test_a_purpose_post_without_the_recipient_rows_is_a_form_error_not_a_500(admin_client):
    data = {k: v for k, v in VALID.items() if not k.startswith("rows-")}

    response = admin_client.post("/admin/consent/purpose/add/", data)

    assert response.status_code == 200
    assert not Purpose.objects.filter(code="newsletter").exists()


def test_a_valid_purpose_is_saved_from_the_admin(admin_client):
    response = admin_client.post("/admin/consent/purpose/add/", VALID)

    assert response.status_code == 302, response.context["adminform"].form.errors
    purpose = Purpose.objects.get(code="newsletter")
    assert purpose.data_categories == ["contact"]
    assert purpose.recipients == [{"name": "City Mail Relay", "role": "processor",
                                   "country": "CN"}]


def _purpose() -> Purpose:
    return Purpose.objects.create(
        code="newsletter", title_en="City newsletter", description_en="Monthly.",
        dpv_purpose="https://w3id.org/dpv#CommunicationManagement", legal_basis="consent",
        data_categories=["contact"], retention_days=90, retention_end_action="delete",
        requires_consent=True,
    )


def test_a_consent_purpose_without_a_published_notice_is_not_in_the_public_register(api):
    _purpose()

    body = api.get("/api/v1/register/purposes").json()
    rows = body["purposes"] if isinstance(body, dict) else body

    assert "newsletter" not in [p["code"] for p in rows]


def test_a_consent_purpose_is_listed_once_its_notice_is_published(api):
    purpose = _purpose()
    Notice.objects.create(purpose=purpose, version=1, language="en", title="Newsletter",
                          text="We send a monthly e-mail.", text_sha256="0" * 64)

    body = api.get("/api/v1/register/purposes").json()
    rows = body["purposes"] if isinstance(body, dict) else body

    assert "newsletter" in [p["code"] for p in rows]


def test_nobody_can_consent_to_a_purpose_without_a_notice(resident):
    _purpose()

    with pytest.raises(DomainError):
        services.consent_decide(subject=resident, purpose_code="newsletter", decision="give",
                                notice_version=1)
    assert policy.permits(subject=resident, purpose="newsletter").allowed is False
