"""services.live: which groups hear of an event and what each may see (no sockets here)."""

from __future__ import annotations

import asyncio
import copy
import json
import os

import pytest
from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

from services import live
from services.models import Event, Follow, ServiceRequest, Status
from services.services import event_record, request_submit, request_transition
from tests.factories import CategoryFactory

# Events reach the channel layer through the `deliver_event` task, run in-process here.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]

DESCRIPTION = "The streetlight outside number 12 has been dark for three nights."
ADDRESS = "12 Quiet Lane"


# --- helpers shared with the consumer tests ---------------------------------------------


def routed_request(*, reporter, department) -> ServiceRequest:
    """A request filed through the service and routed to `department` (as the router would)."""
    category = CategoryFactory(department=department)
    request = request_submit(
        reporter=reporter,
        category=category,
        description=DESCRIPTION,
        lat=39.05,
        lon=116.05,
        address=ADDRESS,
    )
    request.refresh_from_db()
    if request.status != Status.ROUTED:  # no router ran: do its job
        ServiceRequest.objects.filter(pk=request.pk).update(department=department)
        request.refresh_from_db()
        request = request_transition(request=request, actor=None, to_status=Status.ROUTED)
    if request.department_id != department.pk:
        ServiceRequest.objects.filter(pk=request.pk).update(department=department)
    request.refresh_from_db()
    return request


@transaction.atomic
def add_event(request: ServiceRequest, *, actor, type: str, visibility: str, text: str) -> Event:
    locked = ServiceRequest.objects.select_for_update().get(pk=request.pk)
    return event_record(request=locked, type=type, actor=actor, visibility=visibility, text=text)


def internal_note(request, actor, text="Caller sounded upset; check the cable first."):
    return add_event(
        request,
        actor=actor,
        type=Event.Type.INTERNAL_NOTE,
        visibility=Event.Visibility.INTERNAL,
        text=text,
    )


def public_reply(request, actor, text="A crew is scheduled for Thursday."):
    return add_event(
        request,
        actor=actor,
        type=Event.Type.PUBLIC_REPLY,
        visibility=Event.Visibility.PUBLIC,
        text=text,
    )


def resident_comment(request, actor, text="I live at number 12, call me any time."):
    return add_event(
        request,
        actor=actor,
        type=Event.Type.COMMENT_BY_RESIDENT,
        visibility=Event.Visibility.PUBLIC,
        text=text,
    )


def _isolated_layer(settings, kind: str):
    if kind == "memory":
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    elif settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer":
        # Our own key prefix per xdist worker, so flushing touches nothing else.
        config = copy.deepcopy(settings.CHANNEL_LAYERS)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        config["default"]["CONFIG"]["prefix"] = f"civicdesk-test-{worker}:asgi"
        settings.CHANNEL_LAYERS = config
    layer = get_channel_layer()
    _flush(layer)
    return layer


def _flush(layer) -> None:
    """Empty the layer on the loop its pools live on (live pushes to Redis from its own)."""
    if isinstance(layer, InMemoryChannelLayer):
        async_to_sync(layer.flush)()
    else:
        asyncio.run_coroutine_threadsafe(layer.flush(), live._sender.loop()).result(10)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def channel_layer(request, settings):
    """Runs the test twice: in-memory layer, and (with REDIS_URL) the real channels-redis."""
    layer = _isolated_layer(settings, request.param)
    if request.param == "redis":
        assert type(layer).__name__ == "RedisChannelLayer"
    yield layer
    _flush(layer)


@pytest.fixture
def configured_layer(settings):
    """The layer the settings choose (channels-redis when REDIS_URL is set), emptied."""
    layer = _isolated_layer(settings, "configured")
    yield layer
    _flush(layer)


def _by_group(deliveries):
    return {d.group: d.message for d in deliveries}


# --- tests --------------------------------------------------------------------------------


def test_public_event_goes_to_reporter_queue_and_staff_stream(resident, clerk_roads, roads):
    request = routed_request(reporter=resident, department=roads)
    event = public_reply(request, clerk_roads)

    messages = _by_group(live.deliveries_for_event(event_id=event.pk))

    assert set(messages) == {
        f"resident.{resident.pk}",
        f"queue.{roads.pk}",
        f"request.{request.pk}.staff",
    }
    mine = messages[f"resident.{resident.pk}"]
    assert mine["type"] == "request.event"
    assert mine["reference"] == request.reference
    assert mine["status"] == Status.ROUTED
    assert mine["version"] == event.version
    assert mine["changed_at"] == event.created_at.isoformat()
    assert mine["event"]["text"] == "A crew is scheduled for Thursday."


