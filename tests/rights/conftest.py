"""Fixtures for residents' data rights: the demo register, a lighting department, residents
with requests, comments, photos and consents, and throwaway media/export directories."""

from __future__ import annotations

import io
import secrets

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.test import Client
from PIL import Image

from consent.demo import seed_register
from services.models import Attachment, ServiceRequest
from services.services import request_comment
from tests.factories import (
    PASSWORD,
    CategoryFactory,
    DepartmentFactory,
    MembershipFactory,
    ServiceRequestFactory,
)

APP = "/_allauth/app/v1"


@pytest.fixture(autouse=True)
def _isolated_files(settings, tmp_path):
    cache.clear()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.CIVICDESK = {**settings.CIVICDESK, "EXPORT_ROOT": str(tmp_path / "exports")}
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _eager_tasks():
    """Tasks run in-process unless a test starts a real worker (with REDIS_URL the app is not
    eager by default)."""
    from portal.celery import app

    old = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = old


@pytest.fixture
def register(db, lighting, roads):
    seed_register()


@pytest.fixture
def lighting(db):
    return DepartmentFactory(code="lighting", name_en="Street Lighting", name_zh_hans="路灯")


@pytest.fixture
def clerk_lighting(lighting):
    return MembershipFactory(department=lighting).user


@pytest.fixture
def streetlight(lighting):
    return CategoryFactory(code="streetlight", name_en="Streetlight out", department=lighting)


def png_bytes(color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(out, "PNG")
    return out.getvalue()


def add_photo(request: ServiceRequest, user) -> Attachment:
    # An explicit token: the model default (token_urlsafe(), 43 chars) overflows its
    # max_length=32 on PostgreSQL (reported to the owner of services/models.py).
    attachment = Attachment(
        request=request, content_type="image/png", width=8, height=8, size=0, uploaded_by=user,
        token=secrets.token_urlsafe(16),
    )
    data = png_bytes()
    attachment.size = len(data)
    attachment.file.save("photo.png", ContentFile(data), save=False)
    attachment.save()
    return attachment


def file_request(reporter, category, *, description: str, comment: str = "", photo: bool = True,
                 **extra) -> ServiceRequest:
    request = ServiceRequestFactory(
        reporter=reporter, category=category, description=description,
        address=extra.pop("address", "12 Lamp Lane"), **extra,
    )
    if comment:
        request_comment(request=request, actor=reporter, text=comment)
    if photo:
        add_photo(request, reporter)
    return request


@pytest.fixture
def li_request(resident, streetlight):
    return file_request(
        resident, streetlight, description="The lamp outside my flat at 12 Lamp Lane is dark.",
        comment="Call me after six, please.", is_private_address=True, lat=39.05123, lon=116.05321,
    )


def app_login(user) -> tuple[Client, str]:
    client = Client()
    response = client.post(f"{APP}/auth/login", {"email": user.email, "password": PASSWORD},
                           content_type="application/json")
    assert response.status_code == 200, response.content
    return client, response.json()["meta"]["session_token"]


def app_reauthenticate(client: Client, token: str) -> None:
    response = client.post(f"{APP}/auth/reauthenticate", {"password": PASSWORD},
                           content_type="application/json", headers={"X-Session-Token": token})
    assert response.status_code == 200, response.content
