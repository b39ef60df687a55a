"""Per-resident pseudonym keys, kept outside the main database so that erasure is final.

One interface (`KeyStore`); the backend today is a directory (`CIVICDESK_KEYSTORE_DIR`,
default var/keystore) backed up on its own short retention (docs/deployment.md §6). Main
database backups never hold a key: once a resident's key is destroyed and the key store's
last backup holding it has aged out, nothing can recompute their pseudonyms.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from django.conf import settings

KEY_BYTES = 32


class KeyStoreError(Exception):
    """A key that conflicts with the stored one, or an unreadable key file."""


class KeyStore(Protocol):
    def get(self, subject_id: int) -> bytes | None:
        """The subject's key, or None if there is none (never created, or destroyed)."""

    def get_or_create(self, subject_id: int) -> bytes:
        """The subject's key, created on first use (safe against concurrent creators)."""

    def put(self, subject_id: int, key: bytes) -> None:
        """Store a given key (moving keys in); refuses to replace a different one."""

    def destroy(self, subject_id: int) -> bool:
        """Crypto-shred: delete the key. Returns whether there was one."""

    def subject_ids(self) -> Iterator[int]:
        """Every subject that has a key."""


class DirectoryKeyStore:
    """One 32-byte file per subject, `<root>/<id mod 256>/<id>.key`, mode 0600.

    Created by link(2) of a fully written temporary file, so a reader never sees a partial
    key and two creators agree on one. Destroying overwrites the file before unlinking it (on
    copy-on-write or flash storage the old blocks may survive until reused: the key store's
    own backup retention, not the overwrite, is what bounds how long a key can come back).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._root = os.fspath(self.root)

    def _path(self, subject_id: int) -> Path:
        return Path(self._file(subject_id))

    def _file(self, subject_id: int) -> str:
        # Plain strings: a read is on every consent change.
        if not isinstance(subject_id, int) or subject_id < 0:
            raise KeyStoreError("subject ids are non-negative integers")
        return f"{self._root}/{subject_id % 256:02x}/{subject_id}.key"

    def get(self, subject_id: int) -> bytes | None:
        try:
            with open(self._file(subject_id), "rb", buffering=0) as fh:
                key = fh.read(KEY_BYTES + 1)
        except FileNotFoundError:
            return None
        if len(key) != KEY_BYTES:
            raise KeyStoreError(f"key file of subject {subject_id} is damaged")
        return key

    def get_or_create(self, subject_id: int) -> bytes:
        key = self.get(subject_id)
        if key is not None:
            return key
        return self._create(subject_id, secrets.token_bytes(KEY_BYTES))

    def put(self, subject_id: int, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeyStoreError("a key is 32 bytes")
        if self._create(subject_id, key) != key:
            raise KeyStoreError(f"subject {subject_id} already has a different key")

    def _create(self, subject_id: int, key: bytes) -> bytes:
        path = self._path(subject_id)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        tmp = path.parent / f".{subject_id}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, key)
            os.fsync(fd)
            os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:  # another process created it first: theirs counts
                existing = self.get(subject_id)
                if existing is None:  # pragma: no cover - destroyed in between
                    raise KeyStoreError(f"key of subject {subject_id} vanished") from None
                return existing
            _fsync_dir(path.parent)
            return key
        finally:
            tmp.unlink(missing_ok=True)

    def destroy(self, subject_id: int) -> bool:
        path = self._path(subject_id)
        try:
            with open(path, "r+b") as fh:
                fh.write(b"\0" * KEY_BYTES)
                fh.flush()
                os.fsync(fh.fileno())
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True

    def subject_ids(self) -> Iterator[int]:
        if not self.root.is_dir():
            return
        for shard in sorted(self.root.iterdir()):
            if shard.is_dir():
                for f in sorted(shard.glob("*.key")):
                    if f.stem.isdigit():
                        yield int(f.stem)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@lru_cache(maxsize=8)
def _directory_store(root: str) -> DirectoryKeyStore:
    return DirectoryKeyStore(Path(root))


def keystore() -> KeyStore:
    """The configured key store (CIVICDESK["KEYSTORE_DIR"])."""
    return _directory_store(str(settings.CIVICDESK["KEYSTORE_DIR"]))
