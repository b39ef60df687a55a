"""Staff looking at a resident's personal data: each reveal is an access event, logged to
the transparency log and shown to the resident.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from consent import ledger, policy, pseudonyms
from consent.models import Purpose
from consent.rights.models import (
    AccessEvent,
)
from core.errors import Conflict, Forbidden, Invalid
from core.roles import roles_for
from core.security_log import security_event
from services.photo_grants import photo_grant
from services.selectors import access_request

if TYPE_CHECKING:
    from core.users import AnyUser, User
    from services.models import Department, ServiceRequest

# Revealable fields → the register categories that cover them (any one suffices).
REVEAL_FIELDS: dict[str, frozenset[str]] = {
    "name": frozenset({"name", "contact", "account"}),
    "email": frozenset({"email", "contact", "account"}),
    "phone": frozenset({"phone", "contact"}),
    "exact_location": frozenset({"exact_location", "address"}),
    "photos": frozenset({"photos"}),
}
CONTACT_FIELDS = ("name", "email", "phone")

# Why staff open the data; shown to the resident in plain words (consent.rights.selectors).
REVEAL_REASONS = ("contact_resident", "locate_problem", "review_photos", "coordinate_contractor")


@dataclass
class Reveal:
    event: AccessEvent
    values: dict[str, Any]


def _default_reason(fields: list[str]) -> str:
    if any(f in CONTACT_FIELDS for f in fields):
        return "contact_resident"
    if "exact_location" in fields:
        return "locate_problem"
    return "review_photos"


def _clean_reveal_input(
    fields: Iterable[str] | None, purpose: str | None, reason: str
) -> list[str]:
    errors: dict[str, list[str]] = {}
    chosen = list(dict.fromkeys(fields or []))
    if not chosen:
        errors["fields"] = [
            gettext("Choose what to show: %(fields)s.") % {"fields": ", ".join(REVEAL_FIELDS)}
        ]
    unknown = [f for f in chosen if f not in REVEAL_FIELDS]
    if unknown:
        errors["fields"] = [gettext("Unknown fields: %(fields)s.") % {"fields": ", ".join(unknown)}]
    if not purpose:
        errors["purpose"] = [gettext("Say why: choose a purpose from the data-use register.")]
    if reason and reason not in REVEAL_REASONS:
        errors["reason"] = [
            gettext("Use one of: %(values)s.") % {"values": ", ".join(REVEAL_REASONS)}
        ]
    if errors:
        raise Invalid(gettext("Personal data is shown only for a stated purpose."), errors=errors)
    return chosen


def _register_purpose(code: str, fields: list[str]) -> Purpose:
    purpose = Purpose.objects.filter(code=code, is_active=True).first()
    if purpose is None:
        message = gettext("Not an active purpose of the data-use register.")
        raise Invalid(message, errors={"purpose": [message]})
    declared = set(purpose.data_categories)
    uncovered = [f for f in fields if not (REVEAL_FIELDS[f] & declared)]
    if uncovered:
        raise Invalid(
            gettext("The register does not list %(fields)s for '%(purpose)s'.")
            % {"fields": ", ".join(uncovered), "purpose": purpose.code},
            errors={"fields": [
                gettext("Not declared for this purpose: %(fields)s.")
                % {"fields": ", ".join(uncovered)}
            ]},
        )
    return purpose


def _staff_role(actor: AnyUser, department_id: int | None) -> str:
    return roles_for(actor).departments.get(department_id or -1, "staff")


def access_event_record(
    *,
    actor: User,
    subject: User,
    fields: list[str],
    purpose: Purpose | None,
    reason: str,
    kind: str = AccessEvent.Kind.REVEAL,
    request: ServiceRequest | None = None,
    department: Department | None = None,
    role: str = "",
) -> AccessEvent:
    """Record one staff look at `subject`'s data: log entry + stored event, one transaction.

    Public so staff exports and bulk jobs that include personal data record themselves too.
    `purpose` None: no purpose of the register covers what was seen (recorded all the same).
    """
    with transaction.atomic():
        now = timezone.now()
        event_id = uuid.uuid4()
        department = department or (request.department if request is not None else None)
        role = role or _staff_role(actor, getattr(department, "pk", None))
        body = {
            "type": "access",
            "event_id": str(event_id),
            "access": kind,
            "subject": pseudonyms.log_subject(subject, nonce=str(event_id)),
            "actor_role": role,
            "department": getattr(department, "code", ""),
            "fields": sorted(fields),
            "purpose": purpose.code if purpose is not None else "",
            "legal_basis": purpose.legal_basis if purpose is not None else "",
            "reason": reason,
        }
        entry = ledger.ledger_append(kind="access", body=body, at=now)
        event = AccessEvent.objects.create(
            event_id=event_id,
            kind=kind,
            subject=subject,
            actor=actor,
            actor_role=role,
            actor_department=department,
            request=request,
            request_reference=getattr(request, "reference", ""),
            revealed_fields=sorted(fields),
            purpose=purpose,
            reason=reason,
            created_at=now,
            log_entry=entry,
        )
    security_event("personal_data.revealed", user_id=actor.pk, access_event=str(event_id),
                   purpose=purpose.code if purpose is not None else "", kind=kind)
    return event


# --- Staff pages that show personal data: each look is an access event too ------------------

# What a staff page showed → the register categories that cover it.
VIEW_CATEGORIES: dict[str, frozenset[str]] = {
    "description": frozenset({"free_text"}),
    "address": frozenset({"address", "exact_location"}),
    **REVEAL_FIELDS,
}


def _covering_purpose(fields: list[str]) -> Purpose | None:
    """The register purpose that declares what was seen: service delivery first (the reason
    staff handle requests and accounts at all), else any active purpose that covers it."""
    wanted = set().union(*(VIEW_CATEGORIES.get(f, frozenset({f})) for f in fields))
    candidates = sorted(
        Purpose.objects.filter(is_active=True, requires_consent=False),
        key=lambda p: (p.code != policy.PURPOSE_SERVICE_DELIVERY, p.code),
    )
    return next((p for p in candidates if wanted & set(p.data_categories)), None)


def request_view_record(*, actor: User, request: ServiceRequest) -> AccessEvent | None:
    """Staff opened a request of a resident (the workbench): its description and, unless it
    is a private address, its place were on the page. One event per staff member, request and
    day (the page is reopened after every action); none for a request without a reporter."""
    if request.reporter_id is None or request.reporter_id == actor.pk:
        return None
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    if AccessEvent.objects.filter(
        actor=actor, request=request, kind=AccessEvent.Kind.VIEW, created_at__gte=start
    ).exists():
        return None
    reporter = request.reporter
    if reporter is None:  # its reporter_id is set (checked above): the row is there
        return None
    fields = ["description"]
    if request.address and not request.is_private_address:
        fields.append("address")
    return access_event_record(
        actor=actor, subject=reporter, fields=fields,
        purpose=_covering_purpose(fields), reason="handle_request",
        kind=AccessEvent.Kind.VIEW, request=request,
    )


def account_view_record(*, actor: User, subject: User | None) -> AccessEvent | None:
    """An administrator opened a person's account in the administration (e-mail address,
    name and phone number on the page). None for one's own account."""
    if subject is None or subject.pk is None or subject.pk == actor.pk:
        return None
    fields = ["email"] + [f for f, value in (("name", subject.display_name),
                                             ("phone", subject.phone)) if value]
    return access_event_record(
        actor=actor, subject=subject, fields=fields, purpose=_covering_purpose(fields),
        reason="account_administration", kind=AccessEvent.Kind.ADMIN, role="administrator",
    )


