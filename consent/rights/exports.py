"""Residents take their data with them: an export job built in the background (the build is
queued through the outbox), one JSON document plus photos in a zip.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from consent.rights.common import rights_setting
from consent.rights.models import (
    DataSubjectRequest,
    ExportJob,
)
from consent.rights.requests import dsr_create
from consent.rights.selectors import export_document
from core.security_log import security_event
from outbox.services import outbox_enqueue

if TYPE_CHECKING:
    from core.users import User

EXPORT_SCHEMA_PATH = Path(__file__).resolve().parent / "export_schema.json"
logger = logging.getLogger(__name__)

STALE_EXPORT_AFTER = timedelta(minutes=30)

# Outbox topic this app publishes (consent/rights/tasks.py registers its publisher).
TOPIC_EXPORT = "rights.export"  # {"job_id"}: build one resident's export


def export_root() -> Path:
    root = Path(rights_setting("EXPORT_ROOT"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def export_start(*, user: User, channel: str = "web") -> tuple[ExportJob, bool]:
    """Queue an export of everything about `user`; a queued or running one is returned instead.

    Returns (job, created). The build is queued after commit through the outbox.
    """
    if channel not in ("web", "mobile", "counter"):
        channel = "web"
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk").first()
        active = ExportJob.objects.filter(user=user, state__in=ExportJob.ACTIVE_STATES).first()
        if active is not None:
            started = active.started_at or active.created_at
            if timezone.now() - started < STALE_EXPORT_AFTER:
                return active, False
            # A worker died with it: fail it so a new one can start.
            ExportJob.objects.filter(pk=active.pk).update(
                state=ExportJob.State.FAILED, error="timed out", finished_at=timezone.now()
            )
        try:
            with transaction.atomic():
                job = ExportJob.objects.create(user=user, channel=channel)
        except IntegrityError:
            return ExportJob.objects.get(user=user, state__in=ExportJob.ACTIVE_STATES), False
        dsr = dsr_create(kind=DataSubjectRequest.Kind.EXPORT, channel=channel, subject=user) \
            if channel != "counter" else None
        if dsr is not None:
            DataSubjectRequest.objects.filter(pk=dsr.pk).update(
                export_job=job, status=DataSubjectRequest.Status.IN_PROGRESS
            )
        job_id = str(job.pk)
        # Through the outbox: a broker outage neither turns the 202 into a 500 nor loses the
        # job (the relay publishes it when the broker is back).
        outbox_enqueue(topic=TOPIC_EXPORT, payload={"job_id": job_id})
    security_event("data_export.requested", user_id=user.pk, export_job=job_id)
    return job, True


def export_build(*, job_id: str | uuid.UUID) -> ExportJob | None:
    """Build the export zip for a queued job (the Celery task calls this). Idempotent."""
    job_id = uuid.UUID(str(job_id))
    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update()
            .filter(pk=job_id, state__in=ExportJob.ACTIVE_STATES)
            .select_related("user")
            .first()
        )
        if job is None:
            return None
        job.state = ExportJob.State.RUNNING
        job.started_at = timezone.now()
        job.save(update_fields=["state", "started_at"])
    name = f"{secrets.token_hex(2)}/{secrets.token_urlsafe(24)}.zip"
    path = export_root() / name
    try:
        document, photos = export_document(user=job.user)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("civicdesk-export.json",
                        json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2))
            zf.write(EXPORT_SCHEMA_PATH, "schema.json")
            for arcname, attachment in photos:
                with attachment.file.open("rb") as src, zf.open(arcname, "w") as dst:
                    while chunk := src.read(64 * 1024):
                        dst.write(chunk)
        os.replace(tmp, path)
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1024 * 1024), b""):
                digest.update(chunk)
    except Exception as exc:
        logger.exception("export build failed", extra={"export_job": str(job_id)})
        ExportJob.objects.filter(pk=job_id).update(
            state=ExportJob.State.FAILED, error=type(exc).__name__, finished_at=timezone.now()
        )
        DataSubjectRequest.objects.filter(export_job_id=job_id).update(
            outcome="The export failed; please start it again."
        )
        raise
    now = timezone.now()
    with transaction.atomic():
        ExportJob.objects.filter(pk=job_id).update(
            state=ExportJob.State.READY,
            finished_at=now,
            expires_at=now + timedelta(hours=rights_setting("EXPORT_LINK_HOURS")),
            file_name=name,
            size_bytes=path.stat().st_size,
            sha256=digest.hexdigest(),
        )
        DataSubjectRequest.objects.filter(
            export_job_id=job_id, status__in=DataSubjectRequest.OPEN_STATUSES
        ).update(status=DataSubjectRequest.Status.COMPLETED, completed_at=now,
                 outcome="Your export is ready to download.")
    return ExportJob.objects.get(pk=job_id)


def export_file_path(job: ExportJob) -> Path:
    return export_root() / job.file_name


def export_file_delete(job: ExportJob) -> None:
    if job.file_name:
        try:
            export_file_path(job).unlink(missing_ok=True)
        except OSError:
            logger.warning("export file could not be deleted", extra={"export_job": str(job.pk)})
