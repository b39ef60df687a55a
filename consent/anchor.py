"""The anchor outside the database: every signed (and cosigned) tree head is also written to
an append-only mirror, through Django's storage API (`STORAGES["tlog_mirror"]`).

The default backend is a directory (`CIVICDESK_TLOG_MIRROR_DIR`); a production city points the
same setting at an S3-compatible bucket with object lock (django-storages' S3 backend, not a
dependency of CivicDesk) or at a directory on another host. Files are only ever created, never
overwritten or deleted: `<origin>/<tree size, 15 digits>-<first 16 hex of SHA-256>.note`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages

MIRROR_STORAGE = "tlog_mirror"
_NAME_RE = re.compile(r"^(\d{15})-([0-9a-f]{16})\.note$")


def mirror_storage() -> Storage:
    return storages[MIRROR_STORAGE]


def _folder(origin: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", origin)


def mirror_note(*, origin: str, tree_size: int, note: str) -> str:
    """Write a checkpoint note (idempotent: the same note is never written twice)."""
    storage = mirror_storage()
    digest = hashlib.sha256(note.encode()).hexdigest()[:16]
    name = f"{_folder(origin)}/{tree_size:015d}-{digest}.note"
    if not storage.exists(name):
        storage.save(name, ContentFile(note.encode()))
    return name


@dataclass(frozen=True)
class MirroredNote:
    name: str
    tree_size: int


def mirrored_notes(origin: str) -> list[MirroredNote]:
    """Every note in the mirror for `origin`, by tree size (ascending)."""
    try:
        _, files = mirror_storage().listdir(_folder(origin))
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for f in files:
        m = _NAME_RE.match(f)
        if m:
            out.append(MirroredNote(name=f"{_folder(origin)}/{f}", tree_size=int(m.group(1))))
    return sorted(out, key=lambda n: (n.tree_size, n.name))


def read_note(name: str) -> str:
    with mirror_storage().open(name, "rb") as fh:
        data: bytes = fh.read()
    return data.decode("utf-8")
