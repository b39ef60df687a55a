"""SLA: the overdue sweep (priority up one step, one `sla_breached` event per request, ever)
and the supervisors' daily digest (a department without a supervisor is in Triage's
supervisors' digest). `due_at` itself is set at submission from the category.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from smtplib import SMTPException
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from services.models import (
    OPEN_STATUSES,
    Department,
    DepartmentMembership,
    Event,
    Priority,
    ServiceRequest,
    Status,
)
from services.notifications import CHANNELS, digest_message, triage_supervisors
from services.services import event_record

logger = logging.getLogger(__name__)

DIGEST_MAX_ITEMS = 20


def _overdue(now: datetime) -> Q:
    return Q(status__in=OPEN_STATUSES, due_at__lt=now)


def request_mark_breached(*, request_id: int, now: datetime | None = None) -> Event | None:
    """Record the breach of one overdue request, once. None if there was nothing to do.

    The row lock plus `sla_breached_at` make a second sweep (or a second worker given the
    same task) a no-op. A row another transaction holds is skipped; the next sweep gets it.
    """
    now = now or timezone.now()
    with transaction.atomic():
        request = (
            ServiceRequest.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(_overdue(now), pk=request_id, sla_breached_at__isnull=True)
            .first()
        )
        if request is None:
            return None
        before = request.priority
        request.priority = min(before + 1, Priority.URGENT)
        request.sla_breached_at = now
        request.save(update_fields=["priority", "sla_breached_at"])
        return event_record(
            request=request,
            type=Event.Type.SLA_BREACHED,
            actor=None,
            visibility=Event.Visibility.INTERNAL,
            data={
                "due_at": request.due_at.isoformat() if request.due_at else None,
                "overdue_seconds": int((now - request.due_at).total_seconds())
                if request.due_at
                else None,
                "priority_from": before,
                "priority_to": request.priority,
            },
        )


def requests_mark_overdue(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """The every-minute sweep: mark open requests past `due_at`. Returns how many."""
    now = now or timezone.now()
    ids = list(
        ServiceRequest.objects.filter(_overdue(now), sla_breached_at__isnull=True)
        .order_by("due_at", "id")
        .values_list("pk", flat=True)[:batch_size]
    )
    return sum(1 for pk in ids if request_mark_breached(request_id=pk, now=now) is not None)


def department_digest(*, department: Department, now: datetime) -> dict[str, Any]:
    """Figures for one department's digest: open, overdue, breached and resolved in 24 h."""
    since = now - timedelta(hours=24)
    requests = ServiceRequest.objects.filter(department=department)
    counts = requests.aggregate(
        open=Count("id", filter=Q(status__in=OPEN_STATUSES)),
        overdue_count=Count("id", filter=_overdue(now)),
        breached_today=Count("id", filter=Q(sla_breached_at__gte=since)),
        resolved_today=Count("id", filter=Q(status=Status.RESOLVED, resolved_at__gte=since)),
    )
    overdue = list(
        requests.filter(_overdue(now))
        .order_by("-priority", "due_at", "id")
        .values("reference", "due_at", "priority", "status")[:DIGEST_MAX_ITEMS]
    )
    return {
        "department": department,
        **counts,
        "overdue": overdue,
        "more": max(counts["overdue_count"] - len(overdue), 0),
    }


def supervisor_digests_send(*, now: datetime | None = None) -> int:
    """Email each supervisor one digest of their departments, at most once a day."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    by_user: dict[int, tuple[Any, list[Any]]] = {}
    for membership in DepartmentMembership.objects.filter(
        role=DepartmentMembership.Role.SUPERVISOR,
        user__is_active=True,
        department__is_active=True,
    ).select_related("user", "department"):
        by_user.setdefault(membership.user_id, (membership.user, []))[1].append(
            membership.department
        )
    # Departments with no supervisor: their figures go to Triage's supervisors, not nowhere.
    unsupervised = list(
        Department.objects.filter(is_active=True, is_triage=False)
        .exclude(
            Exists(DepartmentMembership.objects.filter(
                department=OuterRef("pk"), role=DepartmentMembership.Role.SUPERVISOR,
                user__is_active=True,
            ))
        )
        .order_by("name_en")
    )
    if unsupervised:
        for user in triage_supervisors():
            by_user.setdefault(user.pk, (user, []))[1].extend(unsupervised)
    email = CHANNELS["email"]
    sent = 0
    for user, departments in by_user.values():
        key = f"civicdesk:digest:{user.pk}:{today.isoformat()}"
        if cache.get(key) or not email.available_for(user):
            continue
        digests = [department_digest(department=d, now=now) for d in departments]
        try:
            email.deliver(user=user, message=digest_message(user=user, departments=digests))
        except (SMTPException, OSError):
            logger.warning("digest not sent; tomorrow's will be", extra={"user_id": user.pk})
            continue
        cache.set(key, 1, 36 * 3600)
        sent += 1
    return sent
