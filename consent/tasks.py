"""Celery tasks of the consent app: batched tree heads (signed, mirrored outside the database,
sent to the witnesses), promise checks, consent expiry, log verification."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from consent import ledger, services, witnessing
from outbox.services import outbox_register


def publish_cycle() -> dict[str, Any]:
    """One round of the publisher: sign a head if the log grew (and mirror it), collect the
    witnesses' cosignatures for the latest head, check promises whose merge delay ended."""
    head = ledger.publish_tree_head()
    cosigned = witnessing.cosign_latest_head()
    check = ledger.check_promises()
    return {
        "tree_size": head.tree_size if head else None,
        "witnesses": cosigned,
        "promises_ok": None if check is None else check.ok,
    }


@shared_task(name="consent.tasks.publish_tree_head")
def publish_tree_head() -> int | None:
    """Beat: every minute (within the maximum merge delay). Off the consent request path."""
    return publish_cycle()["tree_size"]


@shared_task(name="consent.tasks.expire_consents")
def expire_consents() -> int:
    return services.consent_expire_due()


@shared_task(name="consent.tasks.verify_log", soft_time_limit=600, time_limit=660)
def verify_log_task() -> bool:
    return ledger.verify_log(record=True).ok


def _publish_log_verify(payload: dict) -> None:
    verify_log_task.delay()


def outbox_publishers_register() -> None:
    """Name this app's outbox publishers (called once at start-up by ConsentConfig.ready)."""
    outbox_register(topic=services.TOPIC_LOG_VERIFY, publisher=_publish_log_verify)
