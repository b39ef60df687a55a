"""A request meant for a department nobody staffs reaches Triage, and both the Triage
supervisor's workbench and the resident's timeline say why, in words."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from services.routing import request_route
from tests.factories import (
    CategoryFactory,
    DepartmentFactory,
    MembershipFactory,
    ServiceRequestFactory,
)
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def leak(triage, resident):
    water = DepartmentFactory(code="water", name_en="Water", name_zh_hans="供水处", staffed=False)
    category = CategoryFactory(code="leak", name_en="Water leak", department=water)
    request = ServiceRequestFactory(category=category, department=None, reporter=resident,
                                    description="Water runs down the street.")
    request_route(request_id=request.pk)
    return request


def test_the_triage_workbench_says_the_department_has_no_staff(leak, triage):
    supervisor = MembershipFactory(department=triage, role="supervisor").user
    client = mfa_login(Client(), supervisor)

    page = client.get(reverse("portal:workbench", args=[leak.reference])).content.decode()

    assert 'data-triage-reason="unstaffed"' in page
    assert "Water has no active staff" in page


def test_the_resident_timeline_says_why_it_went_to_triage(leak, resident):
    client = mfa_login(Client(), resident)

    page = client.get(reverse("portal:request-detail", args=[leak.reference])).content.decode()

    assert "because Water has nobody to take it yet" in page
