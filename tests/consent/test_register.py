"""The register: validated entries, DPV terms, and Art. 30 records generated from it."""

from __future__ import annotations

import pytest

from consent import policy, register, services
from consent.models import Purpose
from core.errors import Invalid


def test_art_30_records_are_generated_from_the_register(api, register) -> None:
    body = api.get("/api/v1/register/processing-records").json()
    assert body["controller"]["name"]
    assert body["data_protection_officer"]["email"]
    records = {r["purpose"]["code"]: r for r in body["records"]}
    assert set(records) == set(Purpose.objects.filter(is_active=True).values_list("code",
                                                                                    flat=True))
    sms = records[policy.PURPOSE_SMS]
    assert sms["legal_basis"]["gdpr"] == "https://w3id.org/dpv/legal/eu/gdpr#A6-1-a"
    assert {"code": "phone", "label": "phone number",
            "dpv": "https://w3id.org/dpv/pd#TelephoneNumber"} in sms["personal_data_categories"]
    assert sms["retention"]["days"] == 90
    assert sms["retention"]["end_action"] == "delete"
    assert sms["recipient_categories"][0]["country"] == "CN"


def test_a_register_change_shows_up_in_the_records_at_once(api, register) -> None:
    Purpose.objects.filter(code=policy.PURPOSE_SURVEY).update(retention_days=42)
    body = api.get("/api/v1/register/processing-records").json()
    survey = next(r for r in body["records"] if r["purpose"]["code"] == policy.PURPOSE_SURVEY)
    assert survey["retention"]["days"] == 42


def test_an_inactive_purpose_leaves_the_public_register(api, register) -> None:
    Purpose.objects.filter(code=policy.PURPOSE_CONTRACTOR).update(is_active=False)
    codes = [p["code"] for p in api.get("/api/v1/register/purposes").json()]
    assert policy.PURPOSE_CONTRACTOR not in codes


@pytest.mark.parametrize(("fields", "error_field"), [
    ({"data_categories": ["shoe_size"]}, "data_categories"),
    ({"recipients": [{"name": "X", "role": "processor", "country": "China"}]}, "recipients"),
    ({"legal_basis": "public_task", "requires_consent": True}, "requires_consent"),
    ({"legal_basis": "consent", "requires_consent": False}, "requires_consent"),
])
def test_invalid_register_entries_are_refused_with_field_errors(db, fields, error_field) -> None:
    base = {"data_categories": ["email"], "recipients": [], "legal_basis": "consent",
            "requires_consent": True}
    with pytest.raises(Invalid) as info:
        register.validate_purpose_fields(**{**base, **fields})
    assert error_field in info.value.errors


def test_seeding_the_register_twice_changes_nothing(register) -> None:
    from consent.demo import seed_register
    from consent.models import Notice

    before = (Purpose.objects.count(), Notice.objects.count())
    seed_register()
    assert (Purpose.objects.count(), Notice.objects.count()) == before


def test_notices_are_versioned_per_purpose_in_every_language(register) -> None:
    purpose = Purpose.objects.get(code=policy.PURPOSE_SMS)
    notices = services.notice_publish(purpose=purpose, texts={"en": ("t", "x"),
                                                              "zh-hans": ("t", "y")})
    assert {(n.version, n.language) for n in notices} == {(2, "en"), (2, "zh-hans")}


def test_publish_notice_command_publishes_the_next_version(register, tmp_path) -> None:
    from django.core.management import call_command

    from consent.models import Notice

    text = tmp_path / "sms.txt"
    text.write_text("We now also text you when a crew is on its way.")
    call_command("publish_notice", "--purpose", policy.PURPOSE_SMS, "--en", "SMS", str(text))
    notice = Notice.objects.filter(purpose__code=policy.PURPOSE_SMS).order_by("-version").first()
    assert notice.version == 2
    assert notice.requires_reconsent is True
