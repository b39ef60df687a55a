"""The mobile app's account flow through allauth headless, end to end."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from portal.accounts.models import User

pytestmark = pytest.mark.django_db

APP = "/_allauth/app/v1"
PASSWORD = "a long enough passphrase 42"


def _code_from_last_mail() -> str:
    body = mail.outbox[-1].body
    match = re.search(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", body, re.MULTILINE)
    assert match, body
    return match.group(1)


def _signup(client: Client, email: str = "new.resident@example.org") -> str:
    response = client.post(
        f"{APP}/auth/signup",
        {"email": email, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 401, response.content
    body = response.json()
    assert any(f["id"] == "verify_email" and f.get("is_pending") for f in body["data"]["flows"])
    return body["meta"]["session_token"]


def test_app_can_sign_up_verify_call_me_and_lose_access_after_logout() -> None:
    client = Client()
    token = _signup(client)
    verify = client.post(
        f"{APP}/auth/email/verify",
        {"key": _code_from_last_mail()},
        content_type="application/json",
        headers={"X-Session-Token": token},
    )
    assert verify.status_code == 200, verify.content
    token = verify.json()["meta"].get("session_token", token)

    me = client.get("/api/v1/me", headers={"X-Session-Token": token})
    assert me.status_code == 200
    assert me.json()["email"] == "new.resident@example.org"
    assert me.json()["roles"] == ["resident"]

    logout = client.delete(f"{APP}/auth/session", headers={"X-Session-Token": token})
    assert logout.status_code == 401
    assert client.get("/api/v1/me", headers={"X-Session-Token": token}).status_code == 401


def test_signup_with_a_taken_email_creates_no_second_account_and_tells_the_owner(resident) -> None:
    # Account enumeration is prevented (OWASP ASVS 2.5): the answer looks like any signup,
    # and the clear message goes to the mailbox of the person who owns the address.
    client = Client()
    response = client.post(
        f"{APP}/auth/signup",
        {"email": resident.email, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 401
    assert User.objects.filter(email=resident.email).count() == 1
    assert mail.outbox[-1].to == [resident.email]
    assert "already" in mail.outbox[-1].body


def test_signup_with_a_common_password_is_refused_with_a_field_error() -> None:
    response = Client().post(
        f"{APP}/auth/signup",
        {"email": "weak@example.org", "password": "password123"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert {e["param"] for e in response.json()["errors"]} == {"password"}
    assert not User.objects.filter(email="weak@example.org").exists()


def test_signup_with_an_invalid_email_is_refused() -> None:
    response = Client().post(
        f"{APP}/auth/signup",
        {"email": "not-an-email", "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert User.objects.count() == 0


def test_login_with_a_wrong_password_is_refused(resident) -> None:
    response = Client().post(
        f"{APP}/auth/login",
        {"email": resident.email, "password": "not the password at all"},
        content_type="application/json",
    )
    assert response.status_code == 400


def test_a_wrong_verification_code_is_refused_and_leaves_the_email_unverified() -> None:
    client = Client()
    token = _signup(client)
    response = client.post(
        f"{APP}/auth/email/verify",
        {"key": "WRONG1"},
        content_type="application/json",
        headers={"X-Session-Token": token},
    )
    assert response.status_code == 400
    assert not User.objects.get(email="new.resident@example.org").emailaddress_set.filter(
        verified=True
    ).exists()


@pytest.mark.parametrize("token", ["garbage", "x" * 300, ""])
def test_api_answers_401_for_a_missing_or_garbage_session_token(token: str) -> None:
    response = Client().get("/api/v1/me", headers={"X-Session-Token": token} if token else {})
    assert response.status_code == 401
    assert response.json()["status"] == 401


def test_password_of_64_characters_is_accepted() -> None:
    response = Client().post(
        f"{APP}/auth/signup",
        {"email": "long@example.org", "password": "p" * 30 + " correct horse battery staple!"},
        content_type="application/json",
    )
    assert response.status_code == 401  # pending email verification, account created
    assert User.objects.filter(email="long@example.org").exists()


def test_staff_app_login_asks_for_the_second_factor_before_giving_access(clerk_roads) -> None:
    from tests.factories import PASSWORD as STAFF_PASSWORD
    from tests.factories import current_totp_code

    client = Client()
    login = client.post(
        f"{APP}/auth/login",
        {"email": clerk_roads.email, "password": STAFF_PASSWORD},
        content_type="application/json",
    )
    assert login.status_code == 401
    flows = login.json()["data"]["flows"]
    assert any(f["id"] == "mfa_authenticate" and f.get("is_pending") for f in flows)
    token = login.json()["meta"]["session_token"]
    assert client.get("/api/v1/me", headers={"X-Session-Token": token}).status_code == 401

    second = client.post(
        f"{APP}/auth/2fa/authenticate",
        {"code": current_totp_code()},
        content_type="application/json",
        headers={"X-Session-Token": token},
    )
    assert second.status_code == 200, second.content
    token = second.json()["meta"]["session_token"]  # a new token once fully authenticated
    me = client.get("/api/v1/me", headers={"X-Session-Token": token})
    assert me.json()["roles"] == ["resident", "clerk"]
