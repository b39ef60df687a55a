"""Staff opening a resident's request (the workbench page, the staff API's detail) is a look at
personal data that must be recorded. The data-rights app records it (consent.rights.reveals);
it registers its recorder here at start-up, so services need not import it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from services.models import ServiceRequest

if TYPE_CHECKING:
    from core.users import User

Recorder = Callable[..., Any]

RECORDERS: list[Recorder] = []


def staff_view_recorder_register(*, recorder: Recorder) -> None:
    """Add `recorder(actor=..., request=...)` (once), called for every staff view."""
    if recorder not in RECORDERS:
        RECORDERS.append(recorder)


def staff_view_record(*, actor: User, request: ServiceRequest) -> None:
    """Staff `actor` was shown `request` (already fetched through `access_request`)."""
    for recorder in RECORDERS:
        recorder(actor=actor, request=request)
