"""Transactional outbox: side effects are written in the same transaction as the state change.

`outbox_enqueue` is called inside a service's transaction. After commit, the fast path
publishes that transaction's rows at once (one broker message each, one UPDATE for all); if
that fails (Redis down, process killed) the relay (`relay_outbox` beat task) republishes
unpublished rows with SELECT … FOR UPDATE SKIP LOCKED. Every handler is idempotent, so a row
published twice does no harm.

Publishing only hands work to Celery: the fan-out itself (live push to every socket group,
notifications) runs in a worker, so the request that made the change pays one broker write
per row, not the fan-out.

Topics are registered by the app that owns the work, from its tasks.py at start-up
(`AppConfig.ready` calls `outbox_register`), so nothing below a tasks.py imports it:
- ``request.route``   {"request_id"}  → services.tasks.route_request (routing queue)
- ``request.event``   {"event_id"}    → services.tasks.deliver_event (live push, notifications)
- ``rights.export``   {"job_id"}      → consent.rights.tasks.build_export
- ``log.verify``      {}              → consent.tasks.verify_log_task

Inside a worker task (`outbox_inline()`), the rows the task's own transactions write are
handled in that process right after commit instead of being published, by the topic's inline
handler if it registered one: routing's `routed` event is pushed and notified by the routing
task itself, one Celery message per report in all. The writer may hand that handler what it
already holds in memory (`outbox_enqueue(prepared=…)`: routing's events, ready to push), so
nothing is loaded again. A row whose inline handling fails stays unpublished and the relay
publishes it as usual.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from outbox.models import OutboxMessage

logger = logging.getLogger(__name__)

Publisher = Callable[[dict], None]
# (payload, what the writer prepared for it in memory or None)
InlineHandler = Callable[[dict, Any], None]

# topic → publisher (hands the payload to Celery); filled by each app's tasks.py at start-up.
PUBLISHERS: dict[str, Publisher] = {}
# topic → what a worker does with a row of its own transaction instead of publishing it.
INLINE_HANDLERS: dict[str, InlineHandler] = {}


def outbox_register(
    *, topic: str, publisher: Publisher, inline: InlineHandler | None = None
) -> None:
    """Name the publisher of `topic` (and, optionally, what a worker does with a row of its own
    transaction instead of publishing it). Registering a topic twice with another publisher is
    a programming error (two apps claiming one topic)."""
    current = PUBLISHERS.get(topic)
    if current is not None and current is not publisher:
        raise ValueError(f"outbox topic {topic!r} is already registered")
    PUBLISHERS[topic] = publisher
    if inline is not None:
        INLINE_HANDLERS[topic] = inline


class _Pending(threading.local):
    """Rows written by the current transaction on this thread, waiting for its commit."""

    def __init__(self) -> None:
        self.messages: list[OutboxMessage] = []
        self.inline = False


_pending = _Pending()


@contextmanager
def outbox_inline() -> Iterator[None]:
    """Within this block (a worker task), handle this thread's rows in-process after commit."""
    previous, _pending.inline = _pending.inline, True
    try:
        yield
    finally:
        _pending.inline = previous


def outbox_enqueue(*, topic: str, payload: dict, prepared: Any = None) -> OutboxMessage:
    """Record work to publish once the surrounding transaction commits.

    `prepared`: what the writer already holds in memory for this row (e.g. the event with
    its request, ready to push); handed to the topic's inline handler in a worker so it need
    not load it again. Never stored: the relay and other processes work from the payload.
    """
    if topic not in PUBLISHERS:
        raise ValueError(f"unknown outbox topic {topic!r}")
    message = OutboxMessage.objects.create(topic=topic, payload=payload)
    message.prepared = prepared  # type: ignore[attr-defined]  # in memory only
    if not connection.run_on_commit:
        # No commit hook is waiting: this is a new transaction (or everything registered
        # so far was rolled back with a savepoint), so nothing pending belongs to it.
        _pending.messages.clear()
    _pending.messages.append(message)
    # One hook per row, so a savepoint rollback that drops some hooks leaves the others;
    # the first hook to run publishes the whole batch and the rest find it empty.
    transaction.on_commit(outbox_flush, robust=True)
    return message


def outbox_flush() -> None:
    """The after-commit fast path: publish this transaction's rows, mark them in one UPDATE.

    A row written inside a savepoint that was rolled back may still be in the batch; its
    handler finds nothing to do (no such request or event) and the UPDATE matches no row.
    """
    batch, _pending.messages = _pending.messages, []
    if not batch:
        return
    done: list[int] = []
    for message in batch:
        handler = INLINE_HANDLERS.get(message.topic) if _pending.inline else None
        if handler is not None:
            if _handle(handler, message):
                done.append(message.pk)
            continue  # not handled: the relay publishes it in a few seconds
        if not _publish(message):
            # The broker is most likely down: leave this row and the rest to the relay.
            OutboxMessage.objects.filter(pk=message.pk).update(attempts=F("attempts") + 1)
            break
        done.append(message.pk)
    if done:
        OutboxMessage.objects.filter(pk__in=done, published_at__isnull=True).update(
            published_at=timezone.now()
        )


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


def _handle(handler: InlineHandler, message: OutboxMessage) -> bool:
    try:
        handler(message.payload, getattr(message, "prepared", None))
    except Exception:  # noqa: BLE001 - channel layer, broker, mail: the relay retries
        logger.warning(
            "outbox row not handled in the worker; the relay will publish it",
            extra={"outbox_id": message.pk, "topic": message.topic},
            exc_info=True,
        )
        return False
    return True


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
