"""Celery tasks for residents' data rights: thin wrappers that take ids and call a service."""

from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task
from django.db import OperationalError

from consent.rights import exports, intake, retention, reveals
from outbox.services import outbox_register
from services.staff_views import staff_view_recorder_register


@shared_task(
    name="consent.rights.tasks.build_export",
    autoretry_for=(OperationalError,),
    max_retries=3,
    retry_backoff=2,
    retry_backoff_max=20,
    soft_time_limit=600,
    time_limit=660,
)
def build_export(job_id: str) -> str | None:
    """Build one resident's export; a job that is no longer queued/running is left alone."""
    job = exports.export_build(job_id=job_id)
    return job.state if job else None


@shared_task(name="consent.rights.tasks.apply_retention", soft_time_limit=3000, time_limit=3300)
def apply_retention() -> dict[str, int]:
    """Nightly: apply each purpose's retention period from the register."""
    return retention.apply_retention().counts


@shared_task(
    name="consent.rights.tasks.send_counter_receipt",
    autoretry_for=(SMTPException, OSError, ConnectionError),
    max_retries=8,
    retry_backoff=5,
    retry_backoff_max=600,
)
def send_counter_receipt(request_id: int) -> bool:
    """E-mail a counter request's reference to the resident (once per outbox message)."""
    return intake.counter_receipt_send(request_id=request_id)


def _publish_export(payload: dict) -> None:
    build_export.delay(payload["job_id"])


def _publish_counter_receipt(payload: dict) -> None:
    send_counter_receipt.delay(payload["request_id"])


def staff_view_recorders_register() -> None:
    """Record staff views of requests (services.staff_views) as access events."""
    staff_view_recorder_register(recorder=reveals.request_view_record)


def outbox_publishers_register() -> None:
    """Name this app's outbox publishers (called once at start-up by RightsConfig.ready)."""
    outbox_register(topic=exports.TOPIC_EXPORT, publisher=_publish_export)
    outbox_register(topic=intake.TOPIC_COUNTER_RECEIPT, publisher=_publish_counter_receipt)
