"""The whole chain as `make run` sets it up: a witness in its own process (manage.py
run_witness), the embedded publisher, the log page, and a downloaded receipt checked offline by
the shipped verifier with the witness's key (standard library only)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command

from consent import ledger, policy

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def witness_process(tmp_path, settings):
    state = tmp_path / "witness"
    env = {**os.environ, "CIVICDESK_TESTING": "1"}
    manage = [sys.executable, str(ROOT / "manage.py"), "run_witness", "--state", str(state)]
    vkey = subprocess.run([*manage, "--print-key"], env=env, capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()
    port = free_port()
    proc = subprocess.Popen([*manage, "--listen", f"127.0.0.1:{port}"], env=env,  # noqa: S603
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/", timeout=1) as r:  # noqa: S310 - loopback
                assert r.read().decode().strip() == vkey
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.2)
    settings.CIVICDESK = {**settings.CIVICDESK, "WITNESS_URLS": [url], "WITNESS_KEYS": [vkey]}
    yield vkey
    proc.terminate()
    proc.wait(timeout=10)


def test_a_downloaded_receipt_verifies_offline_with_the_witness_key(
        tmp_path, client_for, resident, register, witness_process) -> None:
    client = client_for(resident)
    answer = client.post(f"/api/v1/me/consents/{policy.PURPOSE_SMS}",
                         {"decision": "give", "notice_version": 1}, format="json").json()
    call_command("run_log_publisher", "--once")  # the embedded mode's publisher, one round

    page = client.get("/log/").content.decode()
    assert 'data-cosignatures="1"' in page
    assert "witness.local.example" in page

    download = client.get(f"/api/v1/me/consents/receipts/{answer['receipt_id']}",
                          {"download": "true"})
    assert download["Content-Disposition"].startswith("attachment")
    (tmp_path / "receipt.json").write_bytes(download.content)
    verifier = client.get("/log/civicdesk_verify.py")
    (tmp_path / "civicdesk_verify.py").write_bytes(b"".join(verifier.streaming_content))

    result = subprocess.run(  # noqa: S603 - the shipped verifier, stdlib only (-I -S)
        [sys.executable, "-I", "-S", "civicdesk_verify.py", "receipt", "receipt.json",
         "--key", str(ledger.log_key().verifier), "--witness-key", witness_process,
         "--quorum", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cosigned by the witness(es) witness.local.example" in result.stdout
    assert "OK: entry 0 is included in the signed log." in result.stdout


def test_the_verifier_refuses_the_receipt_if_the_quorum_is_not_met(
        tmp_path, client_for, resident, register, witness_process) -> None:
    client = client_for(resident)
    answer = client.post(f"/api/v1/me/consents/{policy.PURPOSE_SMS}",
                         {"decision": "give", "notice_version": 1}, format="json").json()
    ledger.publish_tree_head()  # signed, but never shown to the witness
    receipt = client.get(f"/api/v1/me/consents/receipts/{answer['receipt_id']}").json()
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-I", "-S", str(ROOT / "tools" / "civicdesk_verify.py"), "receipt",
         "receipt.json", "--key", str(ledger.log_key().verifier),
         "--witness-key", witness_process, "--quorum", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "cosigned by 0 of the required witnesses, 1 needed" in result.stdout
