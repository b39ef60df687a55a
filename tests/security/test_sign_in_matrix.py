"""Every door × every way in: staff powers need a sign-in that passed the second factor.

Driven through the real login flows (Django's admin login form, allauth's web login with and
without the TOTP step, allauth's headless app login with and without it), never `force_login`:
the admin (`admin/`), the API, the officer API, the `accounts/` and `_allauth/` pages and the
queue socket. A password alone opens nothing a resident could not open.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from portal.asgi import application
from tests.factories import PASSWORD, MembershipFactory, UserFactory, current_totp_code
from tests.sessions import APP

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = "http://127.0.0.1:8000"
ROLES = ["resident", "clerk", "supervisor", "data_officer", "admin"]
SIGN_INS = [
    "admin_form_password",  # Django's own admin login form: the password alone
    "web_password",  # allauth's login, the TOTP step left out
    "web_password_totp",  # allauth's login with the TOTP step
    "app_password",  # the app's login, the TOTP step left out
    "app_password_totp",  # the app's login with the TOTP step
]
DOORS = ["admin", "api_queue", "api_officer", "api_me_staff_roles", "accounts_2fa",
         "allauth_app_session", "ws_queue"]


def make_user(role: str, roads: Any) -> Any:
    if role == "resident":
        return UserFactory()
    if role in ("clerk", "supervisor"):
        return MembershipFactory(department=roads, role=role).user
    if role == "data_officer":
        return UserFactory(is_data_officer=True)
    return UserFactory(is_superuser=True, is_staff=True)


class SignedIn:
    """A client after one of the sign-ins: a cookie session and/or an app token."""

    def __init__(self, client: Client, token: str | None = None) -> None:
        self.client = client
        self.token = token

    def get(self, path: str) -> Any:
        headers = {"X-Session-Token": self.token} if self.token else {}
        return self.client.get(path, headers=headers)


def sign_in(method: str, user: Any) -> SignedIn:
    client = Client()
    if method == "admin_form_password":
        client.post("/admin/login/?next=/admin/", {"username": user.email, "password": PASSWORD})
        return SignedIn(client)
    if method.startswith("web_"):
        response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.content
        if method == "web_password_totp" and "/2fa/authenticate" in response["Location"]:
            response = client.post("/accounts/2fa/authenticate/", {"code": current_totp_code()})
            assert response.status_code == 302, response.content
        return SignedIn(client)
    response = client.post(
        f"{APP}/auth/login", {"email": user.email, "password": PASSWORD},
        content_type="application/json",
    )
    token = response.json()["meta"].get("session_token")
    if method == "app_password_totp" and response.status_code == 401:
        response = client.post(
            f"{APP}/auth/2fa/authenticate", {"code": current_totp_code()},
            content_type="application/json", headers={"X-Session-Token": token},
        )
        assert response.status_code == 200, response.content
        token = response.json()["meta"].get("session_token", token)
    return SignedIn(client, token)


def socket_outcome(signed_in: SignedIn) -> str:
    """"ready" or the close code of /ws/queue/ opened with the sign-in's credentials."""
    headers = [(b"origin", ORIGIN.encode())]
    cookie = signed_in.client.cookies.get(settings.SESSION_COOKIE_NAME)
    if cookie is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie.value}".encode()))
    subprotocols = ["civicdesk.v1"]
    if signed_in.token:
        subprotocols.append(f"civicdesk.token.{signed_in.token}")

    async def scenario() -> str:
        socket = WebsocketCommunicator(
            application, "/ws/queue/", headers=headers, subprotocols=subprotocols
        )
        await socket.connect(timeout=3)
        # A signed-in socket says "ready" first; one that is not answers the ping with 4401.
        await socket.send_json_to({"type": "ping"})
        outcome = ""
        while not outcome:
            output = await socket.receive_output(timeout=3)
            if output["type"] == "websocket.close":
                outcome = str(output.get("code"))
            elif json.loads(output["text"])["type"] == "ready":
                outcome = "ready"
        await socket.disconnect()
        return outcome

    if cookie is None and not signed_in.token:
        return "anonymous"
    return async_to_sync(scenario)()


