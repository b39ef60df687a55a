"""SLA: overdue open work is marked once, its priority raised once, supervisors told; digests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.utils import timezone

from services.models import Event, Priority, Status
from services.sla import requests_mark_overdue, supervisor_digests_send
from services.tasks import mark_overdue
from tests.factories import CategoryFactory, MembershipFactory, ServiceRequestFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def supervisor(roads):
    return MembershipFactory(department=roads, role="supervisor").user


def _request(roads, *, hours_overdue=1.0, status=Status.IN_PROGRESS, priority=Priority.NORMAL):
    category = CategoryFactory(code="pothole", department=roads)
    return ServiceRequestFactory(
        category=category,
        department=roads,
        status=status,
        priority=priority,
        due_at=timezone.now() - timedelta(hours=hours_overdue),
    )


def _breaches(request):
    return Event.objects.filter(request=request, type=Event.Type.SLA_BREACHED)


def test_overdue_request_gets_higher_priority_and_one_internal_breach_event(roads):
    request = _request(roads)

    assert requests_mark_overdue() == 1

    request.refresh_from_db()
    assert request.priority == Priority.HIGH
    assert request.sla_breached_at is not None
    [event] = _breaches(request)
    assert event.visibility == Event.Visibility.INTERNAL
    assert event.data["priority_from"] == Priority.NORMAL
    assert event.data["priority_to"] == Priority.HIGH
    assert event.data["overdue_seconds"] >= 3600


def test_repeated_sweeps_record_one_breach_and_raise_priority_once(roads):
    request = _request(roads)

    counts = [requests_mark_overdue() for _ in range(3)]
    mark_overdue.apply()

    request.refresh_from_db()
    assert counts == [1, 0, 0]
    assert request.priority == Priority.HIGH
    assert _breaches(request).count() == 1


def test_urgent_request_stays_urgent_but_the_breach_is_recorded(roads):
    request = _request(roads, priority=Priority.URGENT)

    requests_mark_overdue()

    request.refresh_from_db()
    assert request.priority == Priority.URGENT
    assert _breaches(request).count() == 1


@pytest.mark.parametrize("status", [Status.RESOLVED, Status.CLOSED, Status.REJECTED])
def test_finished_requests_are_not_marked(roads, status):
    request = _request(roads, status=status)

    assert requests_mark_overdue() == 0
    assert _breaches(request).count() == 0


def test_requests_within_their_deadline_are_not_marked(roads):
    request = _request(roads, hours_overdue=-2)

    assert requests_mark_overdue() == 0
    request.refresh_from_db()
    assert request.sla_breached_at is None


def test_supervisors_are_emailed_about_a_breach(
    roads, supervisor, django_capture_on_commit_callbacks
):
    if not django_settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("eager Celery only; the worker tests cover the broker path")
    MembershipFactory(department=roads)  # a clerk
    request = _request(roads)

    with django_capture_on_commit_callbacks(execute=True):
        requests_mark_overdue()

    [message] = mail.outbox
    assert message.to == [supervisor.email]
    assert request.reference in message.subject
    assert "priority now high" in message.subject


def test_daily_digest_lists_overdue_work_once_a_day(roads, supervisor):
    overdue = _request(roads)
    _request(roads, hours_overdue=-5)
    requests_mark_overdue()

    first = supervisor_digests_send()
    second = supervisor_digests_send()

    assert (first, second) == (1, 0)
    [message] = mail.outbox
    assert message.to == [supervisor.email]
    assert "Roads: 2 open, 1 overdue, 1 passed their deadline" in message.body
    assert overdue.reference in message.body


def test_digest_is_in_the_supervisors_language(roads, supervisor):
    supervisor.preferred_language = "zh-hans"
    supervisor.save()
    _request(roads)

    supervisor_digests_send()

    assert "每日摘要" in mail.outbox[0].subject
    assert "道路：未办结 1 件，逾期 1 件" in mail.outbox[0].body


def test_a_breach_in_a_department_without_supervisor_is_told_to_triage_supervisors(
    roads, triage, django_capture_on_commit_callbacks
):
    if not django_settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("eager Celery only; the worker tests cover the broker path")
    triage_supervisor = MembershipFactory(department=triage, role="supervisor").user
    request = _request(roads)

    with django_capture_on_commit_callbacks(execute=True):
        requests_mark_overdue()

    [message] = mail.outbox
    assert message.to == [triage_supervisor.email]
    assert request.reference in message.subject


def test_the_digest_of_a_department_without_supervisor_goes_to_triage_supervisors(
    roads, triage
):
    triage_supervisor = MembershipFactory(department=triage, role="supervisor").user
    overdue = _request(roads)

    supervisor_digests_send()

    [message] = mail.outbox
    assert message.to == [triage_supervisor.email]
    assert "Roads: 1 open, 1 overdue" in message.body
    assert overdue.reference in message.body
