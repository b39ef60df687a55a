"""Keyed pseudonyms for residents: HMAC-SHA-256 under a per-resident key kept outside the log.

Deleting a resident's key (`pseudonym_key_destroy`) is crypto-shredding: log entries and
consent events keep verifying but can no longer be linked to the person.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from django.db import IntegrityError, transaction

from consent.models import SubjectKey

_PSEUDONYM_LABEL = b"civicdesk/pseudonym/v1"
_COMMITMENT_LABEL = b"civicdesk/log-subject/v1:"


def _hmac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def subject_key(subject: Any, *, create: bool = True) -> SubjectKey | None:
    """The resident's key row (created on first use unless `create` is False)."""
    found = SubjectKey.objects.filter(subject_id=subject.pk).first()
    if found is not None or not create:
        return found
    return subject_key_create(subject)


def subject_key_create(subject: Any) -> SubjectKey:
    """Create the resident's key (the caller saw none); the existing one if another
    transaction created it meanwhile."""
    key = secrets.token_bytes(32)
    try:
        with transaction.atomic():
            return SubjectKey.objects.create(
                subject_id=subject.pk, key=key, pseudonym="ps-" + _hmac(key, _PSEUDONYM_LABEL)[:32]
            )
    except IntegrityError:
        return SubjectKey.objects.get(subject_id=subject.pk)


def pseudonym_for(subject: Any) -> str:
    """Stable pseudonym shown to data officers instead of the name (never put in the log)."""
    key = subject_key(subject)
    assert key is not None  # noqa: S101 - create=True always returns a row
    return key.pseudonym


def log_subject(subject: Any, *, nonce: str) -> str:
    """The subject field of one log entry: unlinkable across entries without the key."""
    key = subject_key(subject)
    assert key is not None  # noqa: S101
    return log_subject_with(key, nonce=nonce)


def log_subject_with(key: SubjectKey, *, nonce: str) -> str:
    return log_subject_with_key(bytes(key.key), nonce=nonce)


def log_subject_with_key(key: bytes, *, nonce: str) -> str:
    """The subject field of one log entry from the raw per-resident key."""
    return _hmac(key, _COMMITMENT_LABEL + nonce.encode())


def log_subject_matches(subject: Any, *, nonce: str, value: str) -> bool:
    key = subject_key(subject, create=False)
    if key is None:
        return False
    return hmac.compare_digest(_hmac(bytes(key.key), _COMMITMENT_LABEL + nonce.encode()), value)


def pseudonym_key_destroy(*, subject: Any) -> bool:
    """Crypto-shred: delete the resident's key. Returns whether a key existed."""
    deleted, _ = SubjectKey.objects.filter(subject_id=subject.pk).delete()
    return bool(deleted)
