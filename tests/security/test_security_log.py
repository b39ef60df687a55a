"""Security events are logged, and no log line carries personal data or tokens."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from portal.logging import RedactPersonalDataFilter, redact
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

APP = "/_allauth/app/v1"


@pytest.fixture
def security_logs(caplog):
    caplog.set_level(logging.INFO)
    return caplog


def _all_text(caplog) -> str:
    return "\n".join(
        f"{r.getMessage()} {sorted((k, str(v)) for k, v in vars(r).items())}"
        for r in caplog.records
    )


def test_a_successful_app_login_is_logged_by_account_id_only(resident, security_logs) -> None:
    response = Client().post(
        f"{APP}/auth/login",
        {"email": resident.email, "password": PASSWORD},
        content_type="application/json",
    )
    assert response.status_code == 200
    token = response.json()["meta"]["session_token"]
    events = [r for r in security_logs.records if getattr(r, "event", "").startswith("auth.")]
    assert [(r.event, r.user_id) for r in events] == [("auth.login.succeeded", resident.pk)]
    text = _all_text(security_logs)
    assert resident.email not in text
    assert token not in text


def test_a_failed_login_is_logged_without_the_email_typed(resident, security_logs) -> None:
    Client().post(
        f"{APP}/auth/login",
        {"email": resident.email, "password": "wrong password entirely"},
        content_type="application/json",
    )
    assert any(getattr(r, "event", "") == "auth.login.failed" for r in security_logs.records)
    assert resident.email not in _all_text(security_logs)


def test_an_authorization_failure_on_the_api_is_logged(security_logs) -> None:
    Client().get("/api/v1/me", headers={"X-Session-Token": "not-a-real-token"})
    assert any(getattr(r, "event", "") == "authn.required" for r in security_logs.records)


def test_granting_a_role_is_logged(clerk_roads, security_logs) -> None:
    from tests.factories import DepartmentFactory, MembershipFactory

    # An unstaffed department: no stand-in member is granted (and logged) first.
    membership = MembershipFactory(department=DepartmentFactory(staffed=False))
    granted = [r for r in security_logs.records if getattr(r, "event", "") == "role.granted"]
    assert [(r.user_id, r.department_id) for r in granted] == [
        (membership.user_id, membership.department_id)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "mail li.wei@example.org now",
        "call +86 138 1234 5678",
        "X-Session-Token: abcDEF123456",
        "password=hunter2hunter2",
    ],
)
def test_the_log_filter_redacts_personal_data_and_secrets(text: str) -> None:
    record = logging.makeLogRecord({"msg": "%s", "args": (text,)})
    RedactPersonalDataFilter().filter(record)
    out = record.getMessage()
    for secret in ("li.wei@example.org", "1234 5678", "abcDEF123456", "hunter2hunter2"):
        assert secret not in out


def test_redaction_keeps_ordinary_text() -> None:
    assert redact("request CD-7K3MQ2X routed to roads") == "request CD-7K3MQ2X routed to roads"
