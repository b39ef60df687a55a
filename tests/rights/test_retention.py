"""The register's retention periods apply themselves: nightly, batched, idempotent, logged."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from consent.models import LogEntry
from consent.rights.exports import export_start
from consent.rights.models import AnonymisedRequest, ExportJob, RetentionRun
from consent.rights.retention import apply_retention
from services.models import Attachment, Event, ServiceRequest, Status
from services.services import REMOVED_MARKER
from tests.rights.conftest import file_request

pytestmark = pytest.mark.usefixtures("register")

SERVICE_DELIVERY_DAYS = 730  # the seeded register's value for service-delivery


def closed(request: ServiceRequest, days_ago: int) -> ServiceRequest:
    ServiceRequest.objects.filter(pk=request.pk).update(
        status=Status.CLOSED, closed_at=timezone.now() - timedelta(days=days_ago)
    )
    request.refresh_from_db()
    return request


@pytest.fixture
def old_and_recent(resident, streetlight):
    old = closed(file_request(resident, streetlight, description="Old dark lamp at my door.",
                              comment="Old comment."), SERVICE_DELIVERY_DAYS + 5)
    recent = closed(file_request(resident, streetlight, description="Recent dark lamp.",
                                 comment="Recent comment."), 30)
    return old, recent


def test_retention_anonymises_closed_requests_past_the_register_period_only(
    old_and_recent, django_capture_on_commit_callbacks
):
    old, recent = old_and_recent
    photo = Path(Attachment.objects.get(request=old).file.path)

    with django_capture_on_commit_callbacks(execute=True):
        summary = apply_retention()

    old.refresh_from_db()
    recent.refresh_from_db()
    assert summary.counts["requests_anonymised"] == 1
    assert (old.reporter_id, old.description, old.address) == (None, REMOVED_MARKER, "")
    assert not Attachment.objects.filter(request=old).exists()
    assert not photo.exists()
    assert Event.objects.get(request=old, type="comment_by_resident").text == REMOVED_MARKER
    assert recent.reporter_id is not None
    assert recent.description == "Recent dark lamp."
    assert Attachment.objects.filter(request=recent).exists()


def test_retention_is_idempotent(old_and_recent):
    old, _ = old_and_recent
    apply_retention()
    state = list(ServiceRequest.objects.order_by("pk").values())
    events = list(Event.objects.order_by("pk").values())

    second = apply_retention()

    assert second.counts == dict.fromkeys(second.counts, 0)
    assert list(ServiceRequest.objects.order_by("pk").values()) == state
    assert list(Event.objects.order_by("pk").values()) == events
    assert AnonymisedRequest.objects.filter(request=old).count() == 1


def test_retention_works_in_batches(resident, streetlight):
    for i in range(5):
        closed(file_request(resident, streetlight, description=f"Lamp {i}", photo=False),
               SERVICE_DELIVERY_DAYS + 1)

    summary = apply_retention(batch_size=2)

    assert summary.counts["requests_anonymised"] == 5
    assert not ServiceRequest.objects.exclude(description=REMOVED_MARKER).exists()


def test_retention_on_an_empty_table_does_nothing(db, register):
    summary = apply_retention()

    assert summary.counts == dict.fromkeys(summary.counts, 0)


def test_a_real_run_logs_a_counts_only_summary(old_and_recent, resident):
    summary = apply_retention()

    entry = LogEntry.objects.get(index=summary.run.log_entry_id)
    body = json.loads(entry.entry)["body"]
    assert entry.kind == "retention"
    assert body["counts"]["requests_anonymised"] == 1
    assert body["retention_days"]["service-delivery"] == SERVICE_DELIVERY_DAYS
    for personal in (resident.email, resident.phone, old_and_recent[0].reference):
        assert personal not in entry.entry


def test_dry_run_command_shows_what_would_go_and_changes_nothing(old_and_recent):
    out = StringIO()

    call_command("apply_retention", "--dry-run", stdout=out)

    report = json.loads(out.getvalue())
    assert report["dry_run"] is True
    assert report["counts"]["requests_anonymised"] == 1
    assert report["counts"]["photos_deleted"] == 1
    assert not AnonymisedRequest.objects.exists()
    assert not RetentionRun.objects.exists()
    assert not LogEntry.objects.filter(kind="retention").exists()


def test_expired_export_files_are_deleted(resident, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job, _ = export_start(user=resident)
    job.refresh_from_db()
    from consent.rights.exports import export_file_path

    path = export_file_path(job)
    assert path.is_file()

    summary = apply_retention(now=job.expires_at + timedelta(seconds=1))

    assert summary.counts["exports_expired"] == 1
    assert not path.exists()
    assert ExportJob.objects.get(pk=job.pk).state == "expired"
