"""A filed report's whole life in SQL statements: filing through the API, then the routing task
that pushes both events and e-mails the reporter. Each budget is what the path costs now
(docs/capacity.md: every statement costs ~0.3–0.5 ms of PostgreSQL and ~0.5–1 ms of Python),
so a change that adds one fails here. Measured with the reference data (categories,
districts, departments, rules) already cached, as in a running process."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from outbox import services as outbox
from services import live, tasks
from services.models import Event, RoutingRule, ServiceRequest, Status
from services.services import TOPIC_ROUTE, request_submit
from tests.factories import CategoryFactory
from tests.sessions import app_login_password_only

pytestmark = pytest.mark.django_db(transaction=True)

# The token's user; BEGIN; the nearest gazetteer street; INSERT request, event, outbox row;
# COMMIT; the row marked published. The answer's timeline is what the filing wrote (no read).
API_FILING_QUERIES = 8
# BEGIN; the request locked with its `submitted` event, reporter, followers and last public
# version (one statement); UPDATE request; INSERT event, outbox row; COMMIT; the row marked handled.
ROUTING_QUERIES = 7

URL = "/api/v1/requests"
BODY = {"category": "streetlight", "description": "The lamp is dark.", "lat": 39.05, "lon": 116.05}


@pytest.fixture
def route_messages(monkeypatch):
    """The routing messages the filings publish, kept here instead of sent to a worker."""
    published: list[dict] = []
    monkeypatch.setitem(outbox.PUBLISHERS, TOPIC_ROUTE, published.append)
    return published


@pytest.fixture
def pushed(monkeypatch):
    """Every (group, message) the live push sends, in order."""
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(live, "group_send_all", sent.extend)
    return sent


@pytest.fixture
def streetlight(roads, triage, district):
    category = CategoryFactory(code="streetlight", name_en="Streetlight out", department=roads)
    RoutingRule.objects.create(category=category, district=district, department=roads)
    return category


def test_filing_a_report_through_the_api_stays_within_its_query_budget(
    resident, streetlight, route_messages, django_assert_max_num_queries
):
    token = app_login_password_only(resident)
    client = Client(headers={"X-Session-Token": token})
    assert client.post(URL, BODY, content_type="application/json").status_code == 201  # warm

    with django_assert_max_num_queries(API_FILING_QUERIES):
        response = client.post(URL, BODY, content_type="application/json")

    assert response.status_code == 201, response.content
    assert [e["type"] for e in response.json()["events"]] == ["submitted"]
    assert len(route_messages) == 2


def test_routing_a_new_report_pushes_both_events_and_mails_the_reporter_within_budget(
    resident, streetlight, route_messages, pushed, django_assert_max_num_queries
):
    for _ in range(2):  # the first one warms the reference data
        request = request_submit(reporter=resident, category=streetlight,
                                 description="Dark lamp", lat=39.05, lon=116.05)
    mail.outbox.clear()

    with django_assert_max_num_queries(ROUTING_QUERIES):
        routed_id = tasks.route_request(request.pk, route_messages[-1]["event_id"])

    request.refresh_from_db()
    assert request.status == Status.ROUTED
    assert routed_id == Event.objects.get(request=request, type=Event.Type.ROUTED).pk
    assert [m.to for m in mail.outbox] == [[resident.email]]
    resident_pushes = [m["message"] for g, m in pushed if g == live.resident_group(resident.pk)]
    assert [(m["version"], m["status"]) for m in resident_pushes] == [
        (1, "submitted"), (2, "routed")
    ]


def test_the_routed_push_from_memory_equals_the_push_of_the_event_loaded_again(
    resident, streetlight, route_messages, pushed
):
    request = request_submit(reporter=resident, category=streetlight,
                             description="Dark lamp", lat=39.05, lon=116.05)

    routed_id = tasks.route_request(request.pk, route_messages[-1]["event_id"])

    reloaded = [(d.group, d.envelope()) for d in live.deliveries_for_event(event_id=routed_id)]
    from_memory = [(g, m) for g, m in pushed if m["message"]["event"]["id"] == routed_id]
    assert from_memory == reloaded


def test_the_submitted_event_is_pushed_as_before_routing(
    resident, streetlight, route_messages, pushed
):
    request = request_submit(reporter=resident, category=streetlight,
                             description="Dark lamp", lat=39.05, lon=116.05)
    submitted_id = route_messages[-1]["event_id"]

    tasks.route_request(request.pk, submitted_id)

    groups = [g for g, m in pushed if m["message"]["event"]["id"] == submitted_id]
    # Before routing no department holds it: the reporter and the (empty) staff stream only.
    assert groups == [live.resident_group(resident.pk), live.request_staff_group(request.pk)]


def test_a_routing_no_op_still_pushes_the_submitted_event(
    resident, streetlight, route_messages, pushed
):
    request = request_submit(reporter=resident, category=streetlight,
                             description="Dark lamp", lat=39.05, lon=116.05)
    submitted_id = route_messages[-1]["event_id"]
    tasks.route_request(request.pk, submitted_id)
    pushed.clear()

    assert tasks.route_request(request.pk, submitted_id) is None  # a redelivered message

    assert {m["message"]["event"]["id"] for _, m in pushed} == {submitted_id}
    assert ServiceRequest.objects.get(pk=request.pk).version == 2


def test_the_answer_to_a_filing_is_what_reading_the_request_back_shows(
    resident, streetlight, route_messages
):
    token = app_login_password_only(resident)
    client = Client(headers={"X-Session-Token": token})

    filed = client.post(URL, BODY, content_type="application/json")

    assert filed.status_code == 201, filed.content
    read = client.get(f"{URL}/{filed.json()['reference']}")
    assert filed.json() == read.json()
