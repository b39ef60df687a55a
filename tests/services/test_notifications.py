"""Notifications: residents hear of public changes in their language, once; SMS needs consent."""

from __future__ import annotations

from smtplib import SMTPException

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

from outbox.models import OutboxMessage
from services.live import event_for_delivery
from services.models import Event, Follow, Status
from services.notifications import notification_deliver, notifications_for_event, recipients_for
from services.services import event_record, request_transition
from tests.factories import CategoryFactory, MembershipFactory, ServiceRequestFactory, UserFactory

pytestmark = pytest.mark.django_db

sms_outbox: list[dict] = []


def record_sms(*, to: str, text: str) -> None:
    """The SMS 'gateway' for these tests."""
    sms_outbox.append({"to": to, "text": text})


class FailingBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise SMTPException("mail server down")


@pytest.fixture(autouse=True)
def fresh_cache():
    from django.core.cache import cache

    cache.clear()
    sms_outbox.clear()


@pytest.fixture
def request_in_roads(roads):
    category = CategoryFactory(
        code="pothole", name_en="Pothole", name_zh_hans="路面坑洞", department=roads
    )
    return ServiceRequestFactory(
        category=category, department=roads, status=Status.ROUTED, reporter=UserFactory()
    )


def _public_reply(request, clerk, text="We will fill it on Tuesday."):
    return event_record(request=request, type=Event.Type.PUBLIC_REPLY, actor=clerk, text=text)


def test_resident_gets_an_english_email_about_a_public_reply(request_in_roads, clerk_roads):
    event = _public_reply(request_in_roads, clerk_roads)

    assert notification_deliver(
        event_id=event.pk, user_id=request_in_roads.reporter_id, channel="email"
    )

    [message] = mail.outbox
    assert message.to == [request_in_roads.reporter.email]
    assert request_in_roads.reference in message.subject
    assert message.subject == f"[{request_in_roads.reference}] Roads replied"
    assert "Roads replied to your request." in message.body
    assert "We will fill it on Tuesday." in message.body


def test_resident_who_prefers_chinese_gets_the_email_in_chinese(request_in_roads, clerk_roads):
    reporter = request_in_roads.reporter
    reporter.preferred_language = "zh-hans"
    reporter.save()
    event = _public_reply(request_in_roads, clerk_roads, text="周二修补。")

    notification_deliver(event_id=event.pk, user_id=reporter.pk, channel="email")

    [message] = mail.outbox
    assert message.subject == f"[{request_in_roads.reference}] 道路已回复"
    assert "道路回复了您的诉求。" in message.body
    assert "周二修补。" in message.body
    assert "路面坑洞" in message.body


def test_routed_email_carries_the_plain_words_explanation(request_in_roads):
    event = event_record(
        request=request_in_roads,
        type=Event.Type.ROUTED,
        to_status=Status.ROUTED,
        text="Sent to Roads because you chose 'Pothole'.",
        data={"explanation": {"en": "Sent to Roads because you chose 'Pothole'.", "zh-hans": "x"}},
    )

    notification_deliver(event_id=event.pk, user_id=request_in_roads.reporter_id, channel="email")

    assert "Sent to Roads because you chose 'Pothole'." in mail.outbox[0].body


def test_a_notification_is_delivered_once_even_if_the_task_runs_twice(
    request_in_roads, clerk_roads
):
    event = _public_reply(request_in_roads, clerk_roads)

    first = notification_deliver(
        event_id=event.pk, user_id=request_in_roads.reporter_id, channel="email"
    )
    second = notification_deliver(
        event_id=event.pk, user_id=request_in_roads.reporter_id, channel="email"
    )

    assert (first, second) == (True, False)
    assert len(mail.outbox) == 1


def test_internal_notes_are_not_sent_to_the_resident(request_in_roads, clerk_roads):
    event = event_record(
        request=request_in_roads,
        type=Event.Type.INTERNAL_NOTE,
        actor=clerk_roads,
        visibility=Event.Visibility.INTERNAL,
        text="Call the contractor.",
    )

    assert notifications_for_event(event_id=event.pk) == []
    assert not notification_deliver(
        event_id=event.pk, user_id=request_in_roads.reporter_id, channel="email"
    )
    assert mail.outbox == []


def test_residents_are_not_told_about_their_own_actions(request_in_roads):
    event = event_record(
        request=request_in_roads,
        type=Event.Type.STATUS_CHANGED,
        actor=request_in_roads.reporter,
        to_status=Status.WITHDRAWN,
    )

    assert notifications_for_event(event_id=event.pk) == []


def test_another_user_cannot_be_sent_someone_elses_update(request_in_roads, clerk_roads):
    event = _public_reply(request_in_roads, clerk_roads)
    stranger = UserFactory()

    assert not notification_deliver(event_id=event.pk, user_id=stranger.pk, channel="email")
    assert mail.outbox == []


def test_sms_is_not_offered_without_a_gateway(request_in_roads, clerk_roads):
    event = _public_reply(request_in_roads, clerk_roads)

    assert not notification_deliver(
        event_id=event.pk, user_id=request_in_roads.reporter_id, channel="sms"
    )
    assert sms_outbox == []


