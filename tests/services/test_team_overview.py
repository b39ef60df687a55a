"""The supervisors' team overview (`services.selectors.team_overview`): workload, overdue work
and the share of resolutions that fixed the problem by the deadline, per category."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from core.roles import roles_for
from services.models import Outcome, Status
from services.selectors import team_overview
from tests.factories import CategoryFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lamps(roads):
    return CategoryFactory(code="lamps", name_en="Lamps", department=roads)


def _resolved(make_request, category, n, *, outcome=Outcome.FIXED, late=False):
    now = timezone.now()
    for _ in range(n):
        make_request(
            status=Status.RESOLVED, category=category, outcome=outcome,
            resolved_at=now - timedelta(days=1),
            due_at=now - timedelta(days=2) if late else now,
        )


def test_only_a_fix_by_the_deadline_counts_as_met(supervisor_roads, make_request, lamps):
    _resolved(make_request, lamps, 5)
    _resolved(make_request, lamps, 3, late=True)
    _resolved(make_request, lamps, 2, outcome=Outcome.COULD_NOT_FIX)
    (section,) = team_overview(user=supervisor_roads)
    (row,) = section.sla_rows
    assert (row.label, row.resolved, row.fixed_in_time, row.sla_percent) == ("Lamps", 10, 5, 50)


def test_a_category_with_fewer_than_five_resolutions_shows_no_percentage(
    supervisor_roads, make_request, lamps
):
    _resolved(make_request, lamps, 4)
    (row,) = team_overview(user=supervisor_roads)[0].sla_rows
    assert row.sla_percent is None


def test_resolutions_older_than_ninety_days_are_left_out(supervisor_roads, make_request, lamps):
    make_request(status=Status.RESOLVED, category=lamps,
                 resolved_at=timezone.now() - timedelta(days=91))
    assert team_overview(user=supervisor_roads)[0].sla_rows == []


def test_workload_counts_each_members_open_items_and_the_unassigned(
    supervisor_roads, clerk_roads, make_request
):
    make_request(status=Status.IN_PROGRESS, assignee=clerk_roads)
    make_request(status=Status.IN_PROGRESS, assignee=clerk_roads)
    make_request(status=Status.ROUTED)
    make_request(status=Status.CLOSED, assignee=clerk_roads)
    (section,) = team_overview(user=supervisor_roads)
    load = {m.user_id: n for m, n in section.workload}
    assert load == {supervisor_roads.pk: 0, clerk_roads.pk: 2}
    assert (section.unassigned, section.open_count) == (1, 3)


def test_overdue_lists_open_work_past_its_deadline_soonest_first(
    supervisor_roads, make_request
):
    now = timezone.now()
    later = make_request(status=Status.ROUTED, due_at=now - timedelta(hours=1))
    earlier = make_request(status=Status.ROUTED, due_at=now - timedelta(hours=5))
    make_request(status=Status.ROUTED, due_at=now + timedelta(hours=1))
    make_request(status=Status.CLOSED, due_at=now - timedelta(hours=9))
    assert team_overview(user=supervisor_roads)[0].overdue == [earlier, later]


def test_a_supervisor_sees_only_the_departments_they_supervise(
    supervisor_roads, parks, clerk_roads
):
    MembershipFactory(user=supervisor_roads, department=parks)  # a clerk there, not supervisor
    assert [s.department.code for s in team_overview(user=supervisor_roads)] == ["roads"]
    assert team_overview(user=clerk_roads) == []


@pytest.mark.parametrize("requests", [2, 30])
def test_the_overview_costs_five_queries_a_department_however_many_requests(
    supervisor_roads, make_request, lamps, requests, django_assert_num_queries
):
    for i in range(requests):
        make_request(status=Status.IN_PROGRESS if i % 2 else Status.ROUTED)
    _resolved(make_request, lamps, requests)
    cold = get_user_model().objects.get(pk=supervisor_roads.pk)
    roles_for(cold)  # the caller's roles, looked up once per request (core.roles)
    # departments + (members, load, overdue, SLA counts, category names) for the one department
    with django_assert_num_queries(1 + 5):
        team_overview(user=cold)
