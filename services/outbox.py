"""Transactional outbox: side effects are written in the same transaction as the state change.

`outbox_enqueue` is called inside a service's transaction. After commit, the fast path
publishes the row at once; if that fails (Redis down, process killed) the relay
(`relay_outbox` beat task) republishes unpublished rows with SELECT … FOR UPDATE SKIP LOCKED.
Every handler is idempotent, so a row published twice does no harm.

Topics:
- ``request.route``  {"request_id"}  → Celery routing task
- ``request.event``  {"event_id"}    → live push (Channels) and resident notification
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from services.models import OutboxMessage

logger = logging.getLogger(__name__)

ROUTE = "request.route"
EVENT = "request.event"


def _publish_route(payload: dict) -> None:
    from services.tasks import route_request

    route_request.delay(payload["request_id"])


def _publish_event(payload: dict) -> None:
    from services.live import push_event
    from services.notifications import notify_event

    push_event(event_id=payload["event_id"])
    notify_event(event_id=payload["event_id"])


PUBLISHERS: dict[str, Callable[[dict], None]] = {
    ROUTE: _publish_route,
    EVENT: _publish_event,
}


def outbox_enqueue(*, topic: str, payload: dict) -> OutboxMessage:
    """Record work to publish once the surrounding transaction commits."""
    if topic not in PUBLISHERS:
        raise ValueError(f"unknown outbox topic {topic!r}")
    message = OutboxMessage.objects.create(topic=topic, payload=payload)
    transaction.on_commit(lambda: outbox_publish_fast(message_id=message.pk), robust=True)
    return message


def _publish(message: OutboxMessage) -> bool:
    try:
        PUBLISHERS[message.topic](message.payload)
    except Exception:  # noqa: BLE001 - broker/channel errors of any kind: the relay retries
        logger.warning(
            "outbox publish failed; the relay will retry",
            extra={"outbox_id": message.pk, "topic": message.topic},
            exc_info=True,
        )
        return False
    return True


def outbox_publish_fast(*, message_id: int) -> None:
    """The after-commit fast path: publish one row, mark it published if that worked."""
    message = OutboxMessage.objects.filter(pk=message_id, published_at__isnull=True).first()
    if message is None:
        return
    if _publish(message):
        OutboxMessage.objects.filter(pk=message_id, published_at__isnull=True).update(
            published_at=timezone.now()
        )
    else:
        OutboxMessage.objects.filter(pk=message_id).update(attempts=F("attempts") + 1)


def outbox_relay(*, batch_size: int = 200, min_age_seconds: float = 2.0) -> int:
    """Publish rows the fast path missed. Returns how many were published.

    Rows younger than `min_age_seconds` are left to the fast path, which is likely still
    running. SKIP LOCKED lets several relays run at once without publishing a row twice
    in the same instant. The first failure ends the run: the broker is most likely down,
    and trying every other row would only hold the row locks for the retries' duration.
    """
    published = 0
    cutoff = timezone.now() - timedelta(seconds=min_age_seconds)
    while True:
        with transaction.atomic():
            batch = list(
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(published_at__isnull=True, created_at__lte=cutoff)
                .order_by("id")[:batch_size]
            )
            if not batch:
                return published
            done: list[int] = []
            failed: OutboxMessage | None = None
            for message in batch:
                if not _publish(message):
                    failed = message
                    break
                done.append(message.pk)
            OutboxMessage.objects.filter(pk__in=done).update(published_at=timezone.now())
            if failed is not None:
                OutboxMessage.objects.filter(pk=failed.pk).update(attempts=F("attempts") + 1)
            published += len(done)
            if failed is not None or len(batch) < batch_size:
                return published


def outbox_prune(*, older_than: timedelta = timedelta(days=7)) -> int:
    """Delete rows published more than `older_than` ago. Returns how many."""
    cutoff = timezone.now() - older_than
    deleted, _ = OutboxMessage.objects.filter(published_at__lt=cutoff).delete()
    return deleted
