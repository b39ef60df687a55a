"""Staff reveal personal data only on demand, for a register purpose, and every look is logged."""

from __future__ import annotations

import json

import pytest

from consent import pseudonyms
from consent.models import LogEntry
from consent.rights.models import AccessEvent
from consent.services import consent_decide

pytestmark = pytest.mark.usefixtures("register")


def reveal(client, reference, **body):
    return client.post(f"/api/v1/staff/requests/{reference}/reveal", body, format="json")


def test_reveal_returns_contact_details_and_records_an_access_event(
    client_for, clerk_lighting, li_request, resident
):
    response = reveal(client_for(clerk_lighting), li_request.reference,
                      fields=["phone", "email"], purpose="service-delivery")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["values"] == {"phone": resident.phone, "email": resident.email}
    event = AccessEvent.objects.get()
    assert (event.subject, event.actor, event.actor_role) == (resident, clerk_lighting, "clerk")
    assert event.revealed_fields == ["email", "phone"]
    assert body["log_index"] == event.log_entry_id


def test_reveal_is_in_the_transparency_log_under_a_pseudonym_only(
    client_for, clerk_lighting, li_request, resident
):
    reveal(client_for(clerk_lighting), li_request.reference, fields=["phone"],
           purpose="service-delivery")

    event = AccessEvent.objects.get()
    entry = LogEntry.objects.get(index=event.log_entry_id)
    body = json.loads(entry.entry)["body"]
    assert entry.kind == "access"
    assert body["department"] == "lighting"
    assert body["fields"] == ["phone"]
    assert pseudonyms.log_subject_matches(resident, nonce=str(event.event_id),
                                          value=body["subject"])
    for personal in (resident.email, resident.phone, resident.display_name,
                     li_request.reference):
        assert personal not in entry.entry
    assert body["actor_role"] == "clerk"
    assert not {"actor", "actor_id"} & set(body)


def test_resident_sees_the_reveal_in_plain_words(client_for, clerk_lighting, li_request, resident):
    reveal(client_for(clerk_lighting), li_request.reference, fields=["phone"],
           purpose="service-delivery")

    log = client_for(resident).get("/api/v1/me/access-log").json()

    assert len(log) == 1
    assert log[0]["text"].startswith("Street Lighting clerk viewed your phone number on ")
    assert log[0]["text"].endswith(f"to contact you about {li_request.reference}.")
    assert clerk_lighting.display_name not in json.dumps(log)


def test_access_log_speaks_chinese_when_asked(client_for, clerk_lighting, li_request, resident):
    reveal(client_for(clerk_lighting), li_request.reference, fields=["exact_location"],
           purpose="service-delivery")

    log = client_for(resident).get("/api/v1/me/access-log", HTTP_ACCEPT_LANGUAGE="zh-hans").json()

    assert "路灯办事员查看了您的精确位置" in log[0]["text"]
    assert li_request.reference in log[0]["text"]


def test_reveal_without_a_purpose_is_refused_and_records_nothing(
    client_for, clerk_lighting, li_request
):
    response = reveal(client_for(clerk_lighting), li_request.reference, fields=["phone"])

    assert response.status_code == 400
    assert "purpose" in response.json()["errors"]
    assert not AccessEvent.objects.exists()
    assert not LogEntry.objects.filter(kind="access").exists()


def test_reveal_for_a_purpose_that_does_not_declare_the_field_is_refused(
    client_for, clerk_lighting, li_request
):
    response = reveal(client_for(clerk_lighting), li_request.reference, fields=["phone"],
                      purpose="status-emails")

    assert response.status_code == 400
    assert "fields" in response.json()["errors"]
    assert not AccessEvent.objects.exists()


def test_clerk_of_another_department_gets_404_and_nothing_is_recorded(
    client_for, clerk_roads, li_request
):
    response = reveal(client_for(clerk_roads), li_request.reference, fields=["phone"],
                      purpose="service-delivery")

    assert response.status_code == 404
    assert not AccessEvent.objects.exists()


def test_the_reporter_cannot_use_the_staff_reveal(client_for, resident, li_request):
    response = reveal(client_for(resident), li_request.reference, fields=["phone"],
                      purpose="service-delivery")

    assert response.status_code == 404


