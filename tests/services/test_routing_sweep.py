"""The sweep that republishes routing for requests whose routing message was lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from services.models import Event, ServiceRequest, Status
from services.routing import requests_awaiting_routing
from services.tasks import reroute_stranded
from tests.factories import CategoryFactory, ServiceRequestFactory

pytestmark = pytest.mark.django_db


def _stranded(roads, *, minutes_ago: int) -> ServiceRequest:
    request = ServiceRequestFactory(category=CategoryFactory(department=roads), department=None)
    ServiceRequest.objects.filter(pk=request.pk).update(
        updated_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return request


def test_a_request_unrouted_for_minutes_is_found(roads) -> None:
    request = _stranded(roads, minutes_ago=5)
    assert requests_awaiting_routing() == [request.pk]


def test_a_request_filed_seconds_ago_is_left_to_the_normal_path(roads) -> None:
    _stranded(roads, minutes_ago=0)
    assert requests_awaiting_routing() == []


@pytest.fixture
def eager_celery():
    from portal.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def test_the_sweep_routes_a_stranded_request_exactly_once(roads, triage, eager_celery) -> None:
    request = _stranded(roads, minutes_ago=5)
    assert reroute_stranded() == 1
    assert reroute_stranded() == 0
    request.refresh_from_db()
    assert request.status == Status.ROUTED
    assert Event.objects.filter(request=request, type=Event.Type.ROUTED).count() == 1
