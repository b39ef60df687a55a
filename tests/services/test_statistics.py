"""Public statistics are outcome-aware and keep small counts from being printed or worked out:
read through the public page and its open data (JSON, CSV), as anyone would."""

from __future__ import annotations

import csv
import io
import random
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from services.models import Outcome, ServiceRequest, Status
from services.statistics import CELLS, SUPPRESS_BELOW
from tests.factories import CategoryFactory, DistrictFactory, ServiceRequestFactory

pytestmark = pytest.mark.django_db

OUTCOME_OF = {
    "fixed": (Status.CLOSED, Outcome.FIXED),
    "could_not_fix": (Status.RESOLVED, Outcome.COULD_NOT_FIX),
    "not_city_responsibility": (Status.CLOSED, Outcome.NOT_CITY_RESPONSIBILITY),
    "no_action_needed": (Status.CLOSED, Outcome.NO_ACTION_NEEDED),
    "rejected": (Status.REJECTED, Outcome.REJECTED),
    "open": (Status.IN_PROGRESS, ""),
}


@pytest.fixture(autouse=True)
def _no_cached_statistics():
    cache.delete_many([f"portal:statistics:{lang}" for lang in ("en", "zh-hans")])


def file(category, what: str, n: int, *, late: bool = False, district=None, days: float = 2):
    """n requests of the category that ended as `what`, resolved `days` after filing."""
    status, outcome = OUTCOME_OF[what]
    now = timezone.now()
    created = now - timedelta(days=30)
    for _ in range(n):
        request = ServiceRequestFactory(category=category, status=status, outcome=outcome,
                                        district=district)
        resolved = created + timedelta(days=days) if outcome and status != Status.REJECTED \
            else None
        due = created + timedelta(days=1 if late else 10)
        ServiceRequest.objects.filter(pk=request.pk).update(
            created_at=created, resolved_at=resolved, due_at=due
        )


def open_data() -> dict:
    return Client().get("/statistics/open-data.json").json()


def row_of(data: dict, table: str, key: str) -> dict:
    return next(r for r in data["tables"][table]["rows"] if r["key"] == key)


def test_deadline_met_counts_only_resolutions_that_fixed_the_problem(roads):
    lights = CategoryFactory(code="streetlight", department=roads)
    file(lights, "fixed", 5)
    file(lights, "could_not_fix", 6)  # resolved before the deadline, but nothing was fixed

    row = row_of(open_data(), "categories", "streetlight")

    assert (row["fixed"], row["could_not_fix"]) == (5, 6)
    assert row["fixed_percent"] == 45
    assert row["fixed_by_deadline_percent"] == 45


def test_outcomes_are_counted_separately(roads):
    lights = CategoryFactory(code="streetlight", department=roads)
    file(lights, "fixed", 6)
    file(lights, "could_not_fix", 7)
    file(lights, "not_city_responsibility", 8)
    file(lights, "open", 9)

    row = row_of(open_data(), "categories", "streetlight")

    assert {c: row[c] for c in ("total", "open", "fixed", "could_not_fix",
                                "not_city_responsibility")} == {
        "total": 30, "open": 9, "fixed": 6, "could_not_fix": 7, "not_city_responsibility": 8}


def test_late_fixes_do_not_count_as_deadlines_met(roads):
    lights = CategoryFactory(code="streetlight", department=roads)
    file(lights, "fixed", 5)
    file(lights, "fixed", 5, late=True)

    row = row_of(open_data(), "categories", "streetlight")

    assert row["fixed_percent"] == 100
    assert row["fixed_by_deadline_percent"] == 50


def test_a_small_count_inside_a_shown_group_is_not_printed(roads):
    lights = CategoryFactory(code="streetlight", name_en="Streetlight", department=roads)
    file(lights, "fixed", 7)
    file(lights, "open", 3)

    row = row_of(open_data(), "categories", "streetlight")
    page = Client().get("/statistics/").content.decode()

    assert row["total"] == 10
    assert row["open"] is None
    streetlight = page[page.index("Streetlight</th>"):].split("</tr>")[0]
    assert ">3<" not in streetlight


