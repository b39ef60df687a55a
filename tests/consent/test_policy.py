"""The policy gate: one decision per (subject, purpose), refusals counted without personal data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from consent import policy, services
from consent.models import Purpose, RefusalCount


def give(user, purpose=policy.PURPOSE_SMS, **kw):
    return services.consent_decide(subject=user, purpose_code=purpose, decision="give",
                                   notice_version=1, **kw)


def test_decision_is_falsy_when_not_allowed() -> None:
    assert not policy.Decision(False, "consent", policy.NO_CONSENT)
    assert policy.Decision(True, "consent", policy.CONSENT_GIVEN)


def test_no_consent_means_no_processing_and_the_refusal_is_counted(resident, register) -> None:
    decision = policy.permits(subject=resident, purpose=policy.PURPOSE_SMS)
    assert decision == policy.Decision(False, "consent", "no_consent")
    (count,) = RefusalCount.objects.all()
    assert (count.purpose_code, count.reason, count.count) == (policy.PURPOSE_SMS, "no_consent", 1)
    policy.permits(subject=resident, purpose=policy.PURPOSE_SMS)
    assert RefusalCount.objects.get().count == 2


def test_given_consent_permits(resident, register) -> None:
    give(resident)
    assert policy.permits(subject=resident, purpose=policy.PURPOSE_SMS) == policy.Decision(
        True, "consent", "consent_given")


def test_withdrawal_takes_effect_for_the_very_next_processing(resident, register) -> None:
    give(resident)
    services.consent_decide(subject=resident, purpose_code=policy.PURPOSE_SMS,
                            decision="withdraw", notice_version=1)
    assert policy.permits(subject=resident, purpose=policy.PURPOSE_SMS).reason == "withdrawn"


def test_refusal_is_not_consent(resident, register) -> None:
    services.consent_decide(subject=resident, purpose_code=policy.PURPOSE_SURVEY,
                            decision="refuse", notice_version=1)
    assert policy.permits(subject=resident, purpose=policy.PURPOSE_SURVEY).reason == "refused"


def test_a_material_new_notice_makes_old_consent_insufficient(resident, register) -> None:
    give(resident)
    services.notice_publish(purpose=Purpose.objects.get(code=policy.PURPOSE_SMS),
                            texts={"en": ("SMS", "Now also at night.")})
    assert policy.permits(subject=resident, purpose=policy.PURPOSE_SMS).reason == (
        "notice_outdated")


def test_a_non_material_notice_update_keeps_old_consent_valid(resident, register) -> None:
    give(resident)
    services.notice_publish(purpose=Purpose.objects.get(code=policy.PURPOSE_SMS),
                            texts={"en": ("SMS", "Typo fixed.")}, requires_reconsent=False)
    assert policy.permits(subject=resident, purpose=policy.PURPOSE_SMS)


def test_expired_consent_does_not_permit(resident, register) -> None:
    give(resident, expires_at=timezone.now() + timedelta(seconds=30))
    assert policy.permits(subject=resident, purpose=policy.PURPOSE_SMS)
    later = timezone.now() + timedelta(minutes=1)
    assert services.consent_expire_due(now=later) == 1
    assert policy.permits(subject=resident, purpose=policy.PURPOSE_SMS).reason == "expired"
    assert services.consent_expire_due(now=later) == 0


def test_purposes_not_based_on_consent_are_allowed_under_their_own_basis(resident,
                                                                         register) -> None:
    decision = policy.permits(subject=resident, purpose=policy.PURPOSE_SERVICE_DELIVERY)
    assert decision == policy.Decision(True, "public_task", "not_consent_based")


@pytest.mark.parametrize(("purpose", "reason"), [
    ("no-such-purpose", "unknown_purpose"),
])
def test_unknown_purposes_are_refused(resident, register, purpose, reason) -> None:
    assert policy.permits(subject=resident, purpose=purpose).reason == reason


def test_inactive_purposes_are_refused(resident, register) -> None:
    give(resident)
    Purpose.objects.filter(code=policy.PURPOSE_SMS).update(is_active=False)
    assert policy.permits(subject=resident, purpose=policy.PURPOSE_SMS).reason == (
        "purpose_inactive")


def test_no_subject_is_refused_for_consent_purposes(register) -> None:
    assert policy.permits(subject=None, purpose=policy.PURPOSE_ROUTING_TRAINING).reason == (
        "no_subject")


def test_bulk_gate_returns_only_consenting_subjects(resident, other_resident, register) -> None:
    give(resident, purpose=policy.PURPOSE_ROUTING_TRAINING)
    allowed = policy.permitted_subject_ids(
        purpose=policy.PURPOSE_ROUTING_TRAINING, subject_ids=[resident.pk, other_resident.pk])
    assert allowed == {resident.pk}
    assert RefusalCount.objects.get(purpose_code=policy.PURPOSE_ROUTING_TRAINING).count == 1


def test_refusal_counts_hold_no_personal_data(resident, register) -> None:
    policy.permits(subject=resident, purpose=policy.PURPOSE_CONTRACTOR)
    row = RefusalCount.objects.values().get()
    assert set(row) == {"id", "purpose_code", "day", "reason", "count"}
