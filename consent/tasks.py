"""Celery tasks of the consent app: batched tree heads, consent expiry, log verification."""

from __future__ import annotations

from celery import shared_task

from consent import ledger, services


@shared_task(name="consent.tasks.publish_tree_head")
def publish_tree_head() -> int | None:
    """Sign a new tree head if the log grew (beat: every minute, the max merge delay)."""
    head = ledger.publish_tree_head()
    return head.tree_size if head else None


@shared_task(name="consent.tasks.expire_consents")
def expire_consents() -> int:
    return services.consent_expire_due()


@shared_task(name="consent.tasks.verify_log", soft_time_limit=600, time_limit=660)
def verify_log_task() -> bool:
    return ledger.verify_log(record=True).ok
