"""Reads: who may see which request, and the lists built on that."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from portal.errors import NotFound
from portal.roles import roles_for
from services import workflow
from services.models import ServiceRequest


def actor_kinds(*, user: Any, request: ServiceRequest) -> frozenset[str]:
    """What `user` is in relation to `request`: resident (reporter), clerk, supervisor."""
    kinds = set()
    if user is None:
        return frozenset({workflow.SYSTEM})
    if request.reporter_id is not None and request.reporter_id == user.pk:
        kinds.add(workflow.RESIDENT)
    roles = roles_for(user)
    role = roles.departments.get(request.department_id) if request.department_id else None
    if role == "supervisor":
        kinds.update({workflow.SUPERVISOR, workflow.CLERK})
    elif role == "clerk":
        kinds.add(workflow.CLERK)
    return frozenset(kinds)


def access_request(
    *, user: Any, reference: str, for_update: bool = False, as_staff: bool = False
) -> ServiceRequest:
    """The request with this reference if `user` may see it; NotFound for everyone else.

    Residents see their own requests (and ones they follow, read-only); staff see their
    departments' requests. `as_staff=True` admits only the staff path.
    """
    qs = ServiceRequest.objects.select_related("category", "department", "district")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    request = qs.filter(reference=reference).first()
    if request is None or user is None or not user.is_authenticated:
        raise NotFound("No such request.")
    roles = roles_for(user)
    if roles.is_staff_of(request.department_id):
        return request
    if not as_staff and request.reporter_id == user.pk:
        return request
    if (
        not as_staff
        and not for_update
        and request.followers.filter(user_id=user.pk).exists()
    ):
        return request
    raise NotFound("No such request.")


def requests_of_resident(*, user: Any) -> QuerySet[ServiceRequest]:
    return ServiceRequest.objects.filter(reporter=user)
