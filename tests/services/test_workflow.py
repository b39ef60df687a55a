"""Every (from, to, actor kind) triple of the workflow table, through request_transition."""

from __future__ import annotations

import itertools

import pytest

from core.errors import Conflict, Forbidden
from services import workflow
from services.models import Event, Outcome, Status
from services.services import request_transition

ACTOR_KINDS = [workflow.RESIDENT, workflow.CLERK, workflow.SUPERVISOR, workflow.SYSTEM]
TRIPLES = list(itertools.product(Status.values, Status.values, ACTOR_KINDS))


def _expected(source: str, target: str, kind: str) -> str:
    move = workflow.find_move(source=source, target=target)
    if move is None or move.dedicated:
        return "409"
    # Supervisors are clerks too: every clerk move is theirs.
    kinds = {kind, workflow.CLERK} if kind == workflow.SUPERVISOR else {kind}
    return "ok" if move.actors & kinds else "403"


@pytest.fixture
def actors(resident, clerk_roads, supervisor_roads):
    return {
        workflow.RESIDENT: resident,
        workflow.CLERK: clerk_roads,
        workflow.SUPERVISOR: supervisor_roads,
        workflow.SYSTEM: None,
    }


@pytest.mark.parametrize(("source", "target", "kind"), TRIPLES)
def test_workflow_table_decides_every_move(make_request, actors, source, target, kind):
    request = make_request(status=source)
    move = workflow.find_move(source=source, target=target)
    text = "A reason the resident can read." if move and move.needs_text else ""
    outcome = Outcome.FIXED if move and move.needs_outcome else ""
    version_before = request.version
    expected = _expected(source, target, kind)

    if expected == "ok":
        moved = request_transition(
            request=request, actor=actors[kind], to_status=target, text=text, outcome=outcome
        )
        assert moved.status == target
        assert moved.version == version_before + 1
        event = Event.objects.get(request=request)
        assert (event.from_status, event.to_status) == (source, target)
        return

    error = Conflict if expected == "409" else Forbidden
    with pytest.raises(error) as raised:
        request_transition(
            request=request, actor=actors[kind], to_status=target, text=text, outcome=outcome
        )
    request.refresh_from_db()
    assert request.status == source
    assert request.version == version_before
    assert not Event.objects.filter(request=request).exists()
    assert raised.value.extra["current_status"] == source
    assert "allowed_moves" in raised.value.extra


def test_every_move_of_the_table_is_covered_by_the_triples():
    covered = {(s, t) for s, t, _ in TRIPLES}
    assert {(m.source, m.target) for m in workflow.all_moves()} <= covered


def test_someone_unrelated_to_the_request_gets_403_for_a_real_move(make_request, other_resident):
    request = make_request(status=Status.SUBMITTED)
    with pytest.raises(Forbidden):
        request_transition(request=request, actor=other_resident, to_status=Status.WITHDRAWN)


def test_clerk_of_another_department_cannot_start_work(make_request, clerk_parks):
    request = make_request(status=Status.ROUTED)
    with pytest.raises(Forbidden):
        request_transition(request=request, actor=clerk_parks, to_status=Status.IN_PROGRESS)


def test_resolving_without_a_public_reply_or_outcome_is_refused_and_changes_nothing(
    make_request, clerk_roads
):
    from core.errors import Invalid

    request = make_request(status=Status.IN_PROGRESS)
    with pytest.raises(Invalid) as raised:
        request_transition(request=request, actor=clerk_roads, to_status=Status.RESOLVED)
    assert set(raised.value.errors) == {"text", "outcome"}
    request.refresh_from_db()
    assert request.status == Status.IN_PROGRESS


def test_resolving_cannot_claim_withdrawn_as_an_outcome(make_request, clerk_roads):
    from core.errors import Invalid

    request = make_request(status=Status.IN_PROGRESS)
    with pytest.raises(Invalid):
        request_transition(
            request=request,
            actor=clerk_roads,
            to_status=Status.RESOLVED,
            text="Done.",
            outcome=Outcome.WITHDRAWN,
        )


def test_resolution_records_an_honest_outcome(make_request, clerk_roads):
    request = make_request(status=Status.IN_PROGRESS)
    moved = request_transition(
        request=request,
        actor=clerk_roads,
        to_status=Status.RESOLVED,
        text="This road belongs to the province.",
        outcome=Outcome.NOT_CITY_RESPONSIBILITY,
    )
    assert moved.outcome == Outcome.NOT_CITY_RESPONSIBILITY
    assert moved.resolved_at is not None


def test_stale_expected_version_is_a_409_with_the_current_version(make_request, clerk_roads):
    request = make_request(status=Status.ROUTED)
    with pytest.raises(Conflict) as raised:
        request_transition(
            request=request,
            actor=clerk_roads,
            to_status=Status.IN_PROGRESS,
            expected_version=request.version + 5,
        )
    assert raised.value.extra["version"] == request.version
