"""Public service statistics (selectors): per category and per district, outcome-aware, with
small counts suppressed so that no suppressed number can be worked out from what is shown.

Every request of the period falls in exactly one cell of its row: still open, fixed, could not
fix, not the city's responsibility, other outcome (no action needed, duplicate), or not taken
up (rejected, withdrawn). Counts from 1 to SUPPRESS_BELOW-1 are hidden (primary suppression);
then, while a row or a column (against the all-requests row) has exactly one hidden cell,
another cell is hidden too (complementary suppression), because a single hidden cell equals
the total minus the others. Rates and medians are shown only when every count they are
computed from is shown. The page, the CSV and the JSON open data are the same table.
"""

from __future__ import annotations

import statistics as pystats
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from services.models import Category, District, Outcome, ServiceRequest, Status

SUPPRESS_BELOW = 5
PERIOD_DAYS = 365

# The cells of a row, in order; together they count every request of the row once.
CELLS = ("open", "fixed", "could_not_fix", "not_city_responsibility", "other_outcome",
         "not_taken_up")
RESOLUTION_CELLS = ("fixed", "could_not_fix", "not_city_responsibility", "other_outcome")
CELL_LABELS = {
    "total": _("Requests"),
    "open": _("Still open"),
    "fixed": _("Fixed"),
    "could_not_fix": _("Could not fix"),
    "not_city_responsibility": _("Not the city's responsibility"),
    "other_outcome": _("Other outcome (no action needed, duplicate)"),
    "not_taken_up": _("Not taken up (rejected, withdrawn)"),
}
DEFINITIONS = {
    "fixed_percent": _("Fixed, as a share of all resolved requests."),
    "fixed_by_deadline_percent": _(
        "Fixed by the deadline, as a share of all resolved requests: a resolution that did not "
        "fix the problem never counts as a deadline met."
    ),
    "median_days_to_fix": _("Median days from report to a resolution that fixed the problem."),
}
_OPEN = (Status.SUBMITTED, Status.ROUTED, Status.IN_PROGRESS, Status.REOPENED, Status.RETURNED)
_OUTCOME_CELL = {
    Outcome.FIXED: "fixed",
    Outcome.COULD_NOT_FIX: "could_not_fix",
    Outcome.NOT_CITY_RESPONSIBILITY: "not_city_responsibility",
    Outcome.NO_ACTION_NEEDED: "other_outcome",
    Outcome.DUPLICATE: "other_outcome",
}


@dataclass
class StatRow:
    key: str
    label: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("total", *CELLS), 0))
    fixed_by_deadline: int = 0
    fix_hours: list[float] = field(default_factory=list)
    hidden: set[str] = field(default_factory=set)

    def shown(self, cell: str) -> int | None:
        return None if cell in self.hidden else self.counts[cell]

    @property
    def cell_values(self) -> list[int | None]:
        return [self.shown(cell) for cell in CELLS]

    @property
    def total(self) -> int | None:
        return self.shown("total")

    @property
    def suppressed(self) -> bool:
        """The whole row is too small to show anything."""
        return _small(self.counts["total"])

    @property
    def resolved(self) -> int:
        return sum(self.counts[c] for c in RESOLUTION_CELLS)

    def _resolutions_shown(self) -> bool:
        return not any(c in self.hidden for c in RESOLUTION_CELLS) and self.resolved > 0

    @property
    def fixed_percent(self) -> int | None:
        if not self._resolutions_shown():
            return None
        return round(100 * self.counts["fixed"] / self.resolved)

    @property
    def fixed_by_deadline_percent(self) -> int | None:
        # The on-time count and its complement within the resolutions are cells too.
        if not self._resolutions_shown():
            return None
        late = self.resolved - self.fixed_by_deadline
        if _small(self.fixed_by_deadline) or _small(late):
            return None
        return round(100 * self.fixed_by_deadline / self.resolved)

    @property
    def median_days_to_fix(self) -> float | None:
        if "fixed" in self.hidden or len(self.fix_hours) < SUPPRESS_BELOW:
            return None
        return round(pystats.median(self.fix_hours) / 24, 1)

    def as_data(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": str(self.label),
            **{cell: self.shown(cell) for cell in ("total", *CELLS)},
            "fixed_percent": self.fixed_percent,
            "fixed_by_deadline_percent": self.fixed_by_deadline_percent,
            "median_days_to_fix": self.median_days_to_fix,
        }


@dataclass
class StatTable:
    dimension: str
    rows: list[StatRow]
    total: StatRow


def _small(count: int) -> bool:
    return 0 < count < SUPPRESS_BELOW


def _hide_one_more(candidates: list[tuple[StatRow, str]]) -> bool:
    """Hide one more cell among the candidates: the smallest non-zero one, else a zero (to a
    reader a hidden zero is as unknown as any hidden number). False if all are hidden."""
    shown = [(row, cell) for row, cell in candidates if cell not in row.hidden]
    if not shown:
        return False
    nonzero = [(row, cell) for row, cell in shown if row.counts[cell] > 0]
    row, cell = min(nonzero or shown, key=lambda rc: (rc[0].counts[rc[1]], rc[0].key))
    row.hidden.add(cell)
    return True


