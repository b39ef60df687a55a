"""Property-based fuzzing of our REST API from its own OpenAPI schema (schemathesis, in-process).

Authenticated as a resident and as a clerk, a bounded number of generated requests per
operation must never produce a 5xx, and every response must match the documented status
codes, content types and response schemas.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.wsgi import application
from tests.factories import CategoryFactory
from tests.sessions import session_record_mfa

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Each operation gets this many generated cases per role; CI stays well under 5 minutes.
EXAMPLES = 8

pytestmark = [pytest.mark.django_db, pytest.mark.fuzz]




def _served(environ, start_response):  # type: ignore[no-untyped-def]
    """The app as a WSGI server calls it: every real server sets REMOTE_ADDR (allauth's
    session tracking refuses a request without a client address); werkzeug's builder does not."""
    environ.setdefault("REMOTE_ADDR", "127.0.0.1")
    return application(environ, start_response)


# Loaded at collection: generating the schema needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", _served)


def _app_token(user) -> str:  # type: ignore[no-untyped-def]
    """An app session token for `user`, made the way allauth headless makes one: a session.

    Made directly (not through the login + TOTP flow) because Hypothesis runs the test body
    many times and a TOTP code may be used only once.
    """
    from importlib import import_module

    from django.conf import settings as django_settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    store = import_module(django_settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    # What allauth records when the login passed password + TOTP (staff powers need it).
    session_record_mfa(store, user)
    return store.session_key


@pytest.fixture(autouse=True)
def keep_the_test_connection_open():
    """Calls go through the real WSGI handler, whose request_finished signal would close the
    test's database connection mid-transaction; Django's own test client disconnects it the
    same way."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def city(roads):  # type: ignore[no-untyped-def]
    CategoryFactory(code="pothole", department=roads)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_as_a_resident_never_fails_and_matches_its_schema(case, resident, city) -> None:  # type: ignore[no-untyped-def]
    token = _app_token(resident)
    case.call_and_validate(headers={"X-Session-Token": token}, checks=CHECKS)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_as_a_clerk_never_fails_and_matches_its_schema(case, clerk_roads, city) -> None:  # type: ignore[no-untyped-def]
    token = _app_token(clerk_roads)
    case.call_and_validate(headers={"X-Session-Token": token}, checks=CHECKS)
