"""Photo uploads: content checks, size and pixel limits, metadata stripped, access-checked bytes."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from services.models import Attachment, Event, Status
from tests.services.conftest import image_bytes

pytestmark = pytest.mark.django_db


def _url(request) -> str:
    return f"/api/v1/requests/{request.reference}/attachments"


def _upload(client, request, *files):
    return client.post(_url(request), {"photos": list(files)}, format="multipart")


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (40, 30), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0131] = "Camera App 1.0"  # Software
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (39.0, 2.0, 30.0)
    gps[3] = "E"
    gps[4] = (116.0, 3.0, 15.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def _png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG whose header claims 900 megapixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * width
    compressor = zlib.compressobj(9)
    body = compressor.compress(row * 64) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def test_reporter_adds_a_photo_and_an_event_is_recorded(client_for, resident, make_request):
    request = make_request()
    response = _upload(
        client_for(resident),
        request,
        SimpleUploadedFile("p.jpg", image_bytes(), content_type="image/jpeg"),
    )
    assert response.status_code == 201, response.content
    assert response.json()[0]["content_type"] == "image/jpeg"
    assert Event.objects.filter(request=request, type=Event.Type.ATTACHMENT_ADDED).exists()


def test_a_text_file_named_jpg_is_refused_as_415(client_for, resident, make_request):
    request = make_request()
    fake = SimpleUploadedFile("photo.jpg", b"hello, I am text\n" * 20, content_type="image/jpeg")
    response = _upload(client_for(resident), request, fake)
    assert response.status_code == 415
    assert response.json()["errors"]["photos"]
    assert Attachment.objects.count() == 0


def test_a_gif_is_refused_even_though_it_is_an_image(client_for, resident, make_request):
    request = make_request()
    gif = SimpleUploadedFile("a.gif", image_bytes("GIF"), content_type="image/gif")
    assert _upload(client_for(resident), request, gif).status_code == 415


def test_an_image_bomb_is_refused_before_decoding(client_for, resident, make_request):
    request = make_request()
    bomb = _png_bomb()
    assert len(bomb) < 100_000
    response = _upload(
        client_for(resident),
        request,
        SimpleUploadedFile("bomb.png", bomb, content_type="image/png"),
    )
    assert response.status_code == 413
    assert "photos" in response.json()["errors"]
    assert Attachment.objects.count() == 0


def test_a_12_mb_file_is_refused_as_413(client_for, resident, make_request):
    request = make_request()
    big = image_bytes("PNG") + b"\x00" * (12 * 1024 * 1024)
    response = _upload(
        client_for(resident),
        request,
        SimpleUploadedFile("big.png", big, content_type="image/png"),
    )
    assert response.status_code == 413
    assert Attachment.objects.count() == 0


def test_exif_and_gps_are_removed_before_storage(client_for, resident, make_request):
    original = _jpeg_with_gps()
    with Image.open(io.BytesIO(original)) as check:
        assert check.getexif().get_ifd(0x8825)  # the fixture really carries a GPS position
    request = make_request()
    response = _upload(
        client_for(resident),
        request,
        SimpleUploadedFile("gps.jpg", original, content_type="image/jpeg"),
    )
    assert response.status_code == 201
    stored = Attachment.objects.get(request=request)
    with stored.file.open("rb") as handle:
        content = handle.read()
    with Image.open(io.BytesIO(content)) as image:
        assert not image.getexif()
        assert "exif" not in image.info
    assert b"PhoneMaker" not in content
    assert b"GPS" not in content


def test_the_photo_count_limit_counts_existing_photos(client_for, resident, make_request, settings):
    settings.CIVICDESK = {**settings.CIVICDESK, "MAX_PHOTOS_PER_REQUEST": 2}
    request = make_request()
    client = client_for(resident)
    photo = image_bytes()
    assert (
        _upload(client, request, SimpleUploadedFile("1.jpg", photo, "image/jpeg")).status_code
        == 201
    )
    response = _upload(
        client,
        request,
        SimpleUploadedFile("2.jpg", photo, "image/jpeg"),
        SimpleUploadedFile("3.jpg", photo, "image/jpeg"),
    )
    assert response.status_code == 400
    assert Attachment.objects.count() == 1


def test_photo_bytes_are_served_to_the_owner_with_safe_headers(client_for, resident, make_request):
    request = make_request()
    client = client_for(resident)
    token = _upload(client, request, SimpleUploadedFile("p.png", image_bytes("PNG"), "image/png"))
    url = token.json()[0]["url"]
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline")
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", 401),
        ("owner", 200),
        ("other_resident", 404),
        # Staff need a link from their own logged reveal (tests/rights/test_photo_links.py).
        ("clerk_roads", 404),
        ("clerk_parks", 404),
        ("data_officer", 404),
    ],
)
def test_photo_bytes_behind_the_photos_own_token_are_served_to_its_reporter_only(
    request, client_for, resident, make_request, who, expected
):
    target = make_request(status=Status.IN_PROGRESS)
    uploaded = _upload(
        client_for(resident), target, SimpleUploadedFile("p.jpg", image_bytes(), "image/jpeg")
    )
    url = uploaded.json()[0]["url"]
    user = {"anonymous": None, "owner": resident}.get(who) or (
        request.getfixturevalue(who) if who not in ("anonymous", "owner") else None
    )
    assert client_for(user).get(url).status_code == expected


def test_a_follower_sees_progress_but_not_the_photos(
    client_for, resident, other_resident, make_request
):
    target = make_request(status=Status.ROUTED)
    uploaded = _upload(
        client_for(resident), target, SimpleUploadedFile("p.jpg", image_bytes(), "image/jpeg")
    )
    follower = client_for(other_resident)
    assert follower.post(f"/api/v1/requests/{target.reference}/follow").status_code == 201
    detail = follower.get(f"/api/v1/requests/{target.reference}").json()
    assert detail["attachments"] == []
    assert detail["description"] == ""
    assert follower.get(uploaded.json()[0]["url"]).status_code == 404
