#!/usr/bin/env python3
"""Standalone verifier for CivicDesk consent receipts, tree heads (checkpoints) and proofs.

One file, Python 3.10+ standard library only (Ed25519 verification is implemented here after
RFC 8032 §5.1.7; if the `cryptography` package happens to be installed it is used instead, only
because it is faster; both give the same answers). Copy it anywhere and run it offline:

    python3 civicdesk_verify.py receipt receipt.json --key LOG_VKEY \
        [--witness-key WITNESS_VKEY ... --quorum N] [--checkpoint newer-checkpoint.txt]
    python3 civicdesk_verify.py checkpoint checkpoint.txt --key LOG_VKEY [--witness-key ...]
    python3 civicdesk_verify.py consistency old.txt new.txt --proof proof.json --key LOG_VKEY

Implements RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) verification, the C2SP
signed-note, tlog-checkpoint and tlog-cosignature (cosignature/v1) formats, and RFC 8785
canonical JSON for the receipt body that the log entry commits to.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import struct
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
EMPTY_ROOT = hashlib.sha256(b"").digest()
PROMISE_TYPE = "civicdesk/inclusion-promise/v1"
SUBJECT_COMMITMENT_LABEL = b"civicdesk/log-subject-commitment/v1\n"
DEV_ORIGIN_SUFFIX = "-dev"


class VerificationError(Exception):
    """The receipt, proof or signature does not verify."""


# --- Ed25519 verification (RFC 8032 §5.1.7), pure Python -----------------------------------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)

Point = tuple[int, int, int, int]  # extended homogeneous coordinates (X, Y, Z, T)


def _point_add(p: Point, q: Point) -> Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _point_mul(s: int, p: Point) -> Point:
    q: Point = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _point_add(q, p)
        p = _point_add(p, p)
        s >>= 1
    return q


def _point_equal(p: Point, q: Point) -> bool:
    return (p[0] * q[2] - q[0] * p[2]) % _P == 0 and (p[1] * q[2] - q[1] * p[2]) % _P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decompress(s: bytes) -> Point | None:
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_G: Point = (_recover_x(_GY, 0) or 0, _GY, 1, (_recover_x(_GY, 0) or 0) * _GY % _P)


def ed25519_verify_pure(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 Ed25519 verification in pure Python (cofactorless, as in the RFC)."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decompress(public_key)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(),
                       "little") % _L
    return _point_equal(_point_mul(s, _G), _point_add(r, _point_mul(h, a)))


def _fast_verifier() -> Any:
    if os.environ.get("CIVICDESK_VERIFY_PURE"):
        return None
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return None

    def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    return verify


_FAST = _fast_verifier()
ED25519_IMPLEMENTATION = "cryptography" if _FAST else "pure Python (RFC 8032)"


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if _FAST is not None:
        return bool(_FAST(public_key, message, signature))
    return ed25519_verify_pure(public_key, message, signature)


# --- RFC 8785 canonical JSON (the shapes receipts use) -------------------------------------


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 (JCS) for null, booleans, safe integers, strings, lists and objects."""
    return _jcs(obj).encode("utf-8")


