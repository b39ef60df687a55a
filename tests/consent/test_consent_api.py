"""Residents' consent API, the public register and log endpoints, counter and data officers."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.db import transaction

from consent import ledger, policy, services
from consent.models import ConsentEvent, ConsentRecord, LogEntry, Notice, Purpose
from consent.verify import verify_receipt

SMS = policy.PURPOSE_SMS


def decide(client, purpose=SMS, decision="give", version=1, **extra):
    return client.post(f"/api/v1/me/consents/{purpose}",
                       {"decision": decision, "notice_version": version, **extra}, format="json")


# --- Public register -----------------------------------------------------------------------------


def test_anyone_can_read_the_register_with_each_purpose_s_current_notice(api, register) -> None:
    response = api.get("/api/v1/register/purposes")
    assert response.status_code == 200
    by_code = {p["code"]: p for p in response.json()}
    assert set(by_code) >= {policy.PURPOSE_SERVICE_DELIVERY, SMS, policy.PURPOSE_SURVEY,
                            policy.PURPOSE_CONTRACTOR, policy.PURPOSE_ROUTING_TRAINING,
                            policy.PURPOSE_OPEN_STATISTICS, policy.PURPOSE_STATUS_EMAILS}
    sms = by_code[SMS]
    assert sms["legal_basis"]["dpv"] == "https://w3id.org/dpv#Consent"
    assert sms["requires_consent"] is True
    assert sms["current_notice"]["version"] == 1
    assert {"name": "Example SMS Gateway Co.", "role": "processor", "country": "CN"}.items() <= (
        sms["recipients"][0].items()
    )
    assert by_code[policy.PURPOSE_SERVICE_DELIVERY]["legal_basis"]["code"] == "public_task"


def test_the_register_follows_accept_language(api, register) -> None:
    response = api.get("/api/v1/register/purposes", HTTP_ACCEPT_LANGUAGE="zh-hans")
    sms = next(p for p in response.json() if p["code"] == SMS)
    assert sms["title"] == "关于请求的短信通知"
    assert sms["current_notice"]["language"] == "zh-hans"


def test_notice_hash_is_the_sha256_of_the_exact_text(register) -> None:
    import hashlib

    for notice in Notice.objects.all():
        assert notice.text_sha256 == hashlib.sha256(notice.text.encode()).hexdigest()


# --- My consents ---------------------------------------------------------------------------------


def test_my_consents_need_login(api, register) -> None:
    assert api.get("/api/v1/me/consents").status_code in (401, 403)


def test_my_consents_list_every_purpose_with_my_state(client_for, resident, register) -> None:
    client = client_for(resident)
    decide(client)
    states = {p["code"]: p["state"] for p in client.get("/api/v1/me/consents").json()}
    assert states[SMS] == "given"
    assert states[policy.PURPOSE_SURVEY] == "not_asked"
    assert states[policy.PURPOSE_SERVICE_DELIVERY] == "not_consent_based"


def test_giving_consent_records_event_record_log_entry_and_returns_a_receipt(
    client_for, resident, register
) -> None:
    response = decide(client_for(resident))
    assert response.status_code == 201
    body = response.json()
    assert body["changed"] is True
    assert body["state"] == "given"
    event = ConsentEvent.objects.get()
    assert event.notice_sha256 == Notice.objects.get(purpose__code=SMS, language="en").text_sha256
    assert event.method == "web"
    assert event.actor_role == "subject"
    assert ConsentRecord.objects.get(subject=resident).state == "given"
    entry = json.loads(LogEntry.objects.get().entry)
    assert entry["body"]["purpose"] == SMS
    assert entry["body"]["event"] == "given"
    assert body["receipt"]["log"]["status"] == "promised"
    assert verify_receipt(body["receipt"]).status == "promised"


def test_the_log_entry_holds_no_personal_data_in_clear(client_for, resident, register) -> None:
    client = client_for(resident)
    decide(client)
    decide(client, purpose=policy.PURPOSE_SURVEY)
    first, second = (e.entry for e in LogEntry.objects.order_by("index"))
    for secret in (resident.email, resident.display_name, resident.phone):
        assert secret not in first
    subjects = {json.loads(e)["body"]["subject"] for e in (first, second)}
    # keyed per entry: two entries of one resident cannot be linked without the key
    assert len(subjects) == 2
    assert ConsentEvent.objects.first().subject_pseudonym not in first + second


def test_a_repeated_identical_decision_is_idempotent(client_for, resident, register) -> None:
    client = client_for(resident)
    decide(client)
    again = decide(client)
    assert again.status_code == 200
    assert again.json()["changed"] is False
    assert ConsentEvent.objects.count() == 1
    assert LogEntry.objects.count() == 1


def test_a_stale_notice_version_gets_409_with_the_current_notice(
    client_for, resident, register
) -> None:
    services.notice_publish(purpose=Purpose.objects.get(code=SMS),
                            texts={"en": ("SMS v2", "New text.")})
    response = decide(client_for(resident), version=1)
    assert response.status_code == 409
    assert response.json()["current_notice"]["version"] == 2
    assert response.json()["current_notice"]["text"] == "New text."
    assert ConsentEvent.objects.count() == 0


def test_consent_to_a_purpose_not_based_on_consent_is_400_with_its_basis(
    client_for, resident, register
) -> None:
    response = decide(client_for(resident), purpose=policy.PURPOSE_SERVICE_DELIVERY)
    assert response.status_code == 400
    body = response.json()
    assert body["legal_basis"]["code"] == "public_task"
    assert "Recital 43" in body["detail"]
    assert ConsentEvent.objects.count() == 0


def test_an_unknown_purpose_is_404(client_for, resident, register) -> None:
    assert decide(client_for(resident), purpose="selling-data").status_code == 404


@pytest.mark.parametrize("payload", [
    {"decision": "maybe", "notice_version": 1},
    {"decision": "give"},
    {"decision": "give", "notice_version": 0},
    {"decision": "give", "notice_version": "one"},
])
def test_bad_input_gets_field_errors_and_changes_nothing(
    client_for, resident, register, payload
) -> None:
    response = client_for(resident).post(f"/api/v1/me/consents/{SMS}", payload, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]
    assert ConsentEvent.objects.count() == 0


def test_withdrawal_says_what_stops_and_what_continues_under_which_basis(
    client_for, resident, register
) -> None:
    client = client_for(resident)
    decide(client)
    decide(client, purpose=policy.PURPOSE_SURVEY)
    response = decide(client, decision="withdraw")
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "withdrawn"
    assert body["stops"]["purpose"] == SMS
    continuing = {c["purpose"]: c["legal_basis"]["code"] for c in body["continues"]}
    assert continuing[policy.PURPOSE_SERVICE_DELIVERY] == "public_task"
    assert continuing[policy.PURPOSE_SURVEY] == "consent"
    assert policy.PURPOSE_CONTRACTOR not in continuing


def test_withdrawing_what_was_never_given_adds_nothing(client_for, resident, register) -> None:
    response = decide(client_for(resident), decision="withdraw")
    assert response.status_code == 200
    assert response.json()["changed"] is False
    assert LogEntry.objects.count() == 0


def test_receipt_gains_an_inclusion_proof_after_the_next_tree_head(
    client_for, resident, register
) -> None:
    client = client_for(resident)
    receipt_id = decide(client).json()["receipt_id"]
    ledger.publish_tree_head()
    response = client.get(f"/api/v1/me/consents/receipts/{receipt_id}?download=1")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    receipt = response.json()
    assert receipt["log"]["status"] == "included"
    assert verify_receipt(receipt, key=ledger.log_key().verifier).status == "included"


def test_another_resident_s_receipt_is_404(client_for, resident, other_resident, register) -> None:
    receipt_id = decide(client_for(resident)).json()["receipt_id"]
    response = client_for(other_resident).get(f"/api/v1/me/consents/receipts/{receipt_id}")
    assert response.status_code == 404
    assert client_for(other_resident).get(
        "/api/v1/me/consents/receipts/not-a-uuid").status_code == 404


def test_my_history_lists_only_my_events(client_for, resident, other_resident, register) -> None:
    decide(client_for(resident))
    decide(client_for(other_resident), purpose=policy.PURPOSE_SURVEY)
    rows = client_for(resident).get("/api/v1/me/consents/history").json()
    assert [r["purpose"] for r in rows] == [SMS]


def test_older_notice_consent_is_reported_as_given_for_an_older_notice(
    client_for, resident, register
) -> None:
    client = client_for(resident)
    decide(client)
    services.notice_publish(purpose=Purpose.objects.get(code=SMS),
                            texts={"en": ("SMS v2", "Material change.")})
    states = {p["code"]: p for p in client.get("/api/v1/me/consents").json()}
    assert states[SMS]["state"] == "given_for_older_notice"
    assert states[SMS]["notice_seen"]["version"] == 1


# --- Counter -------------------------------------------------------------------------------------


def test_a_clerk_records_a_counter_consent_on_the_resident_s_behalf(
    client_for, clerk_roads, resident, register
) -> None:
    response = client_for(clerk_roads).post("/api/v1/counter/consents", {
        "resident_email": resident.email, "purpose": SMS, "decision": "give",
        "notice_version": 1,
    }, format="json")
    assert response.status_code == 201
    event = ConsentEvent.objects.get()
    assert (event.method, event.actor_role, event.recorded_by) == ("counter", "clerk", clerk_roads)
    assert policy.permits(subject=resident, purpose=SMS)


def test_a_resident_cannot_use_the_counter_endpoint(client_for, resident, other_resident,
                                                    register) -> None:
    response = client_for(resident).post("/api/v1/counter/consents", {
        "resident_email": other_resident.email, "purpose": SMS, "decision": "give",
        "notice_version": 1,
    }, format="json")
    assert response.status_code == 403


# --- Public log endpoints ------------------------------------------------------------------------


def test_public_log_endpoints_serve_head_proofs_and_entries(api, client_for, resident,
                                                            register) -> None:
    client = client_for(resident)
    decide(client)
    ledger.publish_tree_head()
    decide(client, purpose=policy.PURPOSE_SURVEY)
    decide(client, purpose=policy.PURPOSE_CONTRACTOR, decision="refuse")
    ledger.publish_tree_head()
    head = api.get("/api/v1/log/tree-head").json()
    assert head["tree_size"] == 3
    assert head["checkpoint"].startswith(head["verifier_key"][:10])
    incl = api.get("/api/v1/log/proof/inclusion", {"index": 0, "tree_size": 3}).json()
    assert len(incl["inclusion_path"]) == 2
    cons = api.get("/api/v1/log/proof/consistency", {"first": 1, "second": 3}).json()
    assert len(cons["consistency_path"]) == 2
    entries = api.get("/api/v1/log/entries", {"start": 0, "end": 10}).json()
    assert [e["index"] for e in entries] == [0, 1, 2]
    assert len(api.get("/api/v1/log/tree-heads").json()) == 2


def test_unpublished_entries_are_not_served(api, client_for, resident, register) -> None:
    decide(client_for(resident))
    assert api.get("/api/v1/log/entries", {"start": 0, "end": 5}).json() == []


@pytest.mark.parametrize(("url", "params"), [
    ("/api/v1/log/proof/inclusion", {"index": 5, "tree_size": 2}),
    ("/api/v1/log/proof/inclusion", {"index": -1}),
    ("/api/v1/log/proof/inclusion", {"index": 0, "tree_size": 99}),
    ("/api/v1/log/proof/consistency", {"first": 3, "second": 2}),
    ("/api/v1/log/proof/consistency", {"first": 1, "second": 99}),
    ("/api/v1/log/entries", {"start": 5, "end": 2}),
])
def test_bad_proof_requests_are_400(api, db, url, params) -> None:
    with transaction.atomic():
        for i in range(2):
            ledger.ledger_append(kind="test", body={"i": i})
    ledger.publish_tree_head()
    assert api.get(url, params).status_code == 400


# --- Data officers -------------------------------------------------------------------------------

OFFICER_URLS = [
    "/api/v1/officer/consent/events",
    "/api/v1/officer/consent/export",
    "/api/v1/officer/consent/aggregates",
    "/api/v1/officer/log/integrity",
]


@pytest.mark.parametrize("url", OFFICER_URLS)
@pytest.mark.parametrize(("who", "expected"), [
    ("resident", 403), ("clerk_roads", 403), ("supervisor_roads", 403), ("data_officer", 200),
])
def test_only_data_officers_read_consent_events(request, client_for, register, url, who,
                                                expected) -> None:
    user = request.getfixturevalue(who)
    assert client_for(user).get(url).status_code == expected


def test_officers_see_pseudonyms_not_names_and_can_filter(
    client_for, data_officer, resident, other_resident, register
) -> None:
    decide(client_for(resident))
    decide(client_for(other_resident), purpose=policy.PURPOSE_SURVEY, decision="refuse")
    client = client_for(data_officer)
    page = client.get("/api/v1/officer/consent/events").json()
    assert page["count"] == 2
    raw = json.dumps(page)
    for person in (resident, other_resident):
        assert person.email not in raw
        assert person.display_name not in raw
    pseudonym = page["results"][0]["pseudonym"]
    assert pseudonym.startswith("ps-")
    only = client.get("/api/v1/officer/consent/events", {"pseudonym": pseudonym}).json()
    assert only["count"] == 1
    refused = client.get("/api/v1/officer/consent/events",
                         {"decision": "refused", "purpose": policy.PURPOSE_SURVEY,
                          "method": "web", "notice_version": 1}).json()
    assert refused["count"] == 1
    assert client.get("/api/v1/officer/consent/events",
                      {"decision": "nope"}).status_code == 400


def test_officer_export_streams_csv_and_json(client_for, data_officer, resident, register) -> None:
    decide(client_for(resident))
    client = client_for(data_officer)
    csv_response = client.get("/api/v1/officer/consent/export", {"output": "csv"})
    assert csv_response.streaming
    text = b"".join(csv_response.streaming_content).decode()
    assert text.splitlines()[0].startswith("event_id,pseudonym,purpose")
    assert len(text.splitlines()) == 2
    json_response = client.get("/api/v1/officer/consent/export", {"output": "json"})
    rows = json.loads(b"".join(json_response.streaming_content))
    assert rows[0]["purpose"] == SMS


def test_aggregates_give_the_consent_rate_per_notice_version(
    client_for, data_officer, resident, other_resident, register
) -> None:
    decide(client_for(resident))
    decide(client_for(other_resident), decision="refuse")
    body = client_for(data_officer).get("/api/v1/officer/consent/aggregates").json()
    (row,) = [r for r in body["by_day"] if r["purpose"] == SMS]
    assert (row["notice_version"], row["given"], row["refused"], row["consent_rate"]) == (
        1, 1, 1, 0.5)


def test_integrity_status_reports_the_last_verification(client_for, data_officer,
                                                        register) -> None:
    client = client_for(data_officer)
    assert client.get("/api/v1/officer/log/integrity").json()["last_verification"] is None
    call_command("verify_log")
    status = client.get("/api/v1/officer/log/integrity").json()
    assert status["last_verification"]["ok"] is True


def test_an_officer_can_start_a_verification(client_for, data_officer, register) -> None:
    assert client_for(data_officer).post("/api/v1/officer/log/integrity").status_code == 202
