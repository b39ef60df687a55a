"""Standalone verifier for CivicDesk transparency-log receipts, proofs and checkpoints.

Needs only the standard library and `cryptography`, so a resident (or a journalist) can copy
this one file and check a receipt offline:

    python verify.py receipt.json --key 'civicdesk.example.city/log+1a2b3c4d+AXg...'

Implements RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) verification and the
C2SP signed-note / tlog-checkpoint formats (Ed25519 signatures, timestamped cosignatures).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import struct
import sys
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
EMPTY_ROOT = hashlib.sha256(b"").digest()


class VerificationError(Exception):
    """The receipt, proof or signature does not verify."""


# --- Merkle tree hashing (RFC 6962 §2.1) -------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(
    *, index: int, tree_size: int, leaf: bytes, proof: list[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2. Raises VerificationError."""
    if index < 0 or index >= tree_size:
        raise VerificationError(f"leaf index {index} is outside a tree of size {tree_size}")
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            raise VerificationError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof is too short")
    if r != root:
        raise VerificationError("inclusion proof does not lead to the tree head's root hash")


def verify_consistency(
    *, first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> None:
    """RFC 9162 §2.1.4.2. Raises VerificationError."""
    if first < 0 or first > second:
        raise VerificationError(f"tree size {first} cannot be older than {second}")
    if first == second:
        if proof:
            raise VerificationError("a proof between equal sizes must be empty")
        if first_root != second_root:
            raise VerificationError("two heads of the same size have different roots")
        return
    if first == 0:
        if proof:
            raise VerificationError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise VerificationError("empty consistency proof")
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("consistency proof is too short")
    if fr != first_root:
        raise VerificationError("consistency proof does not lead to the older root")
    if sr != second_root:
        raise VerificationError("consistency proof does not lead to the newer root")


# --- Signed notes and checkpoints (C2SP signed-note, tlog-checkpoint, tlog-cosignature) ------


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes
    public_key: bytes  # 32 raw Ed25519 bytes

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """`<name>+<hex key id>+<base64(0x01 || public key)>` (the signed-note vkey format)."""
        try:
            name, hex_id, b64 = text.strip().rsplit("+", 2)
            raw = base64.b64decode(b64, validate=True)
        except ValueError as exc:
            raise VerificationError("malformed verifier key") from exc
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise VerificationError("verifier key is not an Ed25519 key")
        kid = bytes.fromhex(hex_id)
        if kid != key_id(name, ALG_ED25519, raw[1:]):
            raise VerificationError("verifier key id does not match its name and key")
        return cls(name=name, key_id=kid, public_key=raw[1:])

    def __str__(self) -> str:
        b64 = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{b64}"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    timestamp: int | None  # from a verified timestamped cosignature, if present
    body: str


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    if "\n\n" not in note:
        raise VerificationError("not a signed note (no blank line before the signatures)")
    body, _, sig_block = note.partition("\n\n")
    body += "\n"
    sigs = []
    for line in sig_block.splitlines():
        if not line:
            continue
        if not line.startswith("\u2014 "):
            raise VerificationError("malformed signature line")
        try:
            name, b64 = line[2:].rsplit(" ", 1)
            sigs.append((name, base64.b64decode(b64, validate=True)))
        except ValueError as exc:
            raise VerificationError("malformed signature line") from exc
    return body, sigs


def verify_checkpoint(note: str, key: VerifierKey) -> Checkpoint:
    """Check the log's signature on a checkpoint and return what it says."""
    body, sigs = _split_note(note)
    pub = Ed25519PublicKey.from_public_bytes(key.public_key)
    signed = False
    timestamp = None
    cosig_id = key_id(key.name, ALG_COSIGNATURE_V1, key.public_key)
    for name, raw in sigs:
        if name != key.name:
            continue
        if raw[:4] == key.key_id and len(raw) == 68:
            try:
                pub.verify(raw[4:], body.encode())
            except InvalidSignature as exc:
                raise VerificationError("checkpoint signature is invalid") from exc
            signed = True
        elif raw[:4] == cosig_id and len(raw) == 76:
            (ts,) = struct.unpack(">Q", raw[4:12])
            message = f"cosignature/v1\ntime {ts}\n".encode() + body.encode()
            try:
                pub.verify(raw[12:], message)
            except InvalidSignature as exc:
                raise VerificationError("checkpoint timestamp signature is invalid") from exc
            timestamp = ts
    if not signed:
        raise VerificationError(f"checkpoint is not signed by {key.name}")
    lines = body.split("\n")
    if len(lines) < 4:
        raise VerificationError("checkpoint body has fewer than three lines")
    try:
        size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
    except ValueError as exc:
        raise VerificationError("malformed checkpoint body") from exc
    if lines[0] != key.name:
        raise VerificationError("checkpoint origin differs from the key name")
    return Checkpoint(origin=lines[0], tree_size=size, root_hash=root, timestamp=timestamp,
                      body=body)


def verify_statement(statement: str, signature_b64: str, key: VerifierKey) -> dict[str, Any]:
    """Verify an Ed25519 signature over a canonical-JSON statement (a promise of inclusion)."""
    pub = Ed25519PublicKey.from_public_bytes(key.public_key)
    try:
        pub.verify(base64.b64decode(signature_b64), statement.encode())
    except (InvalidSignature, ValueError) as exc:
        raise VerificationError("statement signature is invalid") from exc
    return json.loads(statement)


# --- Receipts --------------------------------------------------------------------------------


def verify_receipt(receipt: dict[str, Any], *, key: VerifierKey | str | None = None) -> str:
    """Verify a CivicDesk consent receipt; returns "included" or "promised". Raises on failure.

    `key` is the log's published verifier key; without it the key inside the receipt is used
    (which proves integrity but not that the key is the city's — pass the published one).
    """
    log = receipt.get("log") or {}
    vkey = key if isinstance(key, VerifierKey) else VerifierKey.parse(key or log["verifier_key"])
    entry = log.get("entry")
    if not isinstance(entry, str):
        raise VerificationError("receipt has no log entry")
    leaf = leaf_hash(entry.encode())
    if leaf.hex() != log.get("leaf_hash"):
        raise VerificationError("the entry does not hash to the receipt's leaf hash")
    entry_obj = json.loads(entry)
    if entry_obj.get("body", {}).get("event_id") not in (None, receipt.get("consentReceiptID")):
        raise VerificationError("the log entry is about another consent event")
    promise = log.get("promise")
    if promise:
        stated = verify_statement(promise["statement"], promise["signature"], vkey)
        if stated.get("leaf_hash") != leaf.hex() or stated.get("index") != log.get("index"):
            raise VerificationError("the promise of inclusion is for another entry")
    if log.get("status") != "included":
        if not promise:
            raise VerificationError("receipt has neither an inclusion proof nor a promise")
        return "promised"
    cp = verify_checkpoint(log["checkpoint"], vkey)
    verify_inclusion(
        index=log["index"],
        tree_size=cp.tree_size,
        leaf=leaf,
        proof=[bytes.fromhex(h) for h in log["inclusion_proof"]],
        root=cp.root_hash,
    )
    return "included"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("receipt", help="receipt JSON file ('-' for stdin)")
    parser.add_argument("--key", help="the log's published verifier key (vkey)")
    args = parser.parse_args(argv)
    if args.receipt == "-":
        data = json.load(sys.stdin)
    else:
        with open(args.receipt, encoding="utf-8") as fh:
            data = json.load(fh)
    try:
        status = verify_receipt(data, key=args.key)
    except (VerificationError, KeyError, ValueError) as exc:
        sys.stdout.write(f"FAILED: {exc}\n")
        return 1
    if status == "included":
        sys.stdout.write(f"OK: entry {data['log']['index']} is included in the signed log.\n")
    else:
        sys.stdout.write("OK (promise): signed promise of inclusion; fetch the receipt again "
                         "after the next tree head for the inclusion proof.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
