"""A data officer carries out a data-subject request received at the counter: export or
erasure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils.translation import gettext

from consent.rights.erasure import account_erase
from consent.rights.exports import export_start
from consent.rights.models import (
    DataSubjectRequest,
)
from core.errors import Conflict, Invalid
from core.security_log import security_event

if TYPE_CHECKING:
    from core.users import AnyUser

DSR_ACTIONS = ("start_export", "erase")


def dsr_action(*, dsr: DataSubjectRequest, action: str, actor: AnyUser) -> DataSubjectRequest:
    """A data officer carries out a counter request: start the export (the resident downloads
    it from their account) or erase the account (identity was checked at the counter)."""
    if action not in DSR_ACTIONS:
        raise Invalid(gettext("Unknown action."), errors={
            "action": [gettext("Use %(values)s.") % {"values": ", ".join(DSR_ACTIONS)}]})
    if dsr.status not in DataSubjectRequest.OPEN_STATUSES:
        raise Conflict(gettext("This request is already closed."))
    subject = dsr.subject
    if subject is None:
        raise Conflict(gettext("No account is linked to this request."))
    expected = {"start_export": (DataSubjectRequest.Kind.EXPORT, DataSubjectRequest.Kind.ACCESS),
                "erase": (DataSubjectRequest.Kind.ERASURE,)}[action]
    if dsr.kind not in expected:
        raise Invalid(
            gettext("'%(action)s' does not fit a request of kind '%(kind)s'.")
            % {"action": action, "kind": dsr.kind},
            errors={"action": [gettext("Not for a %(kind)s request.") % {"kind": dsr.kind}]},
        )
    if action == "start_export":
        # One transaction: the job is sent on commit, so it cannot finish before the link.
        with transaction.atomic():
            job, _ = export_start(user=subject, channel="counter")
            DataSubjectRequest.objects.filter(pk=dsr.pk).update(
                export_job=job, status=DataSubjectRequest.Status.IN_PROGRESS
            )
    else:
        account_erase(user=subject, dry_run=False, channel="counter", dsr=dsr)
    security_event("data_subject_request.actioned", user_id=actor.pk, action=action,
                   dsr=dsr.reference)
    return DataSubjectRequest.objects.get(pk=dsr.pk)
