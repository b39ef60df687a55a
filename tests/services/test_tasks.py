"""The Celery tasks are thin: ids in, a service called, safe to run twice (run in-process)."""

from __future__ import annotations

from datetime import timedelta
from smtplib import SMTPException

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.utils import timezone

from services import tasks
from services.models import Event, Status
from services.services import event_record
from tests.factories import CategoryFactory, MembershipFactory, ServiceRequestFactory

pytestmark = pytest.mark.django_db


class FlakyBackend(EmailBackend):
    """Fails the first two sends, like a mail server that is briefly away."""

    calls = 0

    def send_messages(self, email_messages):
        type(self).calls += 1
        if type(self).calls <= 2:
            raise SMTPException("try again later")
        return super().send_messages(email_messages)


@pytest.fixture(autouse=True)
def isolated(tmp_path, settings):
    from django.core.cache import cache

    cache.clear()
    settings.CIVICDESK = {
        **django_settings.CIVICDESK,
        "ROUTER_MODEL_PATH": str(tmp_path / "router.json"),
    }


@pytest.fixture
def pothole(roads, triage):
    return CategoryFactory(code="pothole", name_en="Pothole", department=roads)


def test_route_request_task_routes_once(pothole):
    request = ServiceRequestFactory(category=pothole, department=None)

    first = tasks.route_request.apply(args=[request.pk]).get()
    second = tasks.route_request.apply(args=[request.pk]).get()

    assert first == Event.objects.get(request=request, type=Event.Type.ROUTED).pk
    assert second is None


def test_mark_overdue_task_returns_how_many_it_marked(pothole, roads):
    ServiceRequestFactory(
        category=pothole,
        department=roads,
        status=Status.IN_PROGRESS,
        due_at=timezone.now() - timedelta(minutes=5),
    )

    assert tasks.mark_overdue.apply().get() == 1
    assert tasks.mark_overdue.apply().get() == 0


def test_send_notification_retries_a_failing_mail_server_then_sends_once(
    pothole, roads, clerk_roads, settings
):
    settings.EMAIL_BACKEND = "tests.services.test_tasks.FlakyBackend"
    FlakyBackend.calls = 0
    request = ServiceRequestFactory(category=pothole, department=roads, status=Status.ROUTED)
    event = event_record(
        request=request, type=Event.Type.PUBLIC_REPLY, actor=clerk_roads, text="On our list."
    )

    # Eager retries happen in-process only when errors are not propagated at once.
    from portal.celery import app

    propagates = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    try:
        result = tasks.send_notification.apply(args=[event.pk, request.reporter_id, "email"])
    finally:
        app.conf.task_eager_propagates = propagates

    assert result.get() is True
    assert FlakyBackend.calls == 3
    assert [m.to for m in mail.outbox] == [[request.reporter.email]]
    assert tasks.send_notification.apply(args=[event.pk, request.reporter_id]).get() is False


def test_supervisor_digest_task_sends_one_per_supervisor_per_day(roads):
    MembershipFactory(department=roads, role="supervisor")

    assert tasks.send_supervisor_digest.apply().get() == 1
    assert tasks.send_supervisor_digest.apply().get() == 0


def test_train_router_task_returns_the_new_model_version(tmp_path):
    from services.classifier import current_model

    version = tasks.train_router.apply().get()

    assert (tmp_path / "router.json").exists()
    assert current_model().version == version


def test_auto_close_task_calls_the_close_service(pothole, roads):
    from services.services import requests_auto_close  # noqa: F401 - it must exist

    days = django_settings.CIVICDESK["AUTO_CLOSE_DAYS"]
    request = ServiceRequestFactory(
        category=pothole,
        department=roads,
        status=Status.RESOLVED,
        resolved_at=timezone.now() - timedelta(days=days + 1),
    )

    assert tasks.auto_close_resolved.apply().get() == 1
    request.refresh_from_db()
    assert request.status == Status.CLOSED
