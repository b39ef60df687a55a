"""Reference data every report reads (categories, districts, departments, routing rules,
which departments have active staff), kept once per process instead of queried for every
filing and every routing.

A save or delete of any of these models (admin, seeding, management commands) drops this
process's copy at once and, after commit, writes a new generation token to the shared cache;
every process reads that token (one cache GET, at most every `CHECK_SECONDS`) and reloads
its copy when it changed, so an edit takes effect in every process within a second. A copy
older than
`MAX_AGE_SECONDS` is reloaded anyway, in case a change bypassed the model signals
(`QuerySet.update`) or the cache was down when it was made.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db import transaction
from shapely.geometry import Point, shape
from shapely.prepared import prep

from services.models import Category, Department, DepartmentMembership, District, RoutingRule

GENERATION_KEY = "civicdesk:reference:generation"
CHECK_SECONDS = 1.0
MAX_AGE_SECONDS = 60.0


@dataclass
class Snapshot:
    """One consistent copy of the reference data (read-only: shared by every caller)."""

    generation: Any
    loaded_at: float
    checked_at: float
    categories: dict[str, Category]
    departments: list[Department]  # active ones, by id
    districts: list[District]  # by id
    # category id → its active rules whose department is active, by (order, id)
    rules: dict[int, list[RoutingRule]]
    departments_by_id: dict[int, Department]  # active or not
    # Departments with no active member: routing sends their work to Triage. A membership
    # change reloads the copy; an account deactivated elsewhere counts within MAX_AGE_SECONDS.
    unstaffed_ids: frozenset[int] = frozenset()
    categories_by_id: dict[int, Category] = field(init=False)
    districts_by_id: dict[int, District] = field(init=False)
    districts_by_code: dict[str, District] = field(init=False)
    _polygons: list[tuple[District, Any]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.categories_by_id = {c.pk: c for c in self.categories.values()}
        self.districts_by_id = {d.pk: d for d in self.districts}
        self.districts_by_code = {d.code: d for d in self.districts}

    def district_at(self, *, lat: float, lon: float) -> District | None:
        if self._polygons is None:
            self._polygons = [(d, prep(shape(d.boundary))) for d in self.districts]
        point = Point(lon, lat)
        for district, polygon in self._polygons:
            if polygon.contains(point):
                return district
        return None


class _Local(threading.local):
    snapshot: Snapshot | None = None


_local = _Local()


def _load(generation: Any) -> Snapshot:
    departments = {d.pk: d for d in Department.objects.order_by("id")}
    categories = list(Category.objects.order_by("id"))
    for category in categories:
        # The default department as loaded here (routing reads its name and whether active).
        department = departments.get(category.department_id or 0)
        if department is not None:
            category.department = department
    rules: dict[int, list[RoutingRule]] = {}
    for rule in RoutingRule.objects.filter(is_active=True).order_by("order", "id"):
        department = departments.get(rule.department_id)
        if department is None or not department.is_active:
            continue
        rule.department = department
        rules.setdefault(rule.category_id, []).append(rule)
    return Snapshot(
        generation=generation,
        loaded_at=time.monotonic(),
        checked_at=time.monotonic(),
        categories={c.code: c for c in categories},
        departments=[d for d in departments.values() if d.is_active],
        districts=list(District.objects.order_by("id")),
        rules=rules,
        departments_by_id=departments,
        unstaffed_ids=frozenset(departments) - frozenset(
            DepartmentMembership.objects.filter(user__is_active=True)
            .values_list("department_id", flat=True)
            .distinct()
        ),
    )


def reference_snapshot() -> Snapshot:
    """The current reference data (reloaded if another process changed it)."""
    current = _local.snapshot
    now = time.monotonic()
    if current is not None and now - current.checked_at < CHECK_SECONDS:
        return current
    generation = cache.get(GENERATION_KEY)
    if current is None or current.generation != generation or (
        now - current.loaded_at > MAX_AGE_SECONDS
    ):
        current = _local.snapshot = _load(generation)
    current.checked_at = now
    return current


def category_by_code(code: str) -> Category | None:
    """The category with this code, active or not (the caller checks), or None."""
    return reference_snapshot().categories.get(code)


def reference_forget() -> None:
    """Drop this process's copy (the next use reloads it)."""
    _local.snapshot = None


def _bump() -> None:
    cache.set(GENERATION_KEY, uuid.uuid4().hex, None)


def on_reference_changed(sender: Any, **kwargs: Any) -> None:
    """post_save/post_delete of a reference model: this process at once, the others after
    commit (a reload before the commit would keep the old rows under the new token)."""
    reference_forget()
    _bump()
    transaction.on_commit(_bump, robust=True)


REFERENCE_MODELS = (Category, Department, DepartmentMembership, District, RoutingRule)