def test_consent_based_purpose_needs_the_residents_consent(
    client_for, clerk_lighting, li_request, resident
):
    refused = reveal(client_for(clerk_lighting), li_request.reference, fields=["phone"],
                     purpose="contractor-sharing")
    consent_decide(subject=resident, purpose_code="contractor-sharing", decision="give",
                   notice_version=1)
    allowed = reveal(client_for(clerk_lighting), li_request.reference, fields=["phone"],
                     purpose="contractor-sharing", reason="coordinate_contractor")

    assert refused.status_code == 403
    assert allowed.status_code == 200
    assert AccessEvent.objects.count() == 1


def test_photos_list_is_revealed_with_links_to_the_checked_photo_view(
    client_for, clerk_lighting, li_request
):
    body = reveal(client_for(clerk_lighting), li_request.reference, fields=["photos"],
                  purpose="service-delivery").json()

    url = body["values"]["photos"][0]["url"]
    assert url.startswith(f"/api/v1/requests/{li_request.reference}/attachments/")
    assert li_request.attachments.get().token not in url  # a link for this viewer, not the token
    assert client_for(clerk_lighting).get(url).status_code == 200


# --- Data officer review -----------------------------------------------------------------------


def test_data_officer_sees_each_reveal_with_actor_id_and_pseudonym(
    client_for, clerk_lighting, li_request, data_officer, resident
):
    reveal(client_for(clerk_lighting), li_request.reference, fields=["phone"],
           purpose="service-delivery")

    body = client_for(data_officer).get("/api/v1/officer/access-events").json()

    row = body["results"][0]
    assert row["actor_id"] == clerk_lighting.pk
    assert row["department"] == "lighting"
    assert row["subject_pseudonym"] == pseudonyms.pseudonym_for(resident)
    assert resident.email not in json.dumps(body)


def test_unusually_many_reveals_by_one_actor_in_a_day_are_flagged(
    settings, client_for, clerk_lighting, li_request, data_officer
):
    settings.CIVICDESK = {**settings.CIVICDESK, "ACCESS_ANOMALY_DAILY_REVEALS": 2}
    clerk = client_for(clerk_lighting)
    for _ in range(3):
        reveal(clerk, li_request.reference, fields=["phone"], purpose="service-delivery")

    body = client_for(data_officer).get("/api/v1/officer/access-events").json()

    assert all(row["anomalous"] for row in body["results"])
    assert body["anomalies"][0]["actor_id"] == clerk_lighting.pk
    assert body["anomalies"][0]["access_events"] == 3


def test_a_normal_day_is_not_flagged(client_for, clerk_lighting, li_request, data_officer):
    reveal(client_for(clerk_lighting), li_request.reference, fields=["phone"],
           purpose="service-delivery")

    body = client_for(data_officer).get("/api/v1/officer/access-events").json()

    assert body["results"][0]["anomalous"] is False
    assert body["anomalies"] == []


def test_officer_filters_access_events_by_department(
    client_for, clerk_lighting, li_request, data_officer
):
    reveal(client_for(clerk_lighting), li_request.reference, fields=["phone"],
           purpose="service-delivery")
    officer = client_for(data_officer)

    assert len(officer.get("/api/v1/officer/access-events?department=lighting")
               .json()["results"]) == 1
    assert officer.get("/api/v1/officer/access-events?department=roads").json()["results"] == []


@pytest.mark.parametrize("who", ["resident", "clerk_lighting"])
def test_only_data_officers_read_the_access_review(request, client_for, who):
    user = request.getfixturevalue(who)

    assert client_for(user).get("/api/v1/officer/access-events").status_code == 403


def _queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", ["/api/v1/officer/access-events", "/api/v1/me/access-log"])
def test_access_lists_take_the_same_number_of_queries_for_1_and_6_events(
    url, client_for, clerk_lighting, li_request, data_officer, resident
):
    viewer = client_for(data_officer if "officer" in url else resident)
    reveal(client_for(clerk_lighting), li_request.reference, fields=["phone"],
           purpose="service-delivery")
    viewer.get(url)  # the viewer's roles are computed once per user object
    one = _queries(viewer, url)
    for _ in range(5):
        reveal(client_for(clerk_lighting), li_request.reference, fields=["email"],
               purpose="service-delivery")

    assert _queries(viewer, url) == one