def test_sms_without_consent_is_not_sent(request_in_roads, clerk_roads, settings):
    settings.CIVICDESK = {
        **django_settings.CIVICDESK,
        "SMS_BACKEND": "tests.services.test_notifications.record_sms",
    }
    event = _public_reply(request_in_roads, clerk_roads)

    assert not notification_deliver(
        event_id=event.pk, user_id=request_in_roads.reporter_id, channel="sms"
    )
    assert sms_outbox == []


def test_sms_with_consent_is_sent(request_in_roads, clerk_roads, settings, monkeypatch):
    consent_policy = pytest.importorskip("consent.policy")
    settings.CIVICDESK = {
        **django_settings.CIVICDESK,
        "SMS_BACKEND": "tests.services.test_notifications.record_sms",
    }
    asked = []

    def permits(*, subject, purpose):
        asked.append(purpose)
        return consent_policy.Decision(True, "consent", "consent_given")

    monkeypatch.setattr(consent_policy, "permits", permits)
    event = _public_reply(request_in_roads, clerk_roads)

    assert notification_deliver(
        event_id=event.pk, user_id=request_in_roads.reporter_id, channel="sms"
    )
    assert asked == [consent_policy.PURPOSE_SMS]
    expected = {
        "to": request_in_roads.reporter.phone,
        "text": f"[{request_in_roads.reference}] Roads replied",
    }
    assert sms_outbox == [expected]


def test_email_failure_retries_without_blocking_the_state_change(
    request_in_roads, clerk_roads, settings, django_capture_on_commit_callbacks
):
    if not django_settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("eager Celery only; the worker tests cover the broker path")
    settings.EMAIL_BACKEND = "tests.services.test_notifications.FailingBackend"

    with django_capture_on_commit_callbacks(execute=True):
        request_transition(request=request_in_roads, actor=clerk_roads, to_status="in_progress")

    request_in_roads.refresh_from_db()
    assert request_in_roads.status == Status.IN_PROGRESS
    event = Event.objects.get(request=request_in_roads, to_status=Status.IN_PROGRESS)
    row = OutboxMessage.objects.get(topic="request.event", payload={"event_id": event.pk})
    assert row.published_at is None
    assert row.attempts == 1
    assert mail.outbox == []

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from outbox.services import outbox_relay

    assert outbox_relay(min_age_seconds=0) >= 1
    assert [m.to for m in mail.outbox] == [[request_in_roads.reporter.email]]
    assert "Roads started work" in mail.outbox[0].subject


def test_supervisors_are_the_recipients_of_a_deadline_breach(request_in_roads, roads):
    supervisor = MembershipFactory(department=roads, role="supervisor").user
    MembershipFactory(department=roads)  # a clerk: not told
    event = event_record(
        request=request_in_roads,
        type=Event.Type.SLA_BREACHED,
        visibility=Event.Visibility.INTERNAL,
    )

    assert notification_deliver(event_id=event.pk, user_id=supervisor.pk, channel="email")
    assert not notification_deliver(
        event_id=event.pk, user_id=request_in_roads.reporter_id, channel="email"
    )
    [message] = mail.outbox
    assert message.to == [supervisor.email]
    assert "Deadline passed" in message.subject


def test_a_follower_gets_the_public_reply_too(request_in_roads, clerk_roads):
    follower = UserFactory(email="neighbour@example.org")
    Follow.objects.create(user=follower, request=request_in_roads)
    event = _public_reply(request_in_roads, clerk_roads)

    assert recipients_for(event) == [request_in_roads.reporter, follower]
    assert notification_deliver(event_id=event.pk, user_id=follower.pk, channel="email")
    [message] = mail.outbox
    assert message.to == ["neighbour@example.org"]
    assert "We will fill it on Tuesday." in message.body


def test_a_follower_is_not_told_of_internal_notes(request_in_roads, clerk_roads):
    follower = UserFactory()
    Follow.objects.create(user=follower, request=request_in_roads)
    note = event_record(
        request=request_in_roads,
        type=Event.Type.INTERNAL_NOTE,
        actor=clerk_roads,
        visibility=Event.Visibility.INTERNAL,
        text="Caller was rude.",
    )

    assert not notification_deliver(event_id=note.pk, user_id=follower.pk, channel="email")
    assert mail.outbox == []


def _routed_event(request):
    with transaction.atomic():
        return event_record(request=request, type=Event.Type.ROUTED, text="Sent to Roads.")


def test_an_event_loaded_for_its_push_finds_its_followers_recipients(db):
    request = ServiceRequestFactory()
    follower = UserFactory()
    Follow.objects.create(user=follower, request=request)
    event = event_for_delivery(_routed_event(request).pk)

    assert recipients_for(event) == [request.reporter, follower]


def test_without_followers_an_event_loaded_for_its_push_needs_no_query_for_recipients(
    db, django_assert_num_queries
):
    request = ServiceRequestFactory()
    event = event_for_delivery(_routed_event(request).pk)

    with django_assert_num_queries(0):
        assert recipients_for(event) == [request.reporter]
