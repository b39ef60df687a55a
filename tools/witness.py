#!/usr/bin/env python3
"""A transparency-log witness (C2SP tlog-witness, cosignature/v1): it cosigns a log's
checkpoints only if each one is consistent with the last it cosigned, and keeps that state in
its own files. Standard library + `cryptography`; copy this file and civicdesk_verify.py to the
witness's host:

    python3 witness.py keygen --name witness.ombudsman.example --out witness.key
    python3 witness.py serve --key witness.key --state ./witness-state \\
        --log 'civicdesk.example.city/log+1a2b3c4d+AXg…' --listen 0.0.0.0:7380

Wire protocol (C2SP tlog-witness): `POST /add-checkpoint` with a text body

    old <size the log believes this witness last cosigned>
    <base64 consistency-proof hash>          (one per line, none if old is 0)
    <empty line>
    <the checkpoint, a signed note>

answers 200 with the witness's cosignature line(s); 400 malformed; 403 no valid signature of a
known log key; 404 unknown log origin; 409 with `Content-Type: text/x.tlog.size` and the size
it last cosigned when `old` is not that size, or plain 409 for a fork (same size, other root);
422 when the consistency proof does not verify. Extension (CivicDesk): `GET /latest?origin=…`
returns the last checkpoint it cosigned, with its cosignature, so auditors can compare.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import struct
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

try:  # run as a script next to civicdesk_verify.py, or imported as tools.witness
    import civicdesk_verify as cv  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on how it is started
    from tools import civicdesk_verify as cv

MAX_BODY = 64 * 1024
MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"


class WitnessRefusal(Exception):
    def __init__(self, status: int, detail: str, *, size: int | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.size = status, detail, size


@dataclass(frozen=True)
class WitnessKey:
    name: str
    private: Ed25519PrivateKey

    @property
    def verifier(self) -> cv.VerifierKey:
        pub = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cv.VerifierKey(self.name, cv.key_id(self.name, cv.ALG_ED25519, pub), pub)

    def cosign(self, body: str, timestamp: int) -> str:
        sig = self.private.sign(cv.cosignature_message(body, timestamp))
        raw = self.verifier.cosignature_id + struct.pack(">Q", timestamp) + sig
        return f"\u2014 {self.name} {base64.b64encode(raw).decode()}\n"


def key_from_seed(name: str, seed: bytes) -> WitnessKey:
    return WitnessKey(name=name, private=Ed25519PrivateKey.from_private_bytes(seed))


def format_private_key(key: WitnessKey) -> str:
    """The signed-note signer key format: PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>."""
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    seed = key.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    kid = key.verifier.key_id.hex()
    encoded = base64.b64encode(bytes([cv.ALG_ED25519]) + seed).decode()
    return f"PRIVATE+KEY+{key.name}+{kid}+{encoded}"


def parse_private_key(text: str) -> WitnessKey:
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise ValueError("not a PRIVATE+KEY+name+id+key signer key")
    raw = base64.b64decode(parts[4], validate=True)
    if len(raw) != 33 or raw[0] != cv.ALG_ED25519:
        raise ValueError("not an Ed25519 signer key")
    key = key_from_seed(parts[2], raw[1:])
    if key.verifier.key_id.hex() != parts[3]:
        raise ValueError("signer key id does not match")
    return key


class WitnessState:
    """The witness's own storage: per log origin the last cosigned size, root and note
    (`state.json`, replaced atomically) and an append-only history (`cosigned.jsonl`).
    A lock file keeps two witness processes off the same state."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.dir / "lock", "a+")  # noqa: SIM115 - held for the lifetime
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise SystemExit(f"another witness process uses {self.dir}") from exc
        self._mutex = threading.Lock()
        path = self.dir / "state.json"
        self._state: dict[str, dict[str, Any]] = (
            json.loads(path.read_text()) if path.exists() else {})

    def close(self) -> None:
        self._lock_file.close()

    @contextlib.contextmanager
    def locked(self) -> Any:
        with self._mutex:
            yield self._state

    def latest(self, origin: str) -> dict[str, Any] | None:
        with self._mutex:
            item = self._state.get(origin)
            return dict(item) if item else None

    def save(self, origin: str, item: dict[str, Any]) -> None:
        """Call with the lock held (inside `locked()`)."""
        self._state[origin] = item
        tmp = self.dir / "state.json.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self._state, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.dir / "state.json")
        with open(self.dir / "cosigned.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"origin": origin, **item}, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def record_fork(self, origin: str, note: str) -> None:
        with open(self.dir / "forks.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"origin": origin, "at": int(time.time()), "note": note}) + "\n")


class Witness:
    def __init__(self, key: WitnessKey, logs: list[cv.VerifierKey], state: WitnessState) -> None:
        self.key, self.state = key, state
        self.logs = {k.name: k for k in logs}

    def add_checkpoint(self, request: str) -> str:
        """C2SP tlog-witness add-checkpoint: returns the cosignature line or raises."""
        head, sep, note = request.partition("\n\n")
        lines = head.split("\n")
        if not sep or not lines[0].startswith("old "):
            raise WitnessRefusal(400, "the body must start with 'old <size>', proof lines, "
                                 "an empty line and the checkpoint")
        try:
            old = int(lines[0][4:])
            proof = [base64.b64decode(x, validate=True) for x in lines[1:]]
        except ValueError as exc:
            raise WitnessRefusal(400, "malformed old size or proof line") from exc
        if old < 0 or len(proof) > MAX_PROOF_LINES or any(len(p) != 32 for p in proof):
            raise WitnessRefusal(400, "malformed old size or proof")
        try:
            body, _ = cv.split_note(note)
            origin, size, root = cv.parse_checkpoint_body(body)
        except cv.VerificationError as exc:
            raise WitnessRefusal(400, f"malformed checkpoint: {exc}") from exc
        log_key = self.logs.get(origin)
        if log_key is None:
            raise WitnessRefusal(404, f"unknown log origin {origin!r}")
        try:
            cv.verify_checkpoint(note, log_key)
        except cv.VerificationError as exc:
            raise WitnessRefusal(403, f"checkpoint not signed by the known log key: {exc}") \
                from exc
        if old > size:
            raise WitnessRefusal(400, "old size is larger than the checkpoint's size")
        with self.state.locked() as state:
            latest = state.get(origin)
            latest_size = latest["size"] if latest else 0
            if old != latest_size:
                raise WitnessRefusal(409, f"last cosigned size is {latest_size}",
                                     size=latest_size)
            if latest is not None:
                latest_root = base64.b64decode(latest["root"])
                if old == size and latest_root != root:
                    self.state.record_fork(origin, note)
                    raise WitnessRefusal(409, "fork: a checkpoint of this size with another "
                                         "root hash was already cosigned")
                try:
                    cv.verify_consistency(first=old, second=size, first_root=latest_root,
                                          second_root=root, proof=proof)
                except cv.VerificationError as exc:
                    self.state.record_fork(origin, note)
                    raise WitnessRefusal(422, f"consistency proof: {exc}") from exc
            elif proof:
                raise WitnessRefusal(422, "a proof from size 0 must be empty")
            line = self.key.cosign(body, int(time.time()))
            log_lines = note[len(body) + 1:]
            self.state.save(origin, {"size": size, "root": base64.b64encode(root).decode(),
                                     "note": body + "\n" + log_lines.rstrip("\n") + "\n" + line})
        return line


def make_handler(witness: Witness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "civicdesk-witness/1"

        def _send(self, status: int, text: str, ctype: str = "text/plain; charset=utf-8") -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            if urlsplit(self.path).path != "/add-checkpoint":
                self._send(404, "not found\n")
                return
            try:
                length = int(self.headers.get("Content-Length", "-1"))
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self._send(400, "a Content-Length of at most 64 KiB is required\n")
                return
            try:
                text = self.rfile.read(length).decode("utf-8")
                self._send(200, witness.add_checkpoint(text))
            except UnicodeDecodeError:
                self._send(400, "the body must be UTF-8\n")
            except WitnessRefusal as exc:
                if exc.size is not None:
                    self._send(exc.status, f"{exc.size}\n", SIZE_CONTENT_TYPE)
                else:
                    self._send(exc.status, exc.detail + "\n")

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            if url.path == "/":
                self._send(200, f"{witness.key.verifier}\n")
                return
            if url.path != "/latest":
                self._send(404, "not found\n")
                return
            origin = (parse_qs(url.query).get("origin") or [""])[0]
            latest = witness.state.latest(origin)
            if latest is None:
                self._send(404, "this witness has cosigned nothing for that origin\n")
                return
            self._send(200, latest["note"])

        def log_message(self, fmt: str, *args: Any) -> None:
            sys.stderr.write("witness: " + (fmt % args) + "\n")

    return Handler


def serve(*, key: WitnessKey, logs: list[cv.VerifierKey], state_dir: Path, host: str,
          port: int, ready: threading.Event | None = None) -> ThreadingHTTPServer:
    """Start serving in the calling thread (blocks) unless `ready` is given, in which case a
    server object is returned for the caller to run (`serve_forever`) and stop."""
    witness = Witness(key, logs, WitnessState(state_dir))
    server = ThreadingHTTPServer((host, port), make_handler(witness))
    server.witness = witness  # type: ignore[attr-defined]
    if ready is not None:
        ready.set()
        return server
    sys.stderr.write(f"witness {key.verifier} listening on http://{host}:{server.server_port}\n")
    try:
        server.serve_forever()
    finally:
        witness.state.close()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("keygen", help="create a witness key; prints its verifier key")
    p.add_argument("--name", required=True, help="e.g. witness.ombudsman.example")
    p.add_argument("--out", required=True, help="file for the private key (created 0600)")
    p = sub.add_parser("serve", help="run the witness")
    p.add_argument("--key", required=True, help="the private key file from keygen")
    p.add_argument("--state", required=True, help="directory for the witness's own state")
    p.add_argument("--log", action="append", required=True,
                   help="verifier key of a log to witness (repeat for several)")
    p.add_argument("--listen", default="127.0.0.1:7380", help="host:port")
    args = parser.parse_args(argv)
    if args.command == "keygen":
        key = key_from_seed(args.name, os.urandom(32))
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(format_private_key(key) + "\n")
        sys.stdout.write(f"{key.verifier}\n")
        return 0
    key = parse_private_key(Path(args.key).read_text())
    host, _, port = args.listen.rpartition(":")
    serve(key=key, logs=[cv.VerifierKey.parse(k) for k in args.log],
          state_dir=Path(args.state), host=host or "127.0.0.1", port=int(port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
