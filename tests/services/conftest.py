"""Fixtures for the requests domain and API: categories, districts, requests in any status."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from PIL import Image

from services.models import ServiceRequest, Status
from tests.factories import CategoryFactory, DistrictFactory, ServiceRequestFactory


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Factories hash a password per user; PBKDF2 makes that the slowest part of a test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """DRF throttles count in the cache; every test starts from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def district(db):
    # lon 116.0–116.1, lat 39.0–39.1
    return DistrictFactory(
        code="central",
        name_en="Central",
        name_zh_hans="中心区",
        boundary={
            "type": "Polygon",
            "coordinates": [
                [[116.0, 39.0], [116.1, 39.0], [116.1, 39.1], [116.0, 39.1], [116.0, 39.0]]
            ],
        },
    )


@pytest.fixture
def pothole(roads):
    return CategoryFactory(
        code="pothole",
        name_en="Pothole",
        name_zh_hans="路面坑洞",
        description_en="A hole in the road.",
        department=roads,
        sla_hours=72,
        attributes=[
            {
                "code": "size",
                "datatype": "singlevaluelist",
                "required": True,
                "description": "How big?",
                "order": 1,
                "values": [{"key": "small", "name": "Small"}, {"key": "large", "name": "Large"}],
            }
        ],
    )


@pytest.fixture
def streetlight(roads):
    return CategoryFactory(code="streetlight", name_en="Streetlight out", department=roads)


@pytest.fixture
def make_request(roads, resident):
    """A request of the roads department in a given status (a bare row; no events)."""

    def make(status: str = Status.ROUTED, **kwargs) -> ServiceRequest:
        kwargs.setdefault("reporter", resident)
        kwargs.setdefault("department", roads)
        kwargs.setdefault("category", CategoryFactory(code="roads-generic", department=roads))
        kwargs.setdefault("due_at", timezone.now() + timedelta(hours=48))
        if status in (Status.RESOLVED, Status.CLOSED):
            kwargs.setdefault("resolved_at", timezone.now())
            kwargs.setdefault("outcome", "fixed")
        return ServiceRequestFactory(status=status, **kwargs)

    return make


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=fmt, **save)
    return out.getvalue()
