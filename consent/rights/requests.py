"""Data-subject requests (GDPR Art. 15-17) as records: received, their deadline, their
status."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from dateutil.relativedelta import relativedelta
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from consent import pseudonyms
from consent.rights.models import (
    DataSubjectRequest,
)
from core.errors import Conflict, Invalid

if TYPE_CHECKING:
    from core.users import User


def dsr_deadline(received: datetime, months: int = 1) -> datetime:
    return received + relativedelta(months=months)


def dsr_create(
    *, kind: str, channel: str, subject: User | None = None, subject_email: str = "",
    recorded_by: User | None = None, outcome: str = "",
) -> DataSubjectRequest:
    """Record a data-subject request; at the counter the clerk who records it is kept."""
    errors: dict[str, list[str]] = {}
    if kind not in DataSubjectRequest.Kind.values:
        errors["kind"] = [gettext("Use one of: %(values)s.")
                          % {"values": ", ".join(DataSubjectRequest.Kind.values)}]
    if channel not in DataSubjectRequest.Channel.values:
        errors["channel"] = [gettext("Use one of: %(values)s.")
                             % {"values": ", ".join(DataSubjectRequest.Channel.values)}]
    if channel == DataSubjectRequest.Channel.COUNTER and recorded_by is None:
        errors["channel"] = [gettext("A counter request is recorded by a clerk.")]
    if subject is None and subject_email:
        subject = get_user_model().objects.filter(email__iexact=subject_email.strip()).first()
        if subject is None:
            errors["subject_email"] = [gettext("No account with this e-mail address.")]
    if errors:
        raise Invalid(gettext("The data-subject request is not valid."), errors=errors)
    now = timezone.now()
    return DataSubjectRequest.objects.create(
        subject=subject,
        subject_pseudonym=pseudonyms.pseudonym_for(subject) if subject is not None else "",
        kind=kind,
        channel=channel,
        recorded_by=recorded_by if channel == DataSubjectRequest.Channel.COUNTER else None,
        received_at=now,
        deadline=dsr_deadline(now),
        outcome=outcome,
    )


@transaction.atomic
def dsr_update(*, dsr: DataSubjectRequest, status: str | None = None,
               outcome: str | None = None) -> DataSubjectRequest:
    """Move a data-subject request on; refusals must give their ground; one extension."""
    dsr = DataSubjectRequest.objects.select_for_update().get(pk=dsr.pk)
    if status is not None and status not in DataSubjectRequest.Status.values:
        raise Invalid(gettext("Unknown status."), errors={
            "status": [gettext("Use one of: %(values)s.")
                       % {"values": ", ".join(DataSubjectRequest.Status.values)}]})
    if dsr.status not in DataSubjectRequest.OPEN_STATUSES and status not in (None, dsr.status):
        raise Conflict(gettext("This request is already closed."))
    if outcome is not None:
        dsr.outcome = outcome.strip()
    if status == DataSubjectRequest.Status.REFUSED and not dsr.outcome:
        raise Invalid(gettext("A refusal states its reasons."), errors={
            "outcome": [gettext("Give the reason and its legal ground, e.g. Art. 17(3)(b).")]})
    if status == DataSubjectRequest.Status.EXTENDED:
        if dsr.status == DataSubjectRequest.Status.EXTENDED:
            raise Conflict(
                gettext("The deadline was already extended once (Art. 12(3): two months).")
            )
        if not dsr.outcome:
            raise Invalid(gettext("An extension tells the resident why."), errors={
                "outcome": [gettext("Explain the extension to the resident.")]})
        dsr.deadline = dsr_deadline(dsr.received_at, months=3)
    if status in (DataSubjectRequest.Status.COMPLETED, DataSubjectRequest.Status.REFUSED):
        dsr.completed_at = timezone.now()
    if status is not None:
        dsr.status = status
    dsr.save()
    return dsr
