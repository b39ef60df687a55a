"""Input limits on every JSON body: too deep → 400, too big → 413, in the problem format.

Before, a body nested ~1,000 levels deep made Python's json parser raise RecursionError: a
500 with a traceback logged at ERROR, anonymously on allauth's login API and signed in on
`POST /api/v1/requests`.
"""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from tests.sessions import APP, mfa_login

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("anonymous", f"{APP}/auth/login"),
    ("anonymous", "/_allauth/browser/v1/auth/login"),
    ("anonymous", f"{APP}/auth/signup"),
    ("resident", "/api/v1/requests"),
    ("resident", "/api/v1/me/consents"),
    ("clerk", "/api/v1/staff/requests/CD-2345678/reveal"),
]


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def client_as(who: str, resident, clerk_roads) -> Client:
    client = Client()
    if who == "resident":
        mfa_login(client, resident)
    elif who == "clerk":
        mfa_login(client, clerk_roads)
    return client


@pytest.mark.parametrize("levels", [40, 1_000, 5_000, 100_000])
@pytest.mark.parametrize(("who", "path"), ENDPOINTS)
def test_deeply_nested_json_gets_a_400_problem_and_logs_no_error(
    caplog, resident, clerk_roads, who: str, path: str, levels: int
) -> None:
    client = client_as(who, resident, clerk_roads)
    body = '{"email": ' + nested(levels) + "}"
    with caplog.at_level(logging.INFO):
        response = client.post(path, body, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/json_too_deep")
    assert problem["status"] == 400
    assert {"type", "title", "status", "detail", "errors"} <= set(problem)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(("who", "path"), ENDPOINTS)
def test_json_body_over_the_size_limit_gets_a_413_problem(
    settings, resident, clerk_roads, who: str, path: str
) -> None:
    settings.CIVICDESK = {**settings.CIVICDESK, "MAX_JSON_BYTES": 1000}
    client = client_as(who, resident, clerk_roads)
    response = client.post(
        path, '{"description": "' + "x" * 2000 + '"}', content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json()["type"].endswith("/payload_too_large")


def test_nesting_within_the_limit_reaches_the_view_as_usual(resident) -> None:
    client = mfa_login(Client(), resident)
    body = '{"description": "Dark lamp", "attributes": ' + nested(20) + "}"
    response = client.post("/api/v1/requests", body, content_type="application/json")
    assert response.status_code == 400
    assert not response.json()["type"].endswith("/json_too_deep")


def test_brackets_inside_strings_do_not_count_as_nesting(resident) -> None:
    from core.json_limits import json_too_deep

    assert not json_too_deep('{"text": "' + "[[[[{{{{" * 1000 + '"}', limit=32)
    assert not json_too_deep('{"text": "a \\" ' + "[" * 40 + ' "}', limit=32)
    assert json_too_deep(nested(33), limit=32)
    assert not json_too_deep(nested(32), limit=32)


@pytest.mark.django_db(transaction=True)
def test_deeply_nested_socket_frame_gets_an_error_frame_and_the_socket_stays_open(
    resident,
) -> None:
    from tests.services.test_consumers import TIMEOUT, run, socket_for

    async def scenario():
        socket = await socket_for(resident, "/ws/resident/")
        await socket.send_to(text_data=nested(2_000))
        frame = await socket.receive_json_from(timeout=TIMEOUT)
        assert frame["type"] == "error"
        assert frame["code"] == "too_deep"
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
        await socket.disconnect()

    run(scenario)
