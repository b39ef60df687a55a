"""Sockets lose what their user loses, mid-connection: access is checked at every delivery.

A clerk's open request stream closes (4404 `access_ended`) the moment the request is returned
and re-routed elsewhere; a password change closes every socket of the account (4401) and ends
its other sessions and app tokens; erasure closes them too.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from services.models import ServiceRequest, Status
from services.services import request_comment, request_return, request_transition
from tests.factories import PASSWORD, MembershipFactory
from tests.services.test_consumers import (
    TIMEOUT,
    expect_close,
    open_socket,
    run,
    socket_for,
)
from tests.services.test_live import (
    configured_layer,  # noqa: F401 - fixture
    internal_note,
    routed_request,
)
from tests.sessions import APP, app_login_with_totp, mfa_login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_eager")]

PARKS_NOTE = "Parks internal: the resident's neighbour complained about them too."


def reroute(request: ServiceRequest, department) -> None:
    """What the router does with a returned request: a new department, routed again."""
    ServiceRequest.objects.filter(pk=request.pk).update(department=department)
    request.refresh_from_db()
    request_transition(request=request, actor=None, to_status=Status.ROUTED)


def test_clerk_request_socket_closes_when_the_request_is_returned_and_rerouted_away(
    configured_layer, resident, roads, parks, clerk_roads  # noqa: F811
) -> None:
    clerk_parks = MembershipFactory(department=parks).user
    request = routed_request(reporter=resident, department=roads)

    async def scenario():
        socket = await socket_for(clerk_roads, f"/ws/requests/{request.reference}/")
        await database_sync_to_async(request_return)(
            request=request, actor=clerk_roads, reason="Not a road: a park path."
        )
        await database_sync_to_async(reroute)(request, parks)
        await database_sync_to_async(internal_note)(request, clerk_parks, PARKS_NOTE)
        await database_sync_to_async(request_comment)(
            request=request, actor=resident, text="Any news? I live at number 12."
        )
        frames = await expect_close(socket, 4404)
        assert frames[-1] == {"type": "error", "code": "access_ended"}
        delivered = [f["event"] for f in frames if f.get("type") == "request.event"]
        # It heard its own return (the request was still Roads'), and nothing after it.
        assert [e["to_status"] for e in delivered] == ["returned"]
        assert PARKS_NOTE not in str(frames)
        await socket.disconnect()

    run(scenario)
    client = mfa_login(Client(), clerk_roads)
    assert client.get(f"/api/v1/staff/requests/{request.reference}").status_code == 404


def test_the_new_departments_clerk_hears_the_rerouted_request_on_its_stream(
    configured_layer, resident, roads, parks  # noqa: F811
) -> None:
    clerk_parks = MembershipFactory(department=parks).user
    request = routed_request(reporter=resident, department=parks)

    async def scenario():
        socket = await socket_for(clerk_parks, f"/ws/requests/{request.reference}/")
        await database_sync_to_async(internal_note)(request, clerk_parks, PARKS_NOTE)
        frame = await socket.receive_json_from(timeout=TIMEOUT)
        assert frame["event"]["text"] == PARKS_NOTE
        await socket.disconnect()

    run(scenario)


def test_password_change_closes_every_socket_and_ends_the_other_sessions_and_tokens(
    configured_layer, resident  # noqa: F811
) -> None:
    laptop = mfa_login(Client(), resident)
    _phone, phone_token = app_login_with_totp(resident)
    tablet, tablet_token = app_login_with_totp(resident)

    def change_password() -> None:
        response = tablet.post(
            f"{APP}/account/password/change",
            {"current_password": PASSWORD, "new_password": "a brand new passphrase 2026"},
            content_type="application/json", headers={"X-Session-Token": tablet_token},
        )
        assert response.status_code in (200, 401), response.content

    async def scenario():
        laptop_socket = await socket_for(resident, "/ws/resident/")
        phone_socket = await open_socket("/ws/resident/", origin=None)
        await phone_socket.send_json_to({"type": "auth", "token": phone_token})
        assert (await phone_socket.receive_json_from(timeout=TIMEOUT))["type"] == "ready"

        await database_sync_to_async(change_password)()

        for socket in (laptop_socket, phone_socket):
            frames = await expect_close(socket, 4401)
            assert {"type": "error", "code": "password_changed"} in frames
            await socket.disconnect()

    run(scenario)
    assert laptop.get("/api/v1/me").status_code == 401
    assert Client().get("/api/v1/me", headers={"X-Session-Token": phone_token}).status_code == 401


def test_erasing_the_account_closes_its_sockets(configured_layer, resident) -> None:  # noqa: F811
    from consent.rights.services import account_erase

    async def scenario():
        socket = await socket_for(resident, "/ws/resident/")
        await database_sync_to_async(account_erase)(user=resident, dry_run=False)
        await expect_close(socket, 4409)
        await socket.disconnect()

    run(scenario)
