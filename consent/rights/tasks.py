"""Celery tasks for residents' data rights: thin wrappers that take ids and call a service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from consent.rights import services
from outbox.services import outbox_register


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
    job = services.export_build(job_id=job_id)
    return job.state if job else None


@shared_task(name="consent.rights.tasks.apply_retention", soft_time_limit=3000, time_limit=3300)
def apply_retention() -> dict[str, int]:
    """Nightly: apply each purpose's retention period from the register."""
    return services.apply_retention().counts


def _publish_export(payload: dict) -> None:
    build_export.delay(payload["job_id"])


def outbox_publishers_register() -> None:
    """Name this app's outbox publishers (called once at start-up by RightsConfig.ready)."""
    outbox_register(topic=services.TOPIC_EXPORT, publisher=_publish_export)
