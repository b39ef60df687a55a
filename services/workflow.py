"""The one workflow of a service request: which status may go to which, and who may move it.

    submitted → routed → in_progress → resolved → closed   (routed → resolved in one step too)
         ↘ rejected (with reason)   resolved → reopened (by the resident) → in_progress
    routed/in_progress → returned (wrong department; back to routing with a reason)
    routed/in_progress/reopened → closed as a duplicate of another request (staff)

`request_transition` in services/services.py is the only code that applies a move.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.models import Outcome, Status

# Actor kinds, relative to one request.
RESIDENT = "resident"  # the reporter
CLERK = "clerk"  # a clerk of the request's department
SUPERVISOR = "supervisor"  # a supervisor of the request's department
SYSTEM = "system"  # routing, SLA and auto-close tasks

STAFF = frozenset({CLERK, SUPERVISOR})


@dataclass(frozen=True)
class Move:
    name: str
    source: str
    target: str
    actors: frozenset[str]
    needs_text: bool = False  # reason / public reply required
    needs_outcome: bool = False
    public: bool = True  # the resident sees this move on their timeline
    # Only through its own service (e.g. `request_mark_duplicate`), never the generic one.
    dedicated: bool = False


_MOVES = [
    Move("route", Status.SUBMITTED, Status.ROUTED, frozenset({SYSTEM})),
    Move("route", Status.RETURNED, Status.ROUTED, frozenset({SYSTEM})),
    Move("withdraw", Status.SUBMITTED, Status.WITHDRAWN, frozenset({RESIDENT})),
    Move("withdraw", Status.ROUTED, Status.WITHDRAWN, frozenset({RESIDENT})),
    Move("start", Status.ROUTED, Status.IN_PROGRESS, STAFF),
    Move("start", Status.REOPENED, Status.IN_PROGRESS, STAFF),
    Move("resolve", Status.IN_PROGRESS, Status.RESOLVED, STAFF, needs_text=True,
         needs_outcome=True),
    # A quick job (or "not ours") is resolved at once, without a "start" first.
    Move("resolve", Status.ROUTED, Status.RESOLVED, STAFF, needs_text=True, needs_outcome=True),
    Move("reject", Status.SUBMITTED, Status.REJECTED, frozenset({SUPERVISOR}), needs_text=True),
    Move("reject", Status.ROUTED, Status.REJECTED, STAFF, needs_text=True),
    Move("reject", Status.IN_PROGRESS, Status.REJECTED, STAFF, needs_text=True),
    Move("return", Status.ROUTED, Status.RETURNED, STAFF, needs_text=True, public=False),
    Move("return", Status.IN_PROGRESS, Status.RETURNED, STAFF, needs_text=True, public=False),
    Move("return", Status.REOPENED, Status.RETURNED, STAFF, needs_text=True, public=False),
    # The resident confirms ("fixed"), a supervisor closes, or auto-close does after N days.
    Move("close", Status.RESOLVED, Status.CLOSED, frozenset({RESIDENT, SYSTEM, SUPERVISOR})),
    Move("reopen", Status.RESOLVED, Status.REOPENED, frozenset({RESIDENT}), needs_text=True),
    # Marking a duplicate closes it with outcome "duplicate" (request_mark_duplicate).
    Move("duplicate", Status.ROUTED, Status.CLOSED, STAFF, dedicated=True),
    Move("duplicate", Status.IN_PROGRESS, Status.CLOSED, STAFF, dedicated=True),
    Move("duplicate", Status.REOPENED, Status.CLOSED, STAFF, dedicated=True),
]

# Outcomes a clerk may record when resolving ("closed" is never counted as "fixed").
RESOLUTION_OUTCOMES = (
    Outcome.FIXED,
    Outcome.NOT_CITY_RESPONSIBILITY,
    Outcome.NO_ACTION_NEEDED,
    Outcome.COULD_NOT_FIX,
    Outcome.DUPLICATE,
)

# Signalen-style table: status → {target status → Move}.
ALLOWED_STATUS_CHANGES: dict[str, dict[str, Move]] = {}
for _move in _MOVES:
    if _move.target in ALLOWED_STATUS_CHANGES.get(_move.source, {}):
        # One (source, target) pair is one move; give it all its actors instead.
        raise ValueError(f"duplicate move {_move.source} -> {_move.target}")
    ALLOWED_STATUS_CHANGES.setdefault(_move.source, {})[_move.target] = _move
for _status in Status.values:
    ALLOWED_STATUS_CHANGES.setdefault(_status, {})


def find_move(*, source: str, target: str) -> Move | None:
    return ALLOWED_STATUS_CHANGES.get(source, {}).get(target)


def allowed_moves(*, source: str, actor_kinds: frozenset[str]) -> list[Move]:
    """The moves these actor kinds may make from `source`, in table order."""
    return [m for m in ALLOWED_STATUS_CHANGES.get(source, {}).values() if m.actors & actor_kinds]


def all_moves() -> list[Move]:
    return list(_MOVES)
