"""Residents take all their data with them: one JSON document (+ photos) built in the background."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

import consent.rights
from consent.rights.models import DataSubjectRequest, ExportJob
from consent.rights.services import TOPIC_EXPORT, contact_details_reveal, export_build
from consent.services import consent_decide
from outbox import services as outbox_services
from services.models import Follow
from tests.rights.conftest import file_request

pytestmark = pytest.mark.usefixtures("register")


def start_export(client, capture):
    with capture(execute=True):
        return client.post("/api/v1/me/export")


def download(client, job_id) -> zipfile.ZipFile:
    response = client.get(f"/api/v1/me/export/{job_id}/download")
    assert response.status_code == 200, response.content[:300]
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


@pytest.fixture
def two_residents(resident, other_resident, streetlight, clerk_lighting, li_request):
    """Both residents have a request, a comment, a photo, a consent and an access event."""
    other_request = file_request(
        other_resident, streetlight, description="Flickering lamp by the other person's gate.",
        comment="The other person's private remark.", address="99 Elsewhere Road",
    )
    Follow.objects.create(user=resident, request=other_request)
    for person, request in ((resident, li_request), (other_resident, other_request)):
        consent_decide(subject=person, purpose_code="satisfaction-survey", decision="give",
                       notice_version=1)
        contact_details_reveal(actor=clerk_lighting, reference=request.reference,
                               fields=["phone"], purpose="service-delivery")
    return resident, other_resident, other_request


def test_export_starts_a_job_and_answers_202_with_its_state(client_for, resident,
                                                           django_capture_on_commit_callbacks):
    response = start_export(client_for(resident), django_capture_on_commit_callbacks)

    assert response.status_code == 202
    job = ExportJob.objects.get()
    status = client_for(resident).get(f"/api/v1/me/export/{job.pk}").json()
    assert status["state"] == "ready"
    assert status["download_url"] == f"/api/v1/me/export/{job.pk}/download"
    assert DataSubjectRequest.objects.get(kind="export").status == "completed"


def test_export_contains_every_kind_of_my_data_and_nothing_of_anyone_else(
    client_for, two_residents, li_request, django_capture_on_commit_callbacks
):
    resident, other, other_request = two_residents
    client = client_for(resident)
    job_id = start_export(client, django_capture_on_commit_callbacks).json()["id"]

    archive = download(client, job_id)
    raw = archive.read("civicdesk-export.json").decode()
    doc = json.loads(raw)

    assert doc["profile"]["email"] == resident.email
    assert doc["profile"]["phone"] == resident.phone
    [mine] = doc["requests"]
    assert mine["reference"] == li_request.reference
    assert mine["location"]["address"] == "12 Lamp Lane"
    assert any(e["type"] == "comment_by_resident" and e["by"] == "you" for e in mine["events"])
    assert archive.read(mine["photos"][0]["file"]).startswith(b"\x89PNG")
    assert doc["follows"] == [{"request": other_request.reference, "since": doc["follows"][0]
                               ["since"]}]
    assert [h["purpose"] for h in doc["consents"]["history"]] == ["satisfaction-survey"]
    assert doc["consents"]["history"][0]["receipt"]["consentReceiptID"]
    assert len(doc["access_log"]) == 1
    assert "phone number" in doc["access_log"][0]["text"]
    assert "stored" in doc["notifications"]
    codes = {p["purpose"]["code"] for p in doc["processing"]}
    assert {"service-delivery", "satisfaction-survey"} <= codes
    survey = next(p for p in doc["processing"] if p["purpose"]["code"] == "satisfaction-survey")
    assert survey["legal_basis"]["dpv"] == "https://w3id.org/dpv#Consent"
    assert survey["your_consent"] == "given"
    assert survey["retention"]["days"] == 365
    assert doc["data_subject_requests"][0]["kind"] == "export"
    # Nothing of the other resident (the followed request shows its reference only).
    for theirs in (other.email, other.phone, other.display_name, other_request.description,
                   "The other person's private remark.", "99 Elsewhere Road"):
        assert theirs not in raw
    names = archive.namelist()
    assert "schema.json" in names
    assert all(li_request.reference in n for n in names if n.startswith("photos/"))


def test_the_export_document_follows_its_published_json_schema(
    client_for, two_residents, django_capture_on_commit_callbacks
):
    import jsonschema

    resident = two_residents[0]
    client = client_for(resident)
    job_id = start_export(client, django_capture_on_commit_callbacks).json()["id"]
    doc = json.loads(download(client, job_id).read("civicdesk-export.json"))
    schema = json.loads(
        (Path(consent.rights.__file__).parent / "export_schema.json").read_text()
    )

    jsonschema.Draft202012Validator(schema).validate(doc)


def test_export_requested_while_one_is_running_returns_the_running_one(client_for, resident):
    client = client_for(resident)
    first = client.post("/api/v1/me/export")  # its job is sent on commit: never, in this test
    ExportJob.objects.filter(pk=first.json()["id"]).update(
        state=ExportJob.State.RUNNING, started_at=timezone.now()
    )

    second = client.post("/api/v1/me/export")

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["state"] == "running"
    assert ExportJob.objects.count() == 1


def test_a_running_export_abandoned_by_a_dead_worker_does_not_block_a_new_one(
    client_for, resident
):
    client = client_for(resident)
    first = client.post("/api/v1/me/export").json()["id"]
    ExportJob.objects.filter(pk=first).update(
        state=ExportJob.State.RUNNING, started_at=timezone.now() - timedelta(hours=2)
    )

    second = client.post("/api/v1/me/export")

    assert second.status_code == 202
    assert ExportJob.objects.get(pk=first).state == "failed"


def test_building_a_job_twice_changes_nothing_the_second_time(
    client_for, resident, django_capture_on_commit_callbacks
):
    job_id = start_export(client_for(resident), django_capture_on_commit_callbacks).json()["id"]
    before = ExportJob.objects.get(pk=job_id).file_name

    assert export_build(job_id=job_id) is None
    assert ExportJob.objects.get(pk=job_id).file_name == before


def test_an_app_asking_for_application_zip_gets_the_archive(
    client_for, resident, django_capture_on_commit_callbacks
):
    client = client_for(resident)
    job_id = start_export(client, django_capture_on_commit_callbacks).json()["id"]

    response = client.get(f"/api/v1/me/export/{job_id}/download", HTTP_ACCEPT="application/zip")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"


def test_download_of_another_users_export_is_404(
    client_for, resident, other_resident, django_capture_on_commit_callbacks
):
    job_id = start_export(client_for(resident), django_capture_on_commit_callbacks).json()["id"]
    intruder = client_for(other_resident)

    assert intruder.get(f"/api/v1/me/export/{job_id}/download").status_code == 404
    assert intruder.get(f"/api/v1/me/export/{job_id}").status_code == 404
    assert intruder.get("/api/v1/me/export/not-a-uuid").status_code == 404


def test_download_needs_authentication(api, resident, client_for,
                                       django_capture_on_commit_callbacks):
    job_id = start_export(client_for(resident), django_capture_on_commit_callbacks).json()["id"]

    assert api.get(f"/api/v1/me/export/{job_id}/download").status_code == 401


def test_an_expired_download_link_is_gone(client_for, resident,
                                          django_capture_on_commit_callbacks):
    client = client_for(resident)
    job_id = start_export(client, django_capture_on_commit_callbacks).json()["id"]
    ExportJob.objects.filter(pk=job_id).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert client.get(f"/api/v1/me/export/{job_id}/download").status_code == 410
    assert client.get(f"/api/v1/me/export/{job_id}").json()["download_url"] is None


def test_an_export_asked_for_while_the_broker_is_down_is_built_when_the_relay_runs(
    client_for, resident, django_capture_on_commit_callbacks, monkeypatch
):
    # The publisher rights/tasks.py registered at start-up, as it would behave with Redis down.
    def broker_down(payload):
        raise ConnectionError("broker down")

    monkeypatch.setitem(outbox_services.PUBLISHERS, TOPIC_EXPORT, broker_down)
    response = start_export(client_for(resident), django_capture_on_commit_callbacks)

    assert response.status_code == 202
    job = ExportJob.objects.get()
    assert job.state == "queued"
    monkeypatch.undo()  # the broker is back
    assert outbox_services.outbox_relay(min_age_seconds=0) == 1
    job.refresh_from_db()
    assert job.state == "ready"