def _revealed_values(
    request: ServiceRequest, reporter: User, fields: list[str], *, viewer: User
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in fields:
        if f == "name":
            values["name"] = reporter.display_name
        elif f == "email":
            values["email"] = reporter.email
        elif f == "phone":
            values["phone"] = reporter.phone
        elif f == "exact_location":
            values["exact_location"] = {
                "lat": request.lat, "lon": request.lon, "address": request.address,
            }
        elif f == "photos":
            # Links for this viewer only, short-lived: a colleague needs their own reveal.
            grants = [
                (a, photo_grant(viewer_id=viewer.pk, attachment_token=a.token))
                for a in request.attachments.order_by("created_at", "id")
            ]
            values["photos"] = [
                {
                    "token": grant,
                    "content_type": a.content_type,
                    "url": f"/api/v1/requests/{request.reference}/attachments/{grant}",
                }
                for a, grant in grants
            ]
    return values


def contact_details_reveal(
    *, actor: User, reference: str, fields: Iterable[str] | None, purpose: str | None,
    reason: str = "",
) -> Reveal:
    """Show the reporter's contact details / exact location / photos to department staff.

    Staff outside the request's department get NotFound (the same access function as the
    queue). Needs a purpose from the register that declares the fields; consent-based
    purposes also need the resident's consent at this moment (consent.policy.permits).
    Each call is one access event, visible to the resident and in the transparency log.
    """
    chosen = _clean_reveal_input(fields, purpose, reason)
    request = access_request(user=actor, reference=reference, as_staff=True)
    register_purpose = _register_purpose(str(purpose), chosen)
    reporter = request.reporter
    if reporter is None:
        raise Conflict(gettext("This request has no reporter any more (the account was erased)."))
    if register_purpose.requires_consent:
        decision = policy.permits(subject=reporter, purpose=register_purpose.code)
        if not decision:
            raise Forbidden(
                gettext(
                    "The resident has not consented to '%(purpose)s' (%(reason)s); the data "
                    "cannot be used for it."
                ) % {"purpose": register_purpose.code, "reason": decision.reason},
                errors={"purpose": [gettext("No valid consent for this purpose.")]},
            )
    event = access_event_record(
        actor=actor, subject=reporter, fields=chosen, purpose=register_purpose,
        reason=reason or _default_reason(chosen), request=request,
    )
    return Reveal(event=event, values=_revealed_values(request, reporter, chosen, viewer=actor))
