"""Shared pieces of the authorization matrices (API and pages): the world, rows, outcomes."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from rest_framework.test import APIClient

from tests.sessions import mfa_login

OK = "ok"
ROLES = [
    "anonymous",
    "owner",
    "other_resident",
    "clerk_same",
    "clerk_other",
    "supervisor",
    "data_officer",
    "admin",
]

# Third-party or framework routes whose authorization is their library's (allauth, admin,
# static, language switch): listed so the completeness check knows they are deliberate.



@dataclass
class World:
    users: dict[str, Any]
    reference: str
    attachment_token: str
    export_job_id: str = ""
    dsr_reference: str = ""
    receipt_event_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _png() -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "PNG")
    buffer.seek(0)
    buffer.name = "photo.png"
    return buffer


def client_for_role(world: World, role: str) -> APIClient:
    client = APIClient()
    user = world.users[role]
    if user is not None:
        mfa_login(client, user)
    return client


def _export_job(world: World) -> str:
    from consent.rights.services import export_start

    job, _created = export_start(user=world.users["owner"])
    return str(job.pk)


def _dsr(world: World) -> str:
    from consent.rights.services import dsr_create

    dsr = dsr_create(kind="export", channel="web", subject=world.users["owner"])
    return str(dsr.reference)


def _receipt(world: World) -> str:
    from consent.demo import seed_register as seed
    from consent.models import ConsentEvent, Purpose
    from consent.services import consent_decide, current_notice

    seed()
    notice = current_notice(Purpose.objects.get(code="satisfaction-survey"))
    consent_decide(
        subject=world.users["owner"],
        purpose_code="satisfaction-survey",
        decision="give",
        notice_version=notice.version,
    )
    return str(ConsentEvent.objects.order_by("-pk").values_list("event_id", flat=True).first())


@dataclass(frozen=True)
class Row:
    method: str
    path: Callable[[World], str]
    expect: dict[str, int | str]
    body: dict[str, Any] | None = None
    fmt: str = "json"  # json | form | photo (multipart with one PNG)
    setup: Callable[[World], None] | None = None


def everyone(outcome: int | str) -> dict[str, int | str]:
    return dict.fromkeys(ROLES, outcome)


def signed_in(outcome: int | str = OK, anonymous: int = 401) -> dict[str, int | str]:
    return {**everyone(outcome), "anonymous": anonymous}


# A resident's own request: owner yes; staff of the department yes; everyone else 404.
OWNER_AND_DEPT = {
    "anonymous": 401,
    "owner": OK,
    "other_resident": 404,
    "clerk_same": OK,
    "clerk_other": 404,
    "supervisor": OK,
    "data_officer": 404,
    "admin": 404,
}
# A move only the reporter may make: the department's staff see the request but get 403.
OWNER_ONLY_ACTION = {**OWNER_AND_DEPT, "clerk_same": 403, "supervisor": 403}
# Staff of the request's department only.
DEPT_STAFF = {
    "anonymous": 401,
    "owner": 404,
    "other_resident": 404,
    "clerk_same": OK,
    "clerk_other": 404,
    "supervisor": OK,
    "data_officer": 404,
    "admin": 404,
}
# Any clerk/supervisor (their own departments' lists).
ANY_STAFF = {**signed_in(403), "clerk_same": OK, "clerk_other": OK, "supervisor": OK}
OFFICER = {**signed_in(403), "data_officer": OK}
OWNER_OWN = {**signed_in(OK)}  # the caller's own data: every signed-in user has some
PAGE_PUBLIC = everyone(200)
PAGE_SIGNED_IN = {**everyone(200), "anonymous": 302}


def ref(path: str) -> Callable[[World], str]:
    return lambda w: path.format(ref=w.reference, token=w.attachment_token)




def png() -> io.BytesIO:
    return _png()


def seed_register(world: World) -> None:
    from consent.demo import seed_register as seed

    seed()


def publish_head(world: World) -> None:
    from consent.ledger import publish_tree_head

    seed_register(world)
    _receipt(world)
    publish_tree_head()


def resolved(world: World) -> None:
    from services.models import Outcome, ServiceRequest, Status
    from services.services import request_transition

    request = ServiceRequest.objects.get(reference=world.reference)
    clerk = world.users["clerk_same"]
    request_transition(request=request, actor=clerk, to_status=Status.IN_PROGRESS)
    request_transition(
        request=request, actor=clerk, to_status=Status.RESOLVED, text="Filled.",
        outcome=Outcome.FIXED,
    )


def closed(world: World) -> None:
    from services.models import ServiceRequest, Status
    from services.services import request_transition

    resolved(world)
    request = ServiceRequest.objects.get(reference=world.reference)
    request_transition(request=request, actor=world.users["owner"], to_status=Status.CLOSED)


def call(client: APIClient, row: Row, path: str) -> Any:
    if row.method == "get":
        return client.get(path)
    if row.fmt == "photo":
        return client.post(path, {**(row.body or {}), "photos": [_png()]}, format="multipart")
    fmt = "multipart" if row.fmt == "form" else "json"
    return getattr(client, row.method)(path, row.body or {}, format=fmt)


def prepare(world: World, name: str, row: Row) -> None:
    if name in ("api:me-export-detail", "api:me-export-download"):
        world.export_job_id = _export_job(world)
    elif name in ("api:officer-dsr-detail", "portal:dpo-dsr-update"):
        world.dsr_reference = _dsr(world)
    elif name in ("api:me-consents-receipt", "portal:receipt"):
        world.receipt_event_id = _receipt(world)
    if row.setup is not None:
        row.setup(world)


def check(response: Any, expected: int | str, role: str) -> None:
    if expected == OK:
        assert response.status_code not in (401, 403, 404, 405), (
            f"{role} should be authorized, got {response.status_code}: {response.content[:300]}"
        )
        assert response.status_code < 500
    else:
        assert response.status_code == expected, (
            f"{role}: expected {expected}, got {response.status_code}: {response.content[:300]}"
        )
