"""Photo uploads: checked by content with Pillow, bombs refused, metadata stripped by re-encoding.

`photo_prepare` does all the checking and re-encoding in memory and touches no database, so a
bad photo is refused before anything is written. Limits come from settings.CIVICDESK.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import Invalid, TooLarge, UnsupportedMedia

# Pillow format → (content type, save options). Re-encoding writes no EXIF, XMP, ICC or text
# chunks unless asked to, so GPS position and camera serial numbers never reach storage.
FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    "JPEG": ("image/jpeg", {"quality": 85, "optimize": True}),
    "PNG": ("image/png", {"optimize": True}),
    "WEBP": ("image/webp", {"quality": 85}),
}
FIELD = "photos"


@dataclass(frozen=True)
class PreparedPhoto:
    content: bytes
    content_type: str
    width: int
    height: int

    @property
    def size(self) -> int:
        return len(self.content)


def max_photos() -> int:
    return int(settings.CIVICDESK["MAX_PHOTOS_PER_REQUEST"])


def _read_limited(upload: IO[bytes], limit: int) -> bytes:
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise TooLarge(
            _("A photo may be at most %(mb)d MB.") % {"mb": limit // (1024 * 1024)},
            errors={FIELD: [_("A photo may be at most %(mb)d MB.") % {"mb": limit // 1048576}]},
        )
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(
            _("A photo may be at most %(mb)d MB.") % {"mb": limit // (1024 * 1024)},
            errors={FIELD: [_("A photo may be at most %(mb)d MB.") % {"mb": limit // 1048576}]},
        )
    return data


def _not_an_image() -> UnsupportedMedia:
    message = _("Only JPEG, PNG and WebP photos can be uploaded.")
    return UnsupportedMedia(message, errors={FIELD: [message]})


def _too_many_pixels() -> TooLarge:
    message = _("The photo has too many pixels; send a smaller picture.")
    return TooLarge(message, errors={FIELD: [message]})


def photo_prepare(*, upload: IO[bytes]) -> PreparedPhoto:
    """Check one uploaded file and return its re-encoded, metadata-free content.

    Raises TooLarge (413) for oversize files or pixel bombs, UnsupportedMedia (415) for
    anything that is not a JPEG, PNG or WebP image by content.
    """
    limits = settings.CIVICDESK
    data = _read_limited(upload, int(limits["MAX_PHOTO_BYTES"]))
    max_pixels = int(limits["MAX_PHOTO_PIXELS"])
    try:
        with warnings.catch_warnings():
            # Pillow warns (and above 2× its own limit raises) on huge images; we refuse
            # them ourselves from the header before any pixel is decoded.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in FORMATS:
                    raise _not_an_image()
                width, height = probe.size
                if width <= 0 or height <= 0 or width * height > max_pixels:
                    raise _too_many_pixels()
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                source_format = image.format or ""
                image.load()
                encoded = _reencode(image, source_format)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        # Not an image, or a truncated/corrupt one: Pillow's parsers raise these.
        raise _not_an_image() from None
    return encoded


def _reencode(image: Image.Image, source_format: str) -> PreparedPhoto:
    content_type, options = FORMATS[source_format]
    # Apply the EXIF orientation to the pixels, because the EXIF block itself is dropped.
    oriented = ImageOps.exif_transpose(image)
    if oriented is None:  # pragma: no cover - exif_transpose returns an image unless in_place
        oriented = image
    if source_format == "JPEG" and oriented.mode not in ("RGB", "L"):
        oriented = oriented.convert("RGB")
    elif source_format in ("PNG", "WEBP") and oriented.mode not in ("RGB", "RGBA", "L", "LA"):
        oriented = oriented.convert("RGBA")
    # A fresh image holds only pixels: no `info` (EXIF, XMP, ICC, text chunks) carried over.
    clean = Image.new(oriented.mode, oriented.size)
    clean.paste(oriented)
    out = io.BytesIO()
    clean.save(out, format=source_format, **options)
    width, height = clean.size
    return PreparedPhoto(
        content=out.getvalue(), content_type=content_type, width=width, height=height
    )


def photos_prepare(*, uploads: list[Any], existing: int = 0) -> list[PreparedPhoto]:
    """Check a batch of uploads against the per-request count limit, then each file."""
    limit = max_photos()
    if existing + len(uploads) > limit:
        message = _("A request may have at most %(n)d photos.") % {"n": limit}
        raise Invalid(message, errors={FIELD: [message]})
    return [photo_prepare(upload=upload) for upload in uploads]