def door_open(door: str, signed_in: SignedIn) -> bool:
    if door == "admin":
        response = signed_in.get("/admin/")
        return response.status_code == 200
    if door == "api_queue":
        return signed_in.get("/api/v1/queue").status_code == 200
    if door == "api_officer":
        return signed_in.get("/api/v1/officer/access-events").status_code == 200
    if door == "api_me_staff_roles":
        response = signed_in.get("/api/v1/me")
        staff = {"clerk", "supervisor", "data_officer", "administrator"}
        return response.status_code == 200 and bool(staff & set(response.json()["roles"]))
    if door == "accounts_2fa":  # allauth's own page for signed-in users
        return signed_in.get("/accounts/2fa/").status_code == 200
    if door == "allauth_app_session":
        return signed_in.get(f"{APP}/auth/session").status_code == 200
    return socket_outcome(signed_in) == "ready"


def expected_open(role: str, method: str, door: str) -> bool:
    staff = role != "resident"
    passed_totp = method.endswith("_totp")
    # Residents have no second factor: allauth's password login signs them in.
    signed_in = (passed_totp or not staff) and method != "admin_form_password"
    cookie = method.startswith("web_")
    if door == "accounts_2fa":
        return signed_in and cookie
    if door == "allauth_app_session":
        return signed_in and not cookie
    if not signed_in:
        return False
    if door == "admin":
        return role == "admin" and cookie
    if door in ("api_queue", "ws_queue"):
        return role in ("clerk", "supervisor")
    if door == "api_officer":
        return role == "data_officer"
    if door == "api_me_staff_roles":
        return staff
    raise AssertionError(door)


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("method", SIGN_INS)
@pytest.mark.parametrize("role", ROLES)
def test_door_opens_only_for_the_role_and_a_sign_in_with_the_second_factor(
    roads, role: str, method: str, door: str
) -> None:
    user = make_user(role, roads)
    signed_in = sign_in(method, user)
    assert door_open(door, signed_in) is expected_open(role, method, door), (role, method, door)


def test_admin_login_form_does_not_sign_in_with_the_password_alone(admin_user) -> None:
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": admin_user.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/admin/").status_code == 302


def test_a_password_only_session_of_an_enrolled_administrator_gets_no_staff_power(
    admin_user,
) -> None:
    # Django's password login (what /admin/login/ did): TOTP is enrolled, but this session
    # never passed it.
    client = Client()
    assert client.login(username=admin_user.email, password=PASSWORD)
    assert client.get("/api/v1/me").json()["roles"] == ["resident"]
    assert client.get("/admin/").status_code != 200
    assert client.get("/admin/login/").status_code == 403


def test_a_password_only_session_of_an_enrolled_clerk_has_no_queue(clerk_roads) -> None:
    client = Client()
    assert client.login(username=clerk_roads.email, password=PASSWORD)
    assert client.get("/api/v1/queue").status_code == 403


def test_enrolling_totp_in_a_session_counts_as_passing_it(roads) -> None:
    # A new clerk signs in with the password (nothing to ask yet), then enrols TOTP: the
    # valid code just entered is the second factor of this session.
    clerk = MembershipFactory(department=roads, totp=False).user
    client = Client()
    response = client.post("/accounts/login/", {"login": clerk.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/api/v1/queue").status_code == 403
    # allauth asks for the password again before a second factor is added.
    response = client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    assert response.status_code == 302, response.content
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = page.context["form"].secret
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    response = client.post("/accounts/2fa/totp/activate/", {"code": code})
    assert response.status_code == 302, response.content
    assert client.get("/api/v1/queue").status_code == 200