def test_a_hidden_count_cannot_be_recovered_from_the_row_total(roads):
    lights = CategoryFactory(code="streetlight", department=roads)
    file(lights, "fixed", 7)
    file(lights, "open", 3)

    row = row_of(open_data(), "categories", "streetlight")

    hidden = [c for c in CELLS if row[c] is None]
    assert len(hidden) >= 2  # "open" and at least one more: total − shown is their sum only
    assert row["fixed"] is None or row["fixed_percent"] is not None
    assert row["fixed_percent"] is None  # built from a hidden count


def test_a_hidden_count_cannot_be_recovered_from_the_column_total(roads):
    big = CategoryFactory(code="big", department=roads)
    small = CategoryFactory(code="small", department=roads)
    file(big, "fixed", 20)
    file(big, "open", 10)
    file(small, "fixed", 10)
    file(small, "open", 2)

    data = open_data()
    column = [r["open"] for r in data["tables"]["categories"]["rows"]]

    assert row_of(data, "categories", "small")["open"] is None
    assert column.count(None) >= 2 or data["tables"]["categories"]["all_requests"]["open"] is None


def test_a_whole_small_group_is_hidden_and_its_total_not_derivable(roads):
    CategoryFactory(code="rare", department=roads)
    big = CategoryFactory(code="big", department=roads)
    other = CategoryFactory(code="other", department=roads)
    file(CategoryFactory(code="rare", department=roads), "fixed", 3)
    file(big, "fixed", 20)
    file(other, "fixed", 9)

    data = open_data()
    totals = [r["total"] for r in data["tables"]["categories"]["rows"]]

    assert row_of(data, "categories", "rare")["total"] is None
    assert totals.count(None) >= 2 or data["tables"]["categories"]["all_requests"]["total"] is None


@pytest.mark.parametrize("seed", range(6))
def test_no_equation_of_the_published_tables_has_exactly_one_hidden_number(roads, seed):
    rnd = random.Random(seed)
    districts = [DistrictFactory() for _ in range(3)]
    for c in range(4):
        category = CategoryFactory(code=f"c{seed}-{c}", department=roads)
        for what in OUTCOME_OF:
            file(category, what, rnd.choice([0, 0, 1, 2, 3, 5, 8]),
                 district=rnd.choice([*districts, None]))

    data = open_data()

    for table in data["tables"].values():
        rows = table["rows"]
        everything = [*rows, table["all_requests"]]
        for row in everything:  # row total = sum of the row's cells
            unknown = [c for c in ("total", *CELLS) if row[c] is None]
            assert len(unknown) != 1, row
        for cell in ("total", *CELLS):  # column = the all-requests row
            unknown = [r for r in everything if r[cell] is None]
            assert len(unknown) != 1, (cell, unknown)
        for row in everything:
            for value in [row[c] for c in ("total", *CELLS)]:
                assert value is None or value == 0 or value >= SUPPRESS_BELOW


def test_csv_and_json_carry_the_same_figures(roads):
    lights = CategoryFactory(code="streetlight", department=roads)
    file(lights, "fixed", 7)
    file(lights, "open", 3)
    file(CategoryFactory(code="bins", department=roads), "could_not_fix", 6)

    data = open_data()
    response = Client().get("/statistics/open-data.csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))

    assert response["Content-Type"].startswith("text/csv")
    for name, table in data["tables"].items():
        for row in [*table["rows"], table["all_requests"]]:
            [line] = [r for r in rows if r["dimension"] == table["dimension"]
                      and r["key"] == row["key"]]
            for column in ("total", *CELLS, "fixed_percent", "fixed_by_deadline_percent"):
                expected = "" if row[column] is None else str(row[column])
                assert line[column] == expected, (name, row["key"], column)


def test_open_data_holds_no_personal_data(roads, resident):
    lights = CategoryFactory(code="streetlight", department=roads)
    file(lights, "fixed", 6)
    ServiceRequest.objects.update(reporter=resident, address="12 Quiet Lane")

    body = Client().get("/statistics/open-data.json").content.decode()
    body += Client().get("/statistics/open-data.csv").content.decode()

    for personal in (resident.email, "Quiet Lane", "The streetlight outside"):
        assert personal not in body
