"""Witnesses (C2SP tlog-witness): a separate key and state that cosigns only consistent heads."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from consent import ledger, witnessing
from consent import verify as v
from consent.models import TreeHeadCosignature
from consent.tasks import publish_cycle

from .conftest import start_witness, stop_witness


def append(n: int) -> None:
    for i in range(n):
        with transaction.atomic():
            ledger.ledger_append(kind="test", body={"n": i})


def post(url: str, body: str) -> tuple[int, str, str]:
    request = urllib.request.Request(  # noqa: S310 - loopback
        url + "/add-checkpoint", data=body.encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310 - loopback
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


@pytest.mark.django_db
def test_the_publisher_gets_each_new_head_cosigned_by_the_witness(witness) -> None:
    append(3)
    outcome = publish_cycle()
    assert outcome["witnesses"] == {"witness.test.example": "cosigned"}
    head = ledger.latest_head()
    cp = v.verify_checkpoint(witnessing.checkpoint_note(head), ledger.log_key().verifier,
                             witnesses=[witness.key.verifier], quorum=1)
    assert set(cp.cosigned_by) == {"witness.test.example"}
    state = json.loads((witness.state_dir / "state.json").read_text())
    assert state[ledger.log_key().origin]["size"] == 3


@pytest.mark.django_db
def test_a_later_head_is_cosigned_after_the_witness_checks_a_consistency_proof(witness) -> None:
    append(3)
    publish_cycle()
    append(5)
    assert publish_cycle()["witnesses"] == {"witness.test.example": "cosigned"}
    assert sorted(TreeHeadCosignature.objects.values_list("tree_size", flat=True)) == [3, 8]


@pytest.mark.django_db
def test_the_head_api_shows_the_witness_cosignatures(api, witness) -> None:
    append(2)
    publish_cycle()
    body = api.get("/api/v1/log/tree-head").json()
    assert body["cosignatures"][0]["witness"] == "witness.test.example"
    assert body["witness_keys"] == [witness.vkey]
    assert body["witness_quorum"] == 1
    v.verify_checkpoint(body["checkpoint"], ledger.log_key().verifier,
                        witnesses=[witness.key.verifier], quorum=1)


@pytest.mark.django_db
def test_the_witness_refuses_a_wrong_consistency_proof_with_422(witness) -> None:
    append(3)
    publish_cycle()
    append(5)
    head = ledger.publish_tree_head()
    bogus = [bytes(32)] * len(ledger.consistency_proof(first=3, second=8))
    status, _, text = post(witness.url, witnessing.add_checkpoint_body(
        old=3, proof=bogus, checkpoint=head.checkpoint))
    assert status == 422, text


@pytest.mark.django_db
def test_the_witness_refuses_a_fork_of_the_same_size_with_409(witness) -> None:
    append(4)
    publish_cycle()
    forked = ledger._sign_checkpoint(ledger.log_key(), 4, bytes(32), 0)
    status, ctype, text = post(witness.url, witnessing.add_checkpoint_body(
        old=4, proof=[], checkpoint=forked))
    assert status == 409
    assert not ctype.startswith("text/x.tlog.size")
    assert "fork" in text
    assert (witness.state_dir / "forks.jsonl").exists()


@pytest.mark.django_db
def test_the_witness_answers_409_with_its_size_when_old_is_not_what_it_cosigned(witness) -> None:
    append(4)
    publish_cycle()
    append(1)
    head = ledger.publish_tree_head()
    status, ctype, text = post(witness.url, witnessing.add_checkpoint_body(
        old=0, proof=[], checkpoint=head.checkpoint))
    assert (status, ctype, text) == (409, "text/x.tlog.size", "4\n")


@pytest.mark.django_db
def test_the_witness_refuses_a_head_not_signed_by_the_log_key(witness) -> None:
    other = ledger._load_key("", ledger.log_key().origin, True)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    fake = ledger.LogKey(private=Ed25519PrivateKey.generate(), verifier=other.verifier)
    status, _, _ = post(witness.url, witnessing.add_checkpoint_body(
        old=0, proof=[], checkpoint=ledger._sign_checkpoint(fake, 1, bytes(32), 0)))
    assert status == 403


@pytest.mark.django_db
def test_the_witness_answers_404_for_an_unknown_log(witness) -> None:
    stranger = ledger._load_key("", "stranger.example/log", True)
    status, _, _ = post(witness.url, witnessing.add_checkpoint_body(
        old=0, proof=[], checkpoint=ledger._sign_checkpoint(stranger, 1, bytes(32), 0)))
    assert status == 404


@pytest.mark.django_db
def test_the_witness_keeps_its_state_across_a_restart(tmp_path, witness) -> None:
    append(4)
    publish_cycle()
    stop_witness(witness)
    again = start_witness(witness.state_dir, seed=witness.key.private.private_bytes_raw())
    try:
        forked = ledger._sign_checkpoint(ledger.log_key(), 4, bytes(32), 0)
        status, _, _ = post(again.url, witnessing.add_checkpoint_body(
            old=4, proof=[], checkpoint=forked))
        assert status == 409
    finally:
        stop_witness(again)
        witness.server.witness.state._lock_file = open(  # noqa: SIM115 - closed by teardown
            witness.state_dir / "lock", "a+")


@pytest.mark.django_db
def test_a_witness_key_whose_id_does_not_match_is_a_configuration_error(settings) -> None:
    settings.CIVICDESK = {**settings.CIVICDESK, "WITNESS_URLS": ["http://127.0.0.1:9"],
                          "WITNESS_KEYS": ["w.example+00000000+" + base64.b64encode(
                              b"\x01" + bytes(32)).decode()]}
    with pytest.raises(ImproperlyConfigured, match="key id"):
        witnessing.configured_witnesses()


@pytest.mark.django_db
def test_an_unreachable_witness_is_logged_and_publishing_goes_on(settings, caplog) -> None:
    from tools import witness as tool

    key = tool.key_from_seed("w.example", bytes(32)).verifier
    settings.CIVICDESK = {**settings.CIVICDESK, "WITNESS_URLS": ["http://127.0.0.1:9"],
                          "WITNESS_KEYS": [str(key)]}
    append(2)
    outcome = publish_cycle()
    assert outcome["tree_size"] == 2
    assert outcome["witnesses"]["w.example"].startswith("unreachable")
    assert any(getattr(r, "event", "") == "tlog.witness.unreachable" for r in caplog.records)


@pytest.mark.django_db
def test_the_receipt_page_tells_the_resident_in_plain_words_what_was_verified(
        witness, resident, register) -> None:
    from django.test import Client

    from consent import policy, services

    change = services.consent_decide(subject=resident, purpose_code=policy.PURPOSE_SMS,
                                     decision="give", notice_version=1)
    publish_cycle()
    client = Client()
    client.force_login(resident)
    page = client.get(f"/my/data/receipts/{change.event.event_id}").content.decode()
    assert "sealed into entry 0 of the public log" in page
    assert "also signed by 1 independent witness(es) (witness.test.example)" in page
    assert "--witness-key" in page


@pytest.mark.django_db
def test_another_resident_s_receipt_page_is_404(resident, other_resident, register) -> None:
    from django.test import Client

    from consent import policy, services

    change = services.consent_decide(subject=resident, purpose_code=policy.PURPOSE_SMS,
                                     decision="give", notice_version=1)
    client = Client()
    client.force_login(other_resident)
    assert client.get(f"/my/data/receipts/{change.event.event_id}").status_code == 404
