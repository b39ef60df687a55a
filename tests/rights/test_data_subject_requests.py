"""Data-subject requests made at the counter: recorded by a clerk, due in a month, handled by
data officers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dateutil.relativedelta import relativedelta
from django.utils import timezone

from consent.rights.models import DataSubjectRequest

pytestmark = pytest.mark.usefixtures("register")

URL = "/api/v1/officer/data-subject-requests"


def test_a_clerk_records_a_counter_request_due_in_one_month(client_for, clerk_lighting, resident):
    response = client_for(clerk_lighting).post(
        URL, {"kind": "erasure", "subject_email": resident.email}, format="json"
    )

    assert response.status_code == 201, response.json()
    dsr = DataSubjectRequest.objects.get()
    assert (dsr.channel, dsr.recorded_by, dsr.subject) == ("counter", clerk_lighting, resident)
    assert dsr.deadline == dsr.received_at + relativedelta(months=1)
    assert resident.email not in response.content.decode()


def test_an_unknown_email_is_a_field_error(client_for, data_officer):
    response = client_for(data_officer).post(
        URL, {"kind": "export", "subject_email": "nobody@example.org"}, format="json"
    )

    assert response.status_code == 400
    assert "subject_email" in response.json()["errors"]
    assert not DataSubjectRequest.objects.exists()


def test_residents_cannot_record_or_list_them(client_for, resident):
    client = client_for(resident)

    assert client.post(URL, {"kind": "export"}, format="json").status_code == 403
    assert client.get(URL).status_code == 403


def test_the_officer_lists_overdue_requests(client_for, data_officer, clerk_lighting, resident):
    client_for(clerk_lighting).post(URL, {"kind": "access", "subject_email": resident.email},
                                    format="json")
    DataSubjectRequest.objects.update(deadline=timezone.now() - timedelta(days=1))

    rows = client_for(data_officer).get(URL + "?overdue=true").json()

    assert [r["overdue"] for r in rows] == [True]


def test_a_refusal_must_give_its_ground(client_for, data_officer, clerk_lighting, resident):
    reference = client_for(clerk_lighting).post(
        URL, {"kind": "erasure", "subject_email": resident.email}, format="json"
    ).json()["reference"]
    officer = client_for(data_officer)

    bare = officer.patch(f"{URL}/{reference}", {"status": "refused"}, format="json")
    reasoned = officer.patch(
        f"{URL}/{reference}",
        {"status": "refused", "outcome": "Kept under the archives act: Art. 17(3)(b)."},
        format="json",
    )

    assert bare.status_code == 400
    assert "outcome" in bare.json()["errors"]
    assert reasoned.status_code == 200
    assert reasoned.json()["status"] == "refused"
    assert reasoned.json()["completed_at"]


def test_an_extension_is_allowed_once_and_moves_the_deadline_by_two_months(
    client_for, data_officer, clerk_lighting, resident
):
    reference = client_for(clerk_lighting).post(
        URL, {"kind": "export", "subject_email": resident.email}, format="json"
    ).json()["reference"]
    officer = client_for(data_officer)
    body = {"status": "extended", "outcome": "Many requests; we need more time."}

    first = officer.patch(f"{URL}/{reference}", body, format="json")
    again = officer.patch(f"{URL}/{reference}", body, format="json")

    dsr = DataSubjectRequest.objects.get()
    assert first.status_code == 200
    assert dsr.deadline == dsr.received_at + relativedelta(months=3)
    assert again.status_code == 409


def test_unknown_reference_is_404(client_for, data_officer):
    assert client_for(data_officer).get(f"{URL}/DSR-NOPE").status_code == 404


def test_the_officer_starts_the_export_of_a_counter_request_and_it_completes_with_the_job(
    client_for, data_officer, clerk_lighting, resident, django_capture_on_commit_callbacks
):
    reference = client_for(clerk_lighting).post(
        URL, {"kind": "export", "subject_email": resident.email}, format="json"
    ).json()["reference"]

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(data_officer).patch(f"{URL}/{reference}",
                                                  {"action": "start_export"}, format="json")

    assert response.status_code == 200, response.json()
    dsr = DataSubjectRequest.objects.get(reference=reference)
    assert dsr.status == "completed"
    assert dsr.export_job.user == resident
    assert dsr.export_job.state == "ready"
    assert DataSubjectRequest.objects.count() == 1  # no second record for the same export


def test_the_officer_carries_out_a_counter_erasure_and_the_request_gets_the_receipt(
    client_for, data_officer, clerk_lighting, resident
):
    reference = client_for(clerk_lighting).post(
        URL, {"kind": "erasure", "subject_email": resident.email}, format="json"
    ).json()["reference"]

    response = client_for(data_officer).patch(f"{URL}/{reference}", {"action": "erase"},
                                              format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "completed"
    assert body["erasure_receipt"]
    assert body["subject_erased"] is True
    assert not type(resident).objects.filter(pk=resident.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_counter_export_completes_even_when_the_job_runs_the_moment_it_is_sent(
    client_for, data_officer, clerk_lighting, resident
):
    reference = client_for(clerk_lighting).post(
        URL, {"kind": "export", "subject_email": resident.email}, format="json"
    ).json()["reference"]

    # Real commits: the eager task runs the moment the job is committed.
    response = client_for(data_officer).patch(f"{URL}/{reference}",
                                              {"action": "start_export"}, format="json")

    assert response.status_code == 200
    assert DataSubjectRequest.objects.get(reference=reference).status == "completed"


def test_an_action_that_does_not_fit_the_kind_is_refused(
    client_for, data_officer, clerk_lighting, resident
):
    reference = client_for(clerk_lighting).post(
        URL, {"kind": "export", "subject_email": resident.email}, format="json"
    ).json()["reference"]

    response = client_for(data_officer).patch(f"{URL}/{reference}", {"action": "erase"},
                                              format="json")

    assert response.status_code == 400
    assert type(resident).objects.filter(pk=resident.pk).exists()
