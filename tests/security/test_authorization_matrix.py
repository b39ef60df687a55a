"""Authorization matrix: every URL pattern × every role → the expected outcome.

The rows are checked against the URL resolver, so an endpoint added without a row here fails
`test_every_url_pattern_has_a_row_in_the_matrix`. Outcomes:

- ``OK``: the role is authorized (any answer but 401/403/404/405/5xx — a 400 or 409 for a
  body or state the test did not bother to make valid still proves the door was open);
- an int: exactly that status (401 anonymous on the API, 404 for objects one may not see,
  403 for actions one may not take, 302 to the login page for pages).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.security.matrix import (
    ANY_STAFF,
    DEPT_STAFF,
    OFFICER,
    OK,
    OWNER_AND_DEPT,
    OWNER_ONLY_ACTION,
    OWNER_OWN,
    ROLES,
    Row,
    World,
    call,
    check,
    client_for_role,
    closed,
    everyone,
    prepare,
    publish_head,
    ref,
    resolved,
    seed_register,
    signed_in,
)

pytestmark = pytest.mark.django_db

# Third-party or framework routes whose authorization is their library's (allauth, admin,
# static, language switch): listed so the completeness check knows they are deliberate.
# `admin/`, `accounts/`, `_allauth/` and the sockets are checked role × real sign-in (password,
# password + TOTP, app token) in tests/security/test_sign_in_matrix.py.
EXEMPT_PREFIXES = ("admin/", "accounts/", "_allauth/", "static/", "i18n/", "media/")

API = "/api/v1"
MATRIX: dict[str, list[Row]] = {
    "healthz": [Row("get", ref("/healthz"), everyone(200))],
    "api:me": [
        Row("get", ref(f"{API}/me"), signed_in(200)),
        Row("patch", ref(f"{API}/me"), signed_in(200), body={"display_name": "New name"}),
    ],
    "api:category-list": [Row("get", ref(f"{API}/categories"), everyone(200))],
    "api:district-list": [Row("get", ref(f"{API}/districts"), everyone(200))],
    "api:address-search": [Row("get", ref(f"{API}/addresses?q=main"), everyone(200))],
    "api:request-list": [
        Row("get", ref(f"{API}/requests"), signed_in(200)),
        Row("post", ref(f"{API}/requests"), signed_in(OK), body={"description": ""}),
    ],
    "api:request-nearby": [
        Row("get", ref(f"{API}/requests/nearby?category=pothole-m&lat=39.05&lon=116.05"),
            signed_in(200)),
    ],
    "api:request-detail": [Row("get", ref(f"{API}/requests/{{ref}}"), OWNER_AND_DEPT)],
    "api:request-comment": [
        Row("post", ref(f"{API}/requests/{{ref}}/comments"), OWNER_ONLY_ACTION,
            body={"text": "Still there."}),
    ],
    "api:request-attachments": [
        Row("post", ref(f"{API}/requests/{{ref}}/attachments"), OWNER_AND_DEPT, fmt="photo"),
    ],
    "api:request-attachment-file": [
        # The photo's own token: its reporter only. Staff need a link from their own logged
        # reveal (tests/rights/test_photo_links.py).
        Row(
            "get", ref(f"{API}/requests/{{ref}}/attachments/{{token}}"),
            {**OWNER_AND_DEPT, "clerk_same": 404, "supervisor": 404},
        ),
    ],
    "api:request-withdraw": [
        Row("post", ref(f"{API}/requests/{{ref}}/withdraw"), OWNER_ONLY_ACTION, body={}),
    ],
    "api:request-confirm": [
        Row("post", ref(f"{API}/requests/{{ref}}/confirm"), OWNER_ONLY_ACTION, body={},
            setup=resolved),
    ],
    "api:request-reopen": [
        Row("post", ref(f"{API}/requests/{{ref}}/reopen"), OWNER_ONLY_ACTION,
            body={"reason": "Not fixed."}, setup=resolved),
    ],
    "api:request-not-fixed": [
        Row("post", ref(f"{API}/requests/{{ref}}/not-fixed"), OWNER_ONLY_ACTION,
            body={"text": "Still broken."}, setup=resolved),
    ],
    "api:request-rating": [
        Row("post", ref(f"{API}/requests/{{ref}}/rating"), OWNER_ONLY_ACTION,
            body={"rating": 5}, setup=closed),
    ],
    "api:request-follow": [
        Row("post", ref(f"{API}/requests/{{ref}}/follow"), signed_in(OK), body={}),
    ],
    "api:queue": [Row("get", ref(f"{API}/queue"), ANY_STAFF)],
    "api:queue-counts": [Row("get", ref(f"{API}/queue/counts"), ANY_STAFF)],
    "api:staff-request": [Row("get", ref(f"{API}/staff/requests/{{ref}}"), DEPT_STAFF)],
    "api:staff-assign": [
        Row("post", ref(f"{API}/staff/requests/{{ref}}/assign"), DEPT_STAFF, body={}),
    ],
    "api:staff-unassign": [
        Row("post", ref(f"{API}/staff/requests/{{ref}}/unassign"), DEPT_STAFF, body={}),
    ],
    "api:staff-priority": [
        Row("post", ref(f"{API}/staff/requests/{{ref}}/priority"), DEPT_STAFF,
            body={"priority": "high", "reason": "School route."}),
    ],
    "api:staff-transition": [
        Row("post", ref(f"{API}/staff/requests/{{ref}}/transition"), DEPT_STAFF,
            body={"to_status": "in_progress"}),
    ],
    "api:staff-reply": [
        Row("post", ref(f"{API}/staff/requests/{{ref}}/reply"), DEPT_STAFF,
            body={"text": "We are on it."}),
    ],
    "api:staff-notes": [
        Row("post", ref(f"{API}/staff/requests/{{ref}}/notes"), DEPT_STAFF,
            body={"text": "Crew B."}),
    ],
    "api:staff-return": [
        Row("post", ref(f"{API}/staff/requests/{{ref}}/return"), DEPT_STAFF,
            body={"reason": "Not ours."}),
    ],
    "api:staff-duplicate": [
        Row("post", ref(f"{API}/staff/requests/{{ref}}/duplicate"), DEPT_STAFF,
            body={"original": "CD-XXXXXXX"}),
    ],
    "api:staff-reveal": [
        Row("post", ref(f"{API}/staff/requests/{{ref}}/reveal"), DEPT_STAFF,
            body={"fields": ["phone"], "purpose": "service-delivery"}),
    ],
    "api:register-purposes": [Row("get", ref(f"{API}/register/purposes"), everyone(200))],
    "api:register-purpose-notice": [
        Row("get", ref(f"{API}/register/purposes/satisfaction-survey/notices/1"), everyone(200),
            setup=seed_register),
    ],
    "api:register-processing-records": [
        Row("get", ref(f"{API}/register/processing-records"), everyone(200)),
    ],
    "api:log-tree-head": [
        Row("get", ref(f"{API}/log/tree-head"), everyone(200), setup=publish_head),
    ],
    "api:log-tree-heads": [Row("get", ref(f"{API}/log/tree-heads"), everyone(200))],
    "api:log-proof-inclusion": [
        Row("get", ref(f"{API}/log/proof/inclusion?index=0&tree_size=1"), everyone(200),
            setup=publish_head),
    ],
    "api:log-proof-consistency": [
        Row("get", ref(f"{API}/log/proof/consistency?first=1&second=1"), everyone(200),
            setup=publish_head),
    ],
    "api:log-entries": [Row("get", ref(f"{API}/log/entries?start=0&end=1"), everyone(200),
            setup=publish_head)],
    "api:me-consents": [Row("get", ref(f"{API}/me/consents"), OWNER_OWN)],
    "api:me-consents-history": [Row("get", ref(f"{API}/me/consents/history"), OWNER_OWN)],
    "api:me-consents-receipt": [
        Row(
            "get",
            lambda w: f"{API}/me/consents/receipts/{w.receipt_event_id}",
            {**signed_in(404), "owner": 200},
        ),
    ],
    "api:me-consents-decide": [
        Row("post", ref(f"{API}/me/consents/satisfaction-survey"), OWNER_OWN,
            body={"decision": "give", "notice_version": 1}, setup=seed_register),
    ],
    "api:counter-consents": [
        Row("post", ref(f"{API}/counter/consents"), ANY_STAFF, body={}),
    ],
    "api:officer-consent-events": [Row("get", ref(f"{API}/officer/consent/events"), OFFICER)],
    "api:officer-consent-export": [
        Row("get", ref(f"{API}/officer/consent/export?format=json"), OFFICER),
    ],
    "api:officer-consent-aggregates": [
        Row("get", ref(f"{API}/officer/consent/aggregates"), OFFICER),
    ],
    "api:officer-log-integrity": [Row("get", ref(f"{API}/officer/log/integrity"), OFFICER)],
    "api:me-access-log": [Row("get", ref(f"{API}/me/access-log"), OWNER_OWN)],
    "api:me-export": [
        Row("get", ref(f"{API}/me/export"), OWNER_OWN),
        Row("post", ref(f"{API}/me/export"), OWNER_OWN, body={}),
    ],
    "api:me-export-detail": [
        Row("get", lambda w: f"{API}/me/export/{w.export_job_id}",
            {**signed_in(404), "owner": 200}),
    ],
    "api:me-export-download": [
        Row("get", lambda w: f"{API}/me/export/{w.export_job_id}/download",
            {**signed_in(404), "owner": OK}),
    ],
    "api:me-delete": [
        Row("post", ref(f"{API}/me/delete"), {**signed_in(OK)}, body={"dry_run": True}),
    ],
    "api:officer-access-events": [Row("get", ref(f"{API}/officer/access-events"), OFFICER)],
    "api:officer-access-export": [
        Row("get", ref(f"{API}/officer/access-events/export?output=json"), OFFICER),
    ],
    "api:officer-dsr-list": [Row("get", ref(f"{API}/officer/data-subject-requests"), OFFICER)],
    "api:officer-dsr-detail": [
        Row("get", lambda w: f"{API}/officer/data-subject-requests/{w.dsr_reference}", OFFICER),
    ],
    "schema": [Row("get", ref("/api/schema/"), everyone(200))],
    "api-docs": [Row("get", ref("/api/docs/"), everyone(200))],
    # Open311: public reads; writes need an api_key (403 without one, for everybody).
    "open311:discovery": [Row("get", ref("/open311/discovery.json"), everyone(200))],
    "open311:discovery-v2": [Row("get", ref("/open311/v2/discovery.json"), everyone(200))],
    "open311:services": [Row("get", ref("/open311/v2/services.json"), everyone(200))],
    "open311:service": [Row("get", ref("/open311/v2/services/pothole-m.json"), everyone(200))],
    "open311:requests": [
        Row("get", ref("/open311/v2/requests.json"), everyone(200)),
        Row("post", ref("/open311/v2/requests.json"), everyone(403),
            body={"service_code": "pothole-m", "lat": "39.05", "long": "116.05"}, fmt="form"),
    ],
    "open311:request": [Row("get", ref("/open311/v2/requests/{ref}.json"), everyone(200))],
    "open311:token": [Row("get", ref("/open311/v2/tokens/abc.json"), everyone(404))],
    "open311:updates": [
        Row("get", ref("/open311/v2/servicerequestupdates.json"), everyone(200)),
    ],
    "open311:unknown": [Row("get", ref("/open311/v2/nothing.json"), everyone(404))],
}


def _url_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list, prefix: str, namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                ns = namespace
                if pattern.namespace:
                    ns = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
                walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if route.startswith(EXEMPT_PREFIXES):
                    continue
                name = pattern.name or route
                names.add(f"{namespace}:{name}" if namespace else name)

    walk(get_resolver().url_patterns, "", "")
    return names


def _cases() -> list[Any]:
    return [
        pytest.param(name, row, role, id=f"{name}-{row.method}-{role}")
        for name, rows in MATRIX.items()
        for row in rows
        for role in ROLES
    ]


@pytest.mark.parametrize(("name", "row", "role"), _cases())
def test_role_gets_the_expected_outcome(world: World, name: str, row: Row, role: str) -> None:
    prepare(world, name, row)
    response = call(client_for_role(world, role), row, row.path(world))
    check(response, row.expect[role], role)


def test_every_url_pattern_has_a_row_in_the_matrix() -> None:
    from tests.security.test_page_matrix import PAGE_MATRIX

    missing = _url_names() - set(MATRIX) - set(PAGE_MATRIX)
    assert not missing, f"endpoints without an authorization row: {sorted(missing)}"
