"""Hidden means hidden: the queue search never matches what the caller cannot see, and
search text never travels in a URL.

Before, the queue's text search matched the withheld home address of private-address
requests: a clerk could confirm a guessed address without the logged reveal.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from services.models import ServiceRequest, Status
from services.selectors import QueueFilters, queue_page_rows
from tests.factories import CategoryFactory, ServiceRequestFactory
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db

QUEUE = "/api/v1/queue"


@pytest.fixture
def private_home(roads, resident) -> ServiceRequest:
    return ServiceRequestFactory(
        reporter=resident, department=roads, status=Status.ROUTED,
        category=CategoryFactory(code="lamp", department=roads),
        description="The lamp in front of my house is dark.",
        address="17 Quiet Garden Road", is_private_address=True,
        due_at=timezone.now() + timedelta(hours=48),
    )


@pytest.fixture
def public_street(roads, resident) -> ServiceRequest:
    return ServiceRequestFactory(
        reporter=resident, department=roads, status=Status.ROUTED,
        category=CategoryFactory(code="lamp", department=roads),
        description="Lamp out on the main road.", address="1 Quiet Garden Road (bus stop)",
        due_at=timezone.now() + timedelta(hours=48),
    )


def refs(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["reference"] for row in response.json()["results"]]


def test_queue_search_does_not_match_a_withheld_private_address(
    clerk_roads, private_home, public_street
) -> None:
    client = mfa_login(Client(), clerk_roads)
    response = client.post(QUEUE, {"q": "17 Quiet Garden"}, content_type="application/json")
    assert refs(response) == []


def test_queue_search_still_matches_a_public_address(
    clerk_roads, private_home, public_street
) -> None:
    client = mfa_login(Client(), clerk_roads)
    response = client.post(QUEUE, {"q": "Quiet Garden"}, content_type="application/json")
    assert refs(response) == [public_street.reference]


def test_queue_selector_never_matches_private_addresses_whatever_the_caller(
    clerk_roads, private_home
) -> None:
    rows, _more = queue_page_rows(
        user=clerk_roads, filters=QueueFilters(q="Quiet Garden"), after=None, limit=10
    )
    assert rows == []


def test_queue_page_search_does_not_match_a_withheld_private_address(
    clerk_roads, private_home
) -> None:
    client = mfa_login(Client(), clerk_roads)
    response = client.post("/staff/queue/", {"q": "17 Quiet Garden"}, follow=True)
    assert response.status_code == 200
    assert private_home.reference not in response.content.decode()


def test_queue_api_refuses_search_text_in_the_query_string(clerk_roads, private_home) -> None:
    client = mfa_login(Client(), clerk_roads)
    response = client.get(QUEUE, {"q": "Quiet Garden"})
    assert response.status_code == 400
    assert "q" in response.json()["errors"]


def test_queue_page_search_keeps_the_text_out_of_every_url(clerk_roads, public_street) -> None:
    client = mfa_login(Client(), clerk_roads)
    response = client.post("/staff/queue/", {"q": "Quiet Garden"})
    assert response.status_code == 302
    location = response["Location"]
    assert "Quiet" not in location
    assert "f=" in location
    page = client.get(location)
    html = page.content.decode()
    assert public_street.reference in html
    # Links the page builds (next page, live polling) carry the filter id, not the text.
    assert "Quiet+Garden" not in html
    assert "Quiet%20Garden" not in html


def test_queue_page_ignores_search_text_put_in_the_query_string(
    clerk_roads, public_street, private_home
) -> None:
    client = mfa_login(Client(), clerk_roads)
    html = client.get("/staff/queue/", {"q": "no such text anywhere"}).content.decode()
    assert public_street.reference in html


def test_a_saved_filter_id_is_of_no_use_in_another_session(
    roads, clerk_roads, public_street
) -> None:
    from tests.factories import MembershipFactory

    client = mfa_login(Client(), clerk_roads)
    location = client.post("/staff/queue/", {"q": "no match at all"})["Location"]
    colleague = mfa_login(Client(), MembershipFactory(department=roads).user)
    # The id names nothing in the colleague's session: the unfiltered queue.
    assert public_street.reference in colleague.get(location).content.decode()
