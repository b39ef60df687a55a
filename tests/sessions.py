"""Signed-in test clients whose sessions carry allauth's real authentication records.

Staff powers need the session's own sign-in to have passed the second factor
(`core.roles.session_passed_mfa`). Tests that are *about* signing in drive the real flows
(tests/security/test_staff_sign_in.py); the rest use `mfa_login`, which writes the records
with allauth's own `record_authentication`, exactly as a password + TOTP login does.
"""

from __future__ import annotations

from typing import Any

from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.models import Authenticator
from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest
from django.test import Client

from tests.factories import PASSWORD, current_totp_code

APP = "/_allauth/app/v1"


def session_record_mfa(session: Any, user: Any) -> None:
    """Add what a password + TOTP login records to `session` (saved)."""
    request = HttpRequest()
    request.session = session
    record_authentication(request, user, "password", email=user.email)
    authenticator = Authenticator.objects.filter(
        user=user, type=Authenticator.Type.TOTP
    ).first()
    if authenticator is not None:  # residents have no second factor to record
        record_authentication(request, user, "mfa", id=authenticator.pk, type="totp")
    session.save()


def mfa_login(client: Client, user: Any) -> Client:
    """`client.force_login(user)`, plus the session's password + TOTP authentication records."""
    client.force_login(user)
    session = client.session
    assert str(session[SESSION_KEY]) == str(user.pk)
    session_record_mfa(session, user)
    return client


def app_login_with_totp(user: Any, client: Client | None = None) -> tuple[Client, str]:
    """The app's real sign-in: password, then (for staff) the TOTP code. Returns the token."""
    client = client or Client()
    response = client.post(
        f"{APP}/auth/login", {"email": user.email, "password": PASSWORD},
        content_type="application/json",
    )
    token = response.json().get("meta", {}).get("session_token")
    if response.status_code == 401:  # a pending "mfa_authenticate" flow
        response = client.post(
            f"{APP}/auth/2fa/authenticate", {"code": current_totp_code()},
            content_type="application/json", headers={"X-Session-Token": token},
        )
    assert response.status_code == 200, response.content
    return client, response.json()["meta"]["session_token"]


def app_login_password_only(user: Any, client: Client | None = None) -> str:
    """The app's sign-in up to the password step: the token of a session that has *not*
    passed the second factor (what a stolen password gets)."""
    client = client or Client()
    response = client.post(
        f"{APP}/auth/login", {"email": user.email, "password": PASSWORD},
        content_type="application/json",
    )
    return str(response.json()["meta"]["session_token"])
