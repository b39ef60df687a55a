"""Query budgets: the queue and "my requests" cost the same few queries whatever the page size."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.roles import roles_for
from services.models import Status
from tests.factories import UserFactory

# My requests: one page query (residents need no role lookup).
MY_REQUESTS_QUERIES = 1


def _fresh(user):
    """A new user object, so per-request caches (roles) are cold as in a real request."""
    return get_user_model().objects.get(pk=user.pk)


def _queue_queries(user) -> int:
    """The caller's roles (owned by core.roles, cached per request) + one query for the page."""
    cold = _fresh(user)
    with CaptureQueriesContext(connection) as roles_queries:
        roles_for(cold)
    return len(roles_queries) + 1


@pytest.fixture
def busy_queue(make_request, clerk_roads, district):
    assignees = [clerk_roads, UserFactory(), None]
    for i in range(60):
        make_request(
            status=[Status.ROUTED, Status.IN_PROGRESS, Status.REOPENED][i % 3],
            assignee=assignees[i % 3],
            district=district if i % 2 else None,
        )


@pytest.mark.parametrize("limit", [5, 50])
def test_queue_page_costs_constant_queries(
    client_for, clerk_roads, busy_queue, django_assert_num_queries, limit
):
    client = client_for(_fresh(clerk_roads))
    with django_assert_num_queries(_queue_queries(clerk_roads)):
        response = client.get("/api/v1/queue", {"limit": limit})
    assert len(response.json()["results"]) == limit


def test_queue_next_page_costs_the_same(
    client_for, clerk_roads, busy_queue, django_assert_num_queries
):
    first = client_for(_fresh(clerk_roads)).get("/api/v1/queue", {"limit": 20}).json()
    client = client_for(_fresh(clerk_roads))
    with django_assert_num_queries(_queue_queries(clerk_roads)):
        client.get("/api/v1/queue", {"limit": 20, "cursor": first["next_cursor"]})


def test_queue_counts_cost_one_query_after_roles(
    client_for, clerk_roads, busy_queue, django_assert_num_queries
):
    client = client_for(_fresh(clerk_roads))
    with django_assert_num_queries(_queue_queries(clerk_roads)):
        client.get("/api/v1/queue/counts")


@pytest.mark.parametrize("limit", [5, 50])
def test_my_requests_page_costs_constant_queries(
    client_for, resident, make_request, district, django_assert_num_queries, limit
):
    for i in range(60):
        make_request(district=district if i % 2 else None)
    client = client_for(_fresh(resident))
    with django_assert_num_queries(MY_REQUESTS_QUERIES):
        response = client.get("/api/v1/requests", {"limit": limit})
    assert len(response.json()["results"]) == limit