def _hide(row: StatRow, cell: str) -> bool:
    if cell in row.hidden:
        return False
    row.hidden.add(cell)
    return True


def suppress(tables: list[list[StatRow]], total: StatRow) -> None:
    """Primary and complementary suppression over tables that share one all-requests row.

    A row's total is the sum of its cells, and each column of a table sums to the shared
    all-requests row: no such equation may be left with exactly one unknown.
    """
    everything = [row for rows in tables for row in rows] + [total]
    for row in everything:
        if _small(row.counts["total"]):
            row.hidden.update(("total", *CELLS))
        row.hidden.update(cell for cell in CELLS if _small(row.counts[cell]))
    changed = True
    while changed:
        changed = False
        for row in everything:
            hidden = [c for c in CELLS if c in row.hidden]
            if len(hidden) + ("total" in row.hidden) == 1:
                # One unknown in "total = sum of cells": hide a second one.
                changed |= _hide_one_more([(row, c) for c in CELLS]) or _hide(row, "total")
        for rows in tables:
            for cell in ("total", *CELLS):
                column = [*rows, total]
                if sum(cell in r.hidden for r in column) == 1:
                    changed |= _hide_one_more([(r, cell) for r in rows]) or _hide(total, cell)


def _period_start(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=PERIOD_DAYS)


def _table(dimension: str, key: str, labels: dict[Any, tuple[str, str]],
           since: datetime) -> StatTable:
    rows: dict[Any, StatRow] = {}
    total = StatRow(key="all", label=str(_("All requests")))
    requests = (
        ServiceRequest.objects.filter(created_at__gte=since, category__is_public=True)
        .values_list(key, "status", "outcome", "created_at", "resolved_at", "due_at")
    )
    for group, status, outcome, created, resolved, due in requests.iterator():
        code, label = labels.get(group, ("", "—"))
        row = rows.setdefault(group, StatRow(key=code, label=label))
        if status in _OPEN:
            cell = "open"
        elif status in (Status.REJECTED, Status.WITHDRAWN):
            cell = "not_taken_up"
        else:
            cell = _OUTCOME_CELL.get(outcome, "other_outcome")
        for target in (row, total):
            target.counts["total"] += 1
            target.counts[cell] += 1
            if cell == "fixed" and resolved is not None:
                target.fix_hours.append((resolved - created).total_seconds() / 3600)
                if due is None or resolved <= due:
                    target.fixed_by_deadline += 1
    ordered = sorted(rows.values(), key=lambda r: (-r.counts["total"], str(r.label)))
    return StatTable(dimension=dimension, rows=ordered, total=total)


def service_statistics(*, now: datetime | None = None) -> dict[str, StatTable]:
    """The public aggregates per category and per district, suppression applied (labels in
    the active language)."""
    since = _period_start(now)
    categories = {c.pk: (c.code, c.name) for c in Category.objects.filter(is_public=True)}
    districts: dict[Any, tuple[str, str]] = {
        d.pk: (d.code, d.name) for d in District.objects.all()
    }
    districts[None] = ("none", str(_("No district given")))
    tables = {
        "categories": _table("category", "category_id", categories, since),
        "districts": _table("district", "district_id", districts, since),
    }
    # Both tables count the same requests: one all-requests row, suppressed jointly, so that
    # neither table's total gives away what the other hides.
    shared = tables["categories"].total
    tables["districts"].total = shared
    suppress([t.rows for t in tables.values()], shared)
    for table in tables.values():
        table.rows.sort(key=lambda r: (r.suppressed, -r.counts["total"], str(r.label)))
    return tables


def open_data(tables: dict[str, StatTable], *, now: datetime | None = None) -> dict[str, Any]:
    """The same aggregates as machine-readable open data (no personal data; suppressed = null)."""
    end = now or timezone.now()
    return {
        "period": {"from": _period_start(end).date().isoformat(), "to": end.date().isoformat()},
        "suppress_below": SUPPRESS_BELOW,
        "suppressed_value": None,
        "cells": {k: str(v) for k, v in CELL_LABELS.items()},
        "definitions": {k: str(v) for k, v in DEFINITIONS.items()},
        "tables": {
            name: {
                "dimension": table.dimension,
                "rows": [row.as_data() for row in table.rows],
                "all_requests": table.total.as_data(),
            }
            for name, table in tables.items()
        },
    }


CSV_COLUMNS = ("dimension", "key", "label", "total", *CELLS, "fixed_percent",
               "fixed_by_deadline_percent", "median_days_to_fix")


def open_data_rows(tables: dict[str, StatTable]) -> list[list[str]]:
    """CSV rows (header first); a suppressed value is an empty field."""
    out = [list(CSV_COLUMNS)]
    for table in tables.values():
        for row in [*table.rows, table.total]:
            data = {"dimension": table.dimension, **row.as_data()}
            out.append(["" if data[c] is None else str(data[c]) for c in CSV_COLUMNS])
    return out
