"""The demo city's requests are filed through the real service, once."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_demo_requests_are_filed_once_through_the_service():
    from portal.demo import seed_people
    from services.demo import DEMO_REQUESTS, seed_city, seed_requests
    from services.models import ServiceRequest

    seed_city()
    seed_people()
    assert seed_requests() == len(DEMO_REQUESTS)
    assert seed_requests() == 0
    assert ServiceRequest.objects.count() == len(DEMO_REQUESTS)
    assert all(r.events.filter(type="submitted").exists() for r in ServiceRequest.objects.all())
