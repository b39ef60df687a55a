"""Client app keys: hashed at rest, shown once in the admin, revocable, rate-limited."""

from __future__ import annotations

import re

import pytest

from core.errors import RateLimited
from services.open311.models import ApiKey, hash_key
from services.open311.services import api_key_issue, api_key_throttle
from tests.factories import UserFactory, enroll_totp
from tests.open311.conftest import parse
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db


def test_only_a_hash_of_the_key_is_stored():
    api_key, raw_key = api_key_issue(name="City app")
    stored = ApiKey.objects.filter(pk=api_key.pk).values()[0]
    assert raw_key not in str(stored)
    assert stored["key_hash"] == hash_key(raw_key)
    assert stored["prefix"] == raw_key[:9]
    assert len(raw_key) > 40


def test_every_issued_key_is_different():
    keys = {api_key_issue(name=f"app {i}")[1] for i in range(5)}
    assert len(keys) == 5


@pytest.fixture
def admin_client(client):
    admin = UserFactory(is_staff=True, is_superuser=True)
    enroll_totp(admin)
    mfa_login(client, admin)
    return client


def test_the_admin_issues_a_key_and_shows_it_once(admin_client):
    response = admin_client.post(
        "/admin/open311/apikey/add/",
        {"name": "FixMyStreet Xiong'an", "rate_limit_per_minute": "30", "note": ""},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw_key = re.search(rb'value="(o311_[^"]+)"', response.content).group(1).decode()
    api_key = ApiKey.objects.get()
    assert (api_key.name, api_key.rate_limit_per_minute) == ("FixMyStreet Xiong'an", 30)
    assert api_key.key_hash == hash_key(raw_key)
    change_page = admin_client.get(f"/admin/open311/apikey/{api_key.pk}/change/")
    assert raw_key.encode() not in change_page.content
    assert api_key.prefix.encode() in change_page.content


def test_the_admin_revokes_keys_with_an_action(admin_client, pothole, api):
    api_key, raw_key = api_key_issue(name="Old app")
    response = admin_client.post(
        "/admin/open311/apikey/",
        {"action": "revoke", "_selected_action": [api_key.pk]},
        follow=True,
    )
    assert response.status_code == 200
    api_key.refresh_from_db()
    assert (api_key.is_active, api_key.revoked_at is not None) == (False, True)
    post = api.post("/open311/v2/requests.json",
                    {"api_key": raw_key, "service_code": "pothole", "lat": "39", "long": "116"},
                    format="multipart")
    assert post.status_code == 403


def test_keys_cannot_be_deleted_in_the_admin_only_revoked(admin_client):
    api_key, _ = api_key_issue(name="App")
    response = admin_client.get(f"/admin/open311/apikey/{api_key.pk}/delete/")
    assert response.status_code == 403


def test_posting_past_the_rate_limit_is_a_429_with_retry_after(api, pothole):
    api_key, raw_key = api_key_issue(name="Busy app", rate_limit_per_minute=2)
    fields = {"api_key": raw_key, "service_code": "pothole", "lat": "39.05", "long": "116.05"}
    for _ in range(2):
        response = api.post("/open311/v2/requests.json", fields, format="multipart")
        assert response.status_code == 200
    response = api.post("/open311/v2/requests.xml", fields, format="multipart")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    root, data = parse(response)
    assert root == "errors"
    assert data[0]["code"] == "429"
    assert data[0]["description"].startswith("Too many requests with this api_key")


def test_each_key_has_its_own_budget(api, pothole):
    _, busy = api_key_issue(name="Busy", rate_limit_per_minute=1)
    _, quiet = api_key_issue(name="Quiet", rate_limit_per_minute=1)
    fields = {"service_code": "pothole", "lat": "39.05", "long": "116.05"}
    assert api.post("/open311/v2/requests.json", {"api_key": busy, **fields},
                    format="multipart").status_code == 200
    assert api.post("/open311/v2/requests.json", {"api_key": busy, **fields},
                    format="multipart").status_code == 429
    assert api.post("/open311/v2/requests.json", {"api_key": quiet, **fields},
                    format="multipart").status_code == 200


def test_the_budget_renews_each_minute():
    api_key, _ = api_key_issue(name="App", rate_limit_per_minute=1)
    api_key_throttle(api_key=api_key, now=600.0)
    with pytest.raises(RateLimited, match="Too many requests"):
        api_key_throttle(api_key=api_key, now=630.0)
    api_key_throttle(api_key=api_key, now=660.0)  # next window: allowed again