def _jcs(obj: Any) -> str:
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, int):
        if abs(obj) > 2**53 - 1:
            raise VerificationError("integer outside the range RFC 8785 allows")
        return str(obj)
    if isinstance(obj, str):
        return json.dumps(obj, ensure_ascii=False)
    if isinstance(obj, list):
        return "[" + ",".join(_jcs(v) for v in obj) + "]"
    if isinstance(obj, dict):
        keys = sorted(obj, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(
            json.dumps(k, ensure_ascii=False) + ":" + _jcs(obj[k]) for k in keys) + "}"
    raise VerificationError(f"value of type {type(obj).__name__} has no canonical form here")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- Merkle tree hashing (RFC 6962 §2.1) ---------------------------------------------------


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
            raise VerificationError("two heads of the same size have different roots (a fork)")
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


# --- Signed notes, checkpoints, cosignatures (C2SP) ----------------------------------------


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
            name, hex_id, b64 = text.strip().split("+", 2)  # names cannot hold "+"
            raw = base64.b64decode(b64, validate=True)
            kid = bytes.fromhex(hex_id)
        except ValueError as exc:
            raise VerificationError("malformed verifier key") from exc
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise VerificationError("verifier key is not an Ed25519 key")
        if kid != key_id(name, ALG_ED25519, raw[1:]):
            raise VerificationError("verifier key id does not match its name and key")
        return cls(name=name, key_id=kid, public_key=raw[1:])

    @property
    def cosignature_id(self) -> bytes:
        return key_id(self.name, ALG_COSIGNATURE_V1, self.public_key)

    def __str__(self) -> str:
        b64 = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{b64}"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    timestamp: int | None  # from the log's own verified timestamped cosignature, if present
    body: str
    cosigned_by: dict[str, int] = field(default_factory=dict)  # witness name → time

    @property
    def is_dev(self) -> bool:
        return self.origin.endswith(DEV_ORIGIN_SUFFIX)


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
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


def cosignature_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()


def verify_cosignature(body: str, raw: bytes, key: VerifierKey) -> int | None:
    """The time of a valid cosignature/v1 by `key` over `body`, else None."""
    if len(raw) != 76 or raw[:4] != key.cosignature_id:
        return None
    (ts,) = struct.unpack(">Q", raw[4:12])
    if not ed25519_verify(key.public_key, cosignature_message(body, ts), raw[12:]):
        return None
    return int(ts)


def parse_checkpoint_body(body: str) -> tuple[str, int, bytes]:
    lines = body.split("\n")
    if len(lines) < 4:
        raise VerificationError("checkpoint body has fewer than three lines")
    try:
        size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
    except ValueError as exc:
        raise VerificationError("malformed checkpoint body") from exc
    if size < 0 or len(root) != 32 or str(size) != lines[1]:
        raise VerificationError("malformed checkpoint body")
    return lines[0], size, root


def verify_checkpoint(
    note: str, key: VerifierKey, *, witnesses: Sequence[VerifierKey] = (), quorum: int = 0,
) -> Checkpoint:
    """Check the log's signature on a checkpoint, count valid witness cosignatures (at least
    `quorum` distinct witnesses must have cosigned) and return what it says."""
    body, sigs = split_note(note)
    signed = False
    timestamp = None
    cosigned: dict[str, int] = {}
    by_name = {w.name: w for w in witnesses}
    for name, raw in sigs:
        if name == key.name:
            if raw[:4] == key.key_id and len(raw) == 68:
                if not ed25519_verify(key.public_key, body.encode(), raw[4:]):
                    raise VerificationError("checkpoint signature is invalid")
                signed = True
            elif raw[:4] == key.cosignature_id:
                ts = verify_cosignature(body, raw, key)
                if ts is None:
                    raise VerificationError("checkpoint timestamp signature is invalid")
                timestamp = ts
        elif name in by_name and raw[:4] == by_name[name].cosignature_id:
            ts = verify_cosignature(body, raw, by_name[name])
            if ts is None:
                raise VerificationError(f"cosignature of witness {name} is invalid")
            cosigned[name] = ts
    if not signed:
        raise VerificationError(f"checkpoint is not signed by {key.name}")
    origin, size, root = parse_checkpoint_body(body)
    if origin != key.name:
        raise VerificationError("checkpoint origin differs from the key name")
    if len(cosigned) < quorum:
        raise VerificationError(
            f"checkpoint is cosigned by {len(cosigned)} of the required witnesses, "
            f"{quorum} needed" + (f" (cosigned by: {', '.join(sorted(cosigned))})"
                                  if cosigned else ""))
    return Checkpoint(origin=origin, tree_size=size, root_hash=root, timestamp=timestamp,
                      body=body, cosigned_by=cosigned)


def statement_message(statement: str) -> bytes:
    """What a statement signature covers: its type on a line of its own, then the canonical
    JSON (domain separation: a promise can never pass as a checkpoint or another statement)."""
    try:
        kind = json.loads(statement)["type"]
    except (ValueError, KeyError, TypeError) as exc:
        raise VerificationError("statement has no type") from exc
    if not isinstance(kind, str) or not kind.startswith("civicdesk/"):
        raise VerificationError("statement type is not a CivicDesk statement")
    return kind.encode() + b"\n" + statement.encode()


def verify_statement(statement: str, signature_b64: str, key: VerifierKey) -> dict[str, Any]:
    """Verify an Ed25519 signature over a typed canonical-JSON statement."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except ValueError as exc:
        raise VerificationError("statement signature is not base64") from exc
    if not ed25519_verify(key.public_key, statement_message(statement), signature):
        raise VerificationError("statement signature is invalid")
    data = json.loads(statement)
    if canonical_json(data).decode() != statement:
        raise VerificationError("statement is not in canonical form")
    return dict(data)


# --- Receipts ------------------------------------------------------------------------------

# Which receipt field each log-entry field must equal (the rest is bound by receipt_sha256).
def _entry_mirror(receipt: dict[str, Any]) -> dict[str, Any]:
    purposes = receipt["services"][0]["purposes"][0]
    event = receipt["consentEvent"]
    return {
        "event_id": receipt["consentReceiptID"],
        "purpose": purposes["purposeCode"],
        "event": event["state"],
        "notice": event["notice"],
        "method": event["method"],
        "actor": event["actor"],
    }


def subject_commitment(opening: str) -> str:
    """The `subject` of a consent log entry: a hash of a per-entry secret only the resident's
    receipt (and the city, while it holds the resident's key) knows."""
    return sha256_hex(SUBJECT_COMMITMENT_LABEL + opening.encode())


def receipt_body(receipt: dict[str, Any]) -> dict[str, Any]:
    """The part of a receipt the log entry commits to: everything except the `log` proofs."""
    return {k: v for k, v in receipt.items() if k != "log"}


@dataclass
class ReceiptResult:
    status: str  # "included" or "promised"
    index: int
    origin: str
    checks: list[str] = field(default_factory=list)
    checkpoint: Checkpoint | None = None


def _utc_seconds(unix: int) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(unix, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def verify_receipt(
    receipt: dict[str, Any], *, key: VerifierKey | str | None = None,
    witnesses: Sequence[VerifierKey] = (), quorum: int = 0,
    checkpoint: str | None = None, inclusion_proof: list[bytes] | None = None,
) -> ReceiptResult:
    """Verify a CivicDesk consent receipt field by field. Raises VerificationError.

    `key` is the log's published verifier key; without it the key inside the receipt is used
    (integrity only: that key is not then known to be the city's). With `checkpoint` (a newer
    signed head) and `inclusion_proof`, inclusion is checked against that head instead of the
    one in the receipt.
    """
    log = receipt.get("log")
    if not isinstance(log, dict):
        raise VerificationError("receipt has no log section")
    if key is None:
        key = str(log.get("verifier_key", ""))
    vkey = key if isinstance(key, VerifierKey) else VerifierKey.parse(key)
    checks: list[str] = []
    entry = log.get("entry")
    if not isinstance(entry, str):
        raise VerificationError("receipt has no log entry")
    leaf = leaf_hash(entry.encode())
    if leaf.hex() != log.get("leaf_hash"):
        raise VerificationError("the entry does not hash to the receipt's leaf hash")
    try:
        entry_obj = json.loads(entry)
        body = entry_obj["body"]
    except (ValueError, KeyError, TypeError) as exc:
        raise VerificationError("the log entry is not a CivicDesk entry") from exc
    if canonical_json(entry_obj).decode() != entry:
        raise VerificationError("the log entry is not in canonical form")
    if entry_obj.get("kind") != "consent" or body.get("type") != "consent":
        raise VerificationError("the log entry is not a consent entry")
    # 1. Every field the entry states must be the receipt's.
    try:
        mirror = _entry_mirror(receipt)
    except (KeyError, IndexError, TypeError) as exc:
        raise VerificationError(f"receipt lacks a required field ({exc})") from exc
    names = {"event_id": "consentReceiptID", "purpose": "purposeCode", "event": "state",
             "notice": "notice", "method": "method", "actor": "actor"}
    for field_name, value in mirror.items():
        if body.get(field_name) != value:
            raise VerificationError(
                f"receipt field {names[field_name]!r} differs from the log entry")
    if not isinstance(receipt.get("consentTimestamp"), int) or \
            _utc_seconds(receipt["consentTimestamp"]) != entry_obj.get("time"):
        raise VerificationError("receipt field 'consentTimestamp' differs from the log entry")
    opening = receipt.get("piiPrincipalProof", {}).get("opening")
    if not isinstance(opening, str) or subject_commitment(opening) != body.get("subject"):
        raise VerificationError("the log entry's subject is not the one this receipt opens "
                                "(piiPrincipalProof)")
    checks.append("the log entry names this receipt's event, purpose, decision, notice, "
                  "method, time and subject")
    # 2. Every other field is bound by the hash the entry commits to.
    digest = sha256_hex(canonical_json(receipt_body(receipt)))
    if body.get("receipt_sha256") != digest:
        raise VerificationError(
            "a receipt field was changed after issue: the receipt no longer hashes to the "
            "receipt_sha256 in its log entry")
    checks.append("every field of the receipt is bound by the SHA-256 in the log entry")
    # 3. The promise of inclusion (signed once, at issue).
    promise = log.get("promise")
    if not isinstance(promise, dict):
        raise VerificationError("receipt has no signed promise of inclusion")
    stated = verify_statement(str(promise.get("statement", "")),
                              str(promise.get("signature", "")), vkey)
    if stated.get("type") != PROMISE_TYPE:
        raise VerificationError("the promise is not a promise of inclusion")
    if stated.get("log") != vkey.name or stated.get("leaf_hash") != leaf.hex():
        raise VerificationError("the promise of inclusion is for another entry or log")
    if stated.get("timestamp") != entry_obj.get("time"):
        raise VerificationError("the promise's time differs from the entry's")
    checks.append(
        f"the log signed, at {stated['timestamp']}, a promise to include the entry within "
        f"{stated.get('max_merge_delay_seconds')} seconds")
    index = log.get("index")
    if not isinstance(index, int):
        raise VerificationError("receipt has no log index")
    # 4. Inclusion in a signed (and cosigned) tree head.
    note = checkpoint if checkpoint is not None else log.get("checkpoint")
    proof = inclusion_proof
    if proof is None and log.get("status") == "included" and checkpoint is None:
        proof = [bytes.fromhex(h) for h in log.get("inclusion_proof", [])]
    if note is None or proof is None:
        if log.get("status") == "missing":
            raise VerificationError(
                "the city's log says this entry is missing although it promised to include "
                "it: keep this receipt, it is signed evidence of the broken promise")
        return ReceiptResult(status="promised", index=index, origin=vkey.name, checks=checks)
    cp = verify_checkpoint(note, vkey, witnesses=witnesses, quorum=quorum)
    verify_inclusion(index=index, tree_size=cp.tree_size, leaf=leaf, proof=proof,
                     root=cp.root_hash)
    checks.append(f"the entry is number {index} of the {cp.tree_size} entries in a tree head "
                  f"signed by {vkey.name}")
    if cp.cosigned_by:
        checks.append("that tree head is cosigned by the witness(es) "
                      + ", ".join(sorted(cp.cosigned_by)))
    return ReceiptResult(status="included", index=index, origin=vkey.name, checks=checks,
                         checkpoint=cp)


# --- Command line --------------------------------------------------------------------------


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _witness_keys(values: Iterable[str]) -> list[VerifierKey]:
    return [VerifierKey.parse(v) for v in values]


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _dev_warning(origin: str) -> None:
    if origin.endswith(DEV_ORIGIN_SUFFIX):
        _say(f"WARNING: {origin} is a development log (its origin ends in -dev); its heads "
             "prove nothing about a city's real log.")


def _cmd_receipt(args: argparse.Namespace) -> None:
    receipt = json.loads(_read(args.file))
    result = verify_receipt(
        receipt, key=args.key, witnesses=_witness_keys(args.witness_key), quorum=args.quorum,
        checkpoint=_read(args.checkpoint) if args.checkpoint else None,
        inclusion_proof=[bytes.fromhex(h) for h in json.loads(_read(args.proof))]
        if args.proof else None,
    )
    _dev_warning(result.origin)
    if args.key is None:
        _say("WARNING: no --key given: the key inside the receipt was used; compare it with "
             "the key the city publishes.")
    for line in result.checks:
        _say(f"  ok: {line}")
    if result.status == "included":
        _say(f"OK: entry {result.index} is included in the signed log.")
    else:
        if args.quorum:
            _say("NOTE: no tree head yet, so no witness cosignature could be checked.")
        _say("OK (promise): signed promise of inclusion; fetch the receipt again after the "
             "merge delay for the inclusion proof.")


def _cmd_checkpoint(args: argparse.Namespace) -> None:
    cp = verify_checkpoint(_read(args.file), VerifierKey.parse(args.key),
                           witnesses=_witness_keys(args.witness_key), quorum=args.quorum)
    _dev_warning(cp.origin)
    _say(f"OK: {cp.origin} tree size {cp.tree_size} root {base64.b64encode(cp.root_hash).decode()}"
         + (f", cosigned by {', '.join(sorted(cp.cosigned_by))}" if cp.cosigned_by else ""))


def _cmd_consistency(args: argparse.Namespace) -> None:
    key = VerifierKey.parse(args.key)
    witnesses = _witness_keys(args.witness_key)
    old = verify_checkpoint(_read(args.old), key, witnesses=witnesses, quorum=args.quorum)
    new = verify_checkpoint(_read(args.new), key, witnesses=witnesses, quorum=args.quorum)
    data = json.loads(_read(args.proof)) if args.proof else []
    if isinstance(data, dict):
        data = data.get("consistency_path", [])
    verify_consistency(first=old.tree_size, second=new.tree_size, first_root=old.root_hash,
                       second_root=new.root_hash, proof=[bytes.fromhex(h) for h in data])
    _dev_warning(new.origin)
    _say(f"OK: the log of size {new.tree_size} extends the one of size {old.tree_size} "
         "(it only grew; nothing earlier was changed or removed).")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in ("receipt", "checkpoint", "consistency", "-h", "--help"):
        argv.insert(0, "receipt")  # `civicdesk_verify.py receipt.json --key ...`
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, key_required: bool = True) -> None:
        p.add_argument("--key", required=key_required,
                       help="the log's published verifier key (signed-note vkey)")
        p.add_argument("--witness-key", action="append", default=[],
                       help="a witness's verifier key (repeat for several)")
        p.add_argument("--quorum", type=int, default=0,
                       help="how many of the given witnesses must have cosigned")

    p = sub.add_parser("receipt", help="check a consent receipt (JSON)")
    p.add_argument("file")
    p.add_argument("--checkpoint", help="a newer checkpoint to check inclusion against")
    p.add_argument("--proof", help="JSON list of hex hashes: inclusion proof for --checkpoint")
    common(p, key_required=False)
    p.set_defaults(run=_cmd_receipt)
    p = sub.add_parser("checkpoint", help="check a checkpoint's signatures")
    p.add_argument("file")
    common(p)
    p.set_defaults(run=_cmd_checkpoint)
    p = sub.add_parser("consistency", help="check that a newer checkpoint extends an older one")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--proof", help="JSON: the consistency_path list (or the API's answer)")
    common(p)
    p.set_defaults(run=_cmd_consistency)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (VerificationError, KeyError, ValueError, TypeError, OSError) as exc:
        _say(f"FAILED: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
