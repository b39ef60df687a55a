"""The transactional outbox: nothing is published before commit, nothing is lost after it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from outbox import services as outbox
from outbox.models import OutboxMessage
from outbox.services import (
    outbox_enqueue,
    outbox_inline,
    outbox_prune,
    outbox_register,
    outbox_relay,
)
from services.models import Status
from services.services import TOPIC_EVENT as EVENT
from services.services import TOPIC_ROUTE as ROUTE
from services.services import request_submit
from tests.factories import CategoryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    """Record what the route publisher is asked to send; `fail` makes it raise (broker down)."""

    class Recorder:
        fail = False
        payloads: list[dict] = []

        def __call__(self, payload):
            if self.fail:
                raise ConnectionError("broker down")
            self.payloads.append(payload)

    recorder = Recorder()
    recorder.payloads = []
    monkeypatch.setitem(outbox.PUBLISHERS, ROUTE, recorder)
    return recorder


def _age(message, seconds=10):
    OutboxMessage.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_nothing_is_published_before_commit_and_the_row_is_marked_after(
    published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = outbox_enqueue(topic=ROUTE, payload={"request_id": 1})
    assert published.payloads == []

    for callback in callbacks:
        callback()

    message.refresh_from_db()
    assert published.payloads == [{"request_id": 1}]
    assert message.published_at is not None


def test_rolled_back_work_is_never_published(published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                outbox_enqueue(topic=ROUTE, payload={"request_id": 2})
                raise RuntimeError("the service failed")
        except RuntimeError:
            pass

    assert published.payloads == []
    assert not OutboxMessage.objects.exists()


def test_failed_fast_path_leaves_the_row_for_the_relay(
    published, django_capture_on_commit_callbacks
):
    published.fail = True
    with django_capture_on_commit_callbacks(execute=True):
        message = outbox_enqueue(topic=ROUTE, payload={"request_id": 3})

    message.refresh_from_db()
    assert message.published_at is None
    assert message.attempts == 1

    published.fail = False
    _age(message)
    assert outbox_relay() == 1
    message.refresh_from_db()
    assert message.published_at is not None
    assert published.payloads == [{"request_id": 3}]
    assert outbox_relay() == 0


def test_relay_leaves_fresh_rows_to_the_fast_path(published):
    message = outbox_enqueue(topic=ROUTE, payload={"request_id": 4})

    assert outbox_relay(min_age_seconds=60) == 0
    message.refresh_from_db()
    assert message.published_at is None


def test_relay_stops_at_the_first_failure_and_counts_the_attempt(published):
    first = outbox_enqueue(topic=ROUTE, payload={"request_id": 5})
    second = outbox_enqueue(topic=ROUTE, payload={"request_id": 6})
    _age(first)
    _age(second)
    published.fail = True

    assert outbox_relay() == 0

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.attempts, second.attempts) == (1, 0)
    assert first.published_at is None
    assert second.published_at is None


def test_relay_publishes_in_batches_until_done(published):
    messages = [outbox_enqueue(topic=ROUTE, payload={"request_id": n}) for n in range(5)]
    for message in messages:
        _age(message)

    assert outbox_relay(batch_size=2) == 5
    assert [p["request_id"] for p in published.payloads] == [0, 1, 2, 3, 4]


def test_unknown_topic_is_refused(db):
    with pytest.raises(ValueError, match="unknown outbox topic"):
        outbox_enqueue(topic="request.nonsense", payload={})


def test_prune_deletes_only_old_published_rows(published):
    old, recent, pending = (
        outbox_enqueue(topic=ROUTE, payload={"request_id": n}) for n in range(3)
    )
    now = timezone.now()
    OutboxMessage.objects.filter(pk=old.pk).update(published_at=now - timedelta(days=8))
    OutboxMessage.objects.filter(pk=recent.pk).update(published_at=now - timedelta(days=1))

    assert outbox_prune() == 1
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk}


@pytest.fixture
def event_routes(monkeypatch):
    """What happens to `request.event` rows: handled in this process, or published."""

    class Routes:
        fail_inline = False
        handled: list[dict] = []
        published: list[dict] = []

        def handle(self, payload, prepared=None):
            if self.fail_inline:
                raise ConnectionError("channel layer down")
            self.handled.append(payload)

    routes = Routes()
    routes.handled, routes.published = [], []
    monkeypatch.setitem(outbox.INLINE_HANDLERS, EVENT, routes.handle)
    monkeypatch.setitem(outbox.PUBLISHERS, EVENT, routes.published.append)
    return routes


def test_a_worker_handles_the_rows_of_its_own_transaction_itself_instead_of_publishing(
    event_routes, django_capture_on_commit_callbacks
):
    with outbox_inline(), django_capture_on_commit_callbacks(execute=True):
        message = outbox_enqueue(topic=EVENT, payload={"event_id": 1})

    message.refresh_from_db()
    assert (event_routes.handled, event_routes.published) == ([{"event_id": 1}], [])
    assert message.published_at is not None


def test_a_row_the_worker_fails_to_handle_is_left_to_the_relay_which_publishes_it(
    event_routes, django_capture_on_commit_callbacks
):
    event_routes.fail_inline = True
    with outbox_inline(), django_capture_on_commit_callbacks(execute=True):
        message = outbox_enqueue(topic=EVENT, payload={"event_id": 1})
    message.refresh_from_db()
    assert message.published_at is None
    _age(message)

    assert outbox_relay() == 1
    assert event_routes.published == [{"event_id": 1}]


def test_outside_a_worker_rows_are_published_not_handled(
    event_routes, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        outbox_enqueue(topic=EVENT, payload={"event_id": 1})

    assert (event_routes.handled, event_routes.published) == ([], [{"event_id": 1}])


def test_a_second_app_cannot_claim_a_registered_topic(db):
    with pytest.raises(ValueError, match="already registered"):
        outbox_register(topic=ROUTE, publisher=lambda payload: None)



@pytest.mark.usefixtures("celery_eager")
def test_a_submission_is_routed_through_the_publisher_its_app_registered_at_start_up(
    resident, roads, triage, django_capture_on_commit_callbacks
):
    # No test wiring: ServicesConfig.ready registered services.tasks' publishers, so the
    # route row written by the submission is published after commit and routes the request.
    category = CategoryFactory(code="pothole", name_en="Pothole", department=roads)
    with django_capture_on_commit_callbacks(execute=True):
        request = request_submit(
            reporter=resident, category=category, description="Pothole.", lat=39.05, lon=116.05
        )

    request.refresh_from_db()
    assert request.status == Status.ROUTED
    assert request.department == roads
    assert not OutboxMessage.objects.filter(published_at__isnull=True).exists()
