"""Celery tasks: thin wrappers that take ids and call a service.

Every task is safe to run twice (acks_late redelivers after a crash): routing is a no-op on a
routed request, the SLA sweep records one breach per request, a notification remembers that
it was delivered.
"""

from __future__ import annotations

import logging
from smtplib import SMTPException

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings
from django.db import OperationalError

from outbox.services import outbox_inline, outbox_prune, outbox_register, outbox_relay
from services import classifier, live, notifications, routing, services, sla, surveys
from services.models import Event

logger = logging.getLogger(__name__)


@worker_process_init.connect
def load_router_model(**_: object) -> None:
    """Each worker process loads the routing model once, before its first request."""
    try:
        classifier.current_model()
    except Exception:  # noqa: BLE001 - routing loads it again on first use
        logger.warning("router model not loaded at worker start", exc_info=True)

# Retried with exponential backoff; the longest wait stays under the broker's visibility
# timeout, so a waiting retry is not also redelivered as a duplicate.
_BACKOFF = {"retry_backoff": 2, "retry_backoff_max": 20, "retry_jitter": True}


@shared_task(
    name="services.tasks.route_request",
    autoretry_for=(OperationalError, OSError, ConnectionError, TimeoutError),
    max_retries=5,
    **_BACKOFF,
)
def route_request(request_id: int, event_id: int | None = None) -> int | None:
    """Route one request; returns the `routed` event id, or None if nothing was to be done.

    `event_id`: the new request's `submitted` event, pushed first (one message per report).
    Both events are pushed right after routing commits, in one round, from what routing
    loaded (`live.PreparedPush`), and the `routed` event is notified there too
    (`outbox_inline`); if that fails its outbox row is left to the relay and the `submitted`
    event is pushed here on its own (an error then retries the task; routing is a no-op the
    second time and clients drop a repeated event by version).
    """
    push = live.PreparedPush(events=[])
    with outbox_inline():
        event = routing.request_route(
            request_id=request_id, announce_event_id=event_id, push=push
        )
    if event_id is not None and not (push.sent and any(e.pk == event_id for e in push.events)):
        event_deliver(event_id=event_id, inline=True)
    return event.pk if event else None


def event_deliver(*, event_id: int, inline: bool = False) -> int:
    """Push one event to the socket groups allowed to see it, then its notifications.

    `inline` (in a worker already): send the notifications here rather than queueing a task
    for each (one that fails to send is queued after all). Returns how many were sent or
    queued. A broker error propagates so the outbox keeps the row and the relay tries again.
    """
    event = live.push_event(event_id=event_id)
    if event is None:
        return 0
    return _notify(event, inline=inline)


def _notify(event: Event, *, inline: bool) -> int:
    # CIVICDESK_NOTIFY_INLINE=0: queue even from the routing task (mail never delays routing).
    inline = inline and settings.CIVICDESK.get("NOTIFY_INLINE", True)
    todo = notifications.notifications_for_event(event=event)
    for notification in todo:
        if inline and notifications.notification_send_now(event=event, notification=notification):
            continue
        send_notification.delay(notification.event_id, notification.user_id, notification.channel)
    return len(todo)


@shared_task(
    name="services.tasks.deliver_event",
    autoretry_for=(OperationalError, OSError, ConnectionError, TimeoutError),
    max_retries=5,
    **_BACKOFF,
)
def deliver_event(event_id: int) -> int:
    """Push one event to the socket groups allowed to see it, then queue its notifications.

    Returns how many notifications were queued. A retry after a failed push sends the event
    again: clients drop what they already have by `version`, and each notification task
    remembers that it was delivered.
    """
    return event_deliver(event_id=event_id)


@shared_task(name="services.tasks.relay_outbox")
def relay_outbox() -> int:
    return outbox_relay()


@shared_task(name="services.tasks.reroute_stranded")
def reroute_stranded() -> int:
    """Publish routing again for requests still unrouted 30 s after filing (lost messages)."""
    ids = routing.requests_awaiting_routing()
    for request_id in ids:
        route_request.delay(request_id)
    return len(ids)


@shared_task(name="services.tasks.mark_overdue")
def mark_overdue() -> int:
    return sla.requests_mark_overdue()


@shared_task(name="services.tasks.auto_close_resolved")
def auto_close_resolved() -> int:
    close = getattr(services, "requests_auto_close", None)
    if close is None:  # not written yet: nothing to do rather than a crash every hour
        logger.warning("requests_auto_close is not available")
        return 0
    return close()


@shared_task(
    name="services.tasks.send_notification",
    autoretry_for=(SMTPException, OSError, ConnectionError),
    max_retries=8,
    **_BACKOFF,
)
def send_notification(event_id: int, user_id: int, channel: str = "email") -> bool:
    return notifications.notification_deliver(event_id=event_id, user_id=user_id, channel=channel)


@shared_task(name="services.tasks.send_supervisor_digest")
def send_supervisor_digest() -> int:
    return sla.supervisor_digests_send()


# Not acks_late: a weekly job lost in a crash waits a week; redelivering a 15-minute job
# after the visibility timeout would run it twice.
@shared_task(
    name="services.tasks.train_router", acks_late=False, time_limit=900, soft_time_limit=840
)
def train_router() -> str:
    return classifier.router_train().version


@shared_task(name="services.tasks.send_surveys", acks_late=False)
def send_surveys() -> int:
    """Daily: ask the reporters of closed requests who consented to the satisfaction survey."""
    return surveys.surveys_send()


@shared_task(name="services.tasks.prune_outbox")
def prune_outbox() -> int:
    return outbox_prune()


@shared_task(name="services.tasks.prune_idempotency_keys")
def prune_idempotency_keys() -> int:
    return services.idempotency_keys_prune()


def _publish_route(payload: dict) -> None:
    if payload.get("event_id"):
        route_request.delay(payload["request_id"], payload["event_id"])
    else:
        route_request.delay(payload["request_id"])


def _handle_event(payload: dict, prepared: object = None) -> None:
    """A worker's own `request.event` row: push and notify it here (from memory if the writer
    prepared the event, e.g. routing)."""
    if isinstance(prepared, live.PreparedPush) and prepared.events:
        live.push_prepared(prepared)
        for event in prepared.events:
            _notify(event, inline=True)
        return
    event_deliver(event_id=payload["event_id"], inline=True)


def _publish_event(payload: dict) -> None:
    deliver_event.delay(payload["event_id"])


def outbox_publishers_register() -> None:
    """Name this app's outbox publishers (called once at start-up by ServicesConfig.ready)."""
    outbox_register(topic=services.TOPIC_ROUTE, publisher=_publish_route)
    outbox_register(topic=services.TOPIC_EVENT, publisher=_publish_event, inline=_handle_event)
