"""Keyed pseudonyms for residents: HMAC-SHA-256 under a per-resident key kept outside the
main database, in the key store (consent/keystore.py).

Destroying a resident's key (`pseudonym_key_destroy`) is crypto-shredding: log entries and
consent events keep verifying but can no longer be linked to the person.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from consent.keystore import keystore

if TYPE_CHECKING:
    from core.users import User

_PSEUDONYM_LABEL = b"civicdesk/pseudonym/v1"
_COMMITMENT_LABEL = b"civicdesk/log-subject/v1:"


@dataclass(frozen=True)
class SubjectKey:
    """A resident's key from the key store, and the stable pseudonym derived from it."""

    subject_id: int
    key: bytes

    @property
    def pseudonym(self) -> str:
        return pseudonym_of_key(self.key)


def _hmac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def pseudonym_of_key(key: bytes) -> str:
    return "ps-" + _hmac(key, _PSEUDONYM_LABEL)[:32]


def subject_key(subject: User, *, create: bool = True) -> SubjectKey | None:
    """The resident's key (created on first use unless `create` is False)."""
    store = keystore()
    key = store.get_or_create(subject.pk) if create else store.get(subject.pk)
    return SubjectKey(subject_id=subject.pk, key=key) if key is not None else None


def subject_key_create(subject: User) -> SubjectKey:
    """Create the resident's key (the caller saw none); the existing one if another
    process created it meanwhile."""
    return SubjectKey(subject_id=subject.pk, key=keystore().get_or_create(subject.pk))


def pseudonym_for(subject: User) -> str:
    """Stable pseudonym shown to data officers instead of the name (never put in the log)."""
    key = subject_key(subject)
    assert key is not None  # noqa: S101 - create=True always returns a key
    return key.pseudonym


def log_subject(subject: User, *, nonce: str) -> str:
    """The subject field of one log entry: unlinkable across entries without the key."""
    key = subject_key(subject)
    assert key is not None  # noqa: S101
    return log_subject_with(key, nonce=nonce)


def log_subject_with(key: SubjectKey, *, nonce: str) -> str:
    return log_subject_with_key(key.key, nonce=nonce)


def log_subject_with_key(key: bytes, *, nonce: str) -> str:
    """The subject field of one log entry from the raw per-resident key."""
    return _hmac(key, _COMMITMENT_LABEL + nonce.encode())


def log_subject_matches(subject: User, *, nonce: str, value: str) -> bool:
    key = subject_key(subject, create=False)
    if key is None:
        return False
    return hmac.compare_digest(_hmac(key.key, _COMMITMENT_LABEL + nonce.encode()), value)


def pseudonym_key_destroy(*, subject: User | int) -> bool:
    """Crypto-shred: delete the resident's key from the key store. Returns whether a key
    existed. Call it after the erasure committed (a rollback cannot bring a key back)."""
    return keystore().destroy(subject.pk if hasattr(subject, "pk") else int(subject))


def orphan_keys_destroy() -> int:
    """Destroy keys whose resident no longer exists (an erasure whose process died between
    its commit and the key's destruction). Returns how many.

    The keys are listed before the accounts are read: a key is only ever created for an
    existing account, so a key listed here whose account is missing was erased."""
    from django.contrib.auth import get_user_model

    store = keystore()
    ids = list(store.subject_ids())
    existing: set[int] = set()
    for start in range(0, len(ids), 5000):
        existing.update(get_user_model().objects.filter(pk__in=ids[start:start + 5000])
                        .values_list("pk", flat=True))
    return sum(store.destroy(sid) for sid in ids if sid not in existing)
