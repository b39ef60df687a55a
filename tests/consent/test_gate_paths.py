"""The policy gate in the processing paths that exist today (no mocks: real consent rows)."""

from __future__ import annotations

from consent import policy, services
from consent.models import RefusalCount
from services import classifier
from services.models import Status
from services.notifications import CHANNELS, channel_permits
from tests.factories import ServiceRequestFactory, UserFactory


def consent(user, purpose, decision="give"):
    services.consent_decide(subject=user, purpose_code=purpose, decision=decision,
                            notice_version=1)


def test_router_training_uses_only_texts_of_consenting_reporters(register) -> None:
    yes, no = UserFactory(), UserFactory()
    for reporter in (yes, no):
        ServiceRequestFactory(reporter=reporter, status=Status.IN_PROGRESS,
                              description=f"text of {reporter.pk}")
    consent(yes, policy.PURPOSE_ROUTING_TRAINING)
    texts = [text for text, _ in classifier.training_rows_select()]
    assert texts == [f"text of {yes.pk}"]
    assert RefusalCount.objects.get(purpose_code=policy.PURPOSE_ROUTING_TRAINING).count == 1


def test_router_training_drops_a_reporter_right_after_withdrawal(register) -> None:
    reporter = UserFactory()
    ServiceRequestFactory(reporter=reporter, status=Status.IN_PROGRESS)
    consent(reporter, policy.PURPOSE_ROUTING_TRAINING)
    assert len(classifier.training_rows_select()) == 1
    consent(reporter, policy.PURPOSE_ROUTING_TRAINING, "withdraw")
    assert classifier.training_rows_select() == []


def test_sms_channel_asks_the_gate_and_follows_consent(register) -> None:
    resident = UserFactory(phone="+86 138 0000 0009")
    sms = CHANNELS["sms"]
    assert not channel_permits(channel=sms, user=resident)
    consent(resident, policy.PURPOSE_SMS)
    assert channel_permits(channel=sms, user=resident)
    consent(resident, policy.PURPOSE_SMS, "withdraw")
    assert not channel_permits(channel=sms, user=resident)