def test_internal_note_goes_only_to_staff_groups_and_its_text_only_to_the_request_stream(
    resident, clerk_roads, roads
):
    request = routed_request(reporter=resident, department=roads)
    event = internal_note(request, clerk_roads)

    messages = _by_group(live.deliveries_for_event(event_id=event.pk))

    assert set(messages) == {f"queue.{roads.pk}", f"request.{request.pk}.staff"}
    assert "text" not in messages[f"queue.{roads.pk}"]["event"]
    assert messages[f"queue.{roads.pk}"]["event"]["visibility"] == "internal"
    staff = messages[f"request.{request.pk}.staff"]["event"]
    assert staff["text"] == "Caller sounded upset; check the cable first."


def test_resident_previous_version_skips_internal_events_so_they_see_no_false_gap(
    resident, clerk_roads, roads
):
    request = routed_request(reporter=resident, department=roads)
    first = public_reply(request, clerk_roads, text="Looking into it.")
    internal_note(request, clerk_roads)
    second = public_reply(request, clerk_roads)

    messages = _by_group(live.deliveries_for_event(event_id=second.pk))

    assert messages[f"resident.{resident.pk}"]["previous_version"] == first.version
    assert messages[f"request.{request.pk}.staff"]["previous_version"] == second.version - 1


def test_followers_hear_public_events_without_the_reporters_own_words(
    resident, other_resident, roads
):
    request = routed_request(reporter=resident, department=roads)
    Follow.objects.create(user=other_resident, request=request)
    event = resident_comment(request, resident)

    messages = _by_group(live.deliveries_for_event(event_id=event.pk))

    assert messages[f"resident.{resident.pk}"]["event"]["text"].startswith("I live at")
    assert messages[f"resident.{other_resident.pk}"]["event"]["text"] == ""


def test_no_message_carries_personal_data_of_the_reporter(resident, clerk_roads, roads):
    request = routed_request(reporter=resident, department=roads)
    events = [public_reply(request, clerk_roads), internal_note(request, clerk_roads)]

    wire = json.dumps(
        [d.message for e in events for d in live.deliveries_for_event(event_id=e.pk)]
    )

    for personal in (resident.email, resident.display_name, resident.phone, DESCRIPTION, ADDRESS):
        assert personal not in wire
    assert str(request.lat) not in wire


def test_queue_message_says_whether_the_item_is_still_in_the_queue(
    resident, clerk_roads, roads
):
    request = routed_request(reporter=resident, department=roads)
    request = request_transition(request=request, actor=clerk_roads, to_status="in_progress")
    request = request_transition(
        request=request, actor=clerk_roads, to_status="returned", text="Not ours: parks."
    )
    event = request.events.order_by("-version").first()

    queue = _by_group(live.deliveries_for_event(event_id=event.pk))[f"queue.{roads.pk}"]

    assert queue["type"] == "queue.item"
    assert queue["status"] == Status.RETURNED
    assert queue["item"]["in_queue"] is False


def test_push_of_an_event_that_no_longer_exists_sends_nothing(channel_layer, resident):
    channel = async_to_sync(channel_layer.new_channel)()
    async_to_sync(channel_layer.group_add)(f"resident.{resident.pk}", channel)

    live.push_event(event_id=987654)
    async_to_sync(channel_layer.group_send)(f"resident.{resident.pk}", {"type": "marker"})

    assert async_to_sync(channel_layer.receive)(channel)["type"] == "marker"


@pytest.mark.django_db(transaction=True)
def test_push_after_commit_reaches_the_reporters_group(channel_layer, resident, roads):
    channel = async_to_sync(channel_layer.new_channel)()
    async_to_sync(channel_layer.group_add)(f"resident.{resident.pk}", channel)

    request = routed_request(reporter=resident, department=roads)

    first = async_to_sync(channel_layer.receive)(channel)
    assert first["type"] == "live.message"
    assert first["message"]["reference"] == request.reference
    assert first["message"]["version"] == 1
    assert first["message"]["event"]["type"] == "submitted"



def test_deliveries_for_a_public_event_cost_one_query(
    django_assert_num_queries, resident, clerk_roads, roads
):
    request = routed_request(reporter=resident, department=roads)
    event = public_reply(request, clerk_roads)

    with django_assert_num_queries(1):
        live.deliveries_for_event(event_id=event.pk)
