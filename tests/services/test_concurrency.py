"""Concurrent transitions on one request: one winner, one 409, never a lost update (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from core.errors import Conflict
from services.models import Event, Status
from services.services import request_transition

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(request, moves):
    """Run each (actor, to_status, text, outcome) in its own thread and connection at once."""
    barrier = threading.Barrier(len(moves))
    results: list[object] = [None] * len(moves)

    def run(i, actor, to_status, text, outcome):
        try:
            barrier.wait(timeout=10)
            moved = request_transition(
                request=request, actor=actor, to_status=to_status, text=text, outcome=outcome
            )
            results[i] = moved.status
        except Conflict as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, *move)) for i, move in enumerate(moves)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_clerks_starting_the_same_request_make_one_winner_and_one_409(
    make_request, clerk_roads, supervisor_roads
):
    request = make_request(status=Status.ROUTED)
    results = _race(
        request,
        [
            (clerk_roads, Status.IN_PROGRESS, "", ""),
            (supervisor_roads, Status.IN_PROGRESS, "", ""),
        ],
    )
    winners = [r for r in results if r == Status.IN_PROGRESS]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1
    assert len(conflicts) == 1
    assert conflicts[0].extra["current_status"] == Status.IN_PROGRESS
    request.refresh_from_db()
    assert request.status == Status.IN_PROGRESS
    assert request.version == 2
    assert Event.objects.filter(request=request).count() == 1


def test_resident_withdrawing_while_clerk_starts_never_loses_an_update(
    make_request, resident, clerk_roads
):
    request = make_request(status=Status.ROUTED)
    results = _race(
        request,
        [
            (resident, Status.WITHDRAWN, "", ""),
            (clerk_roads, Status.IN_PROGRESS, "", ""),
        ],
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1
    request.refresh_from_db()
    winner = next(r for r in results if not isinstance(r, Conflict))
    assert request.status == winner
    events = list(Event.objects.filter(request=request))
    assert [(e.from_status, e.to_status) for e in events] == [(Status.ROUTED, winner)]
    assert request.version == 2
