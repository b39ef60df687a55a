"""The per-process copy of categories, districts, departments and rules follows every edit."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from services import reference
from services.models import Category, Department
from services.reference import category_by_code, reference_snapshot
from tests.factories import CategoryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pothole(roads):
    return CategoryFactory(code="pothole", name_en="Pothole", department=roads)


def test_within_a_second_the_shared_generation_is_not_read_again(pothole, monkeypatch):
    category_by_code("pothole")
    monkeypatch.setattr(cache, "get", lambda *a, **k: pytest.fail("generation read again"))

    assert category_by_code("pothole").pk == pothole.pk


def test_a_second_lookup_reads_no_table(pothole):
    category_by_code("pothole")
    with CaptureQueriesContext(connection) as queries:
        assert category_by_code("pothole").pk == pothole.pk
    assert len(queries) == 0


def test_a_category_closed_in_the_admin_is_closed_for_the_next_lookup(pothole):
    assert category_by_code("pothole").is_active

    pothole.is_active = False
    pothole.save()

    assert not category_by_code("pothole").is_active


def test_a_department_added_is_routable_at_once(roads):
    reference_snapshot()
    parks = Department.objects.create(code="parks", name_en="Parks")

    assert parks.pk in {d.pk for d in reference_snapshot().departments}


def test_a_change_another_process_made_is_seen_through_the_shared_generation(
    pothole, monkeypatch
):
    category_by_code("pothole")
    # Another process saved it: its signal wrote a new generation to the shared cache.
    Category.objects.filter(pk=pothole.pk).update(name_en="Road damage")
    cache.set(reference.GENERATION_KEY, "another-process")
    monkeypatch.setattr(reference, "CHECK_SECONDS", 0.0)  # the next check is due

    assert category_by_code("pothole").name_en == "Road damage"


def test_a_change_that_bypassed_the_signals_is_seen_after_the_maximum_age(
    pothole, monkeypatch
):
    category_by_code("pothole")
    Category.objects.filter(pk=pothole.pk).update(name_en="Road damage")
    monkeypatch.setattr(reference, "MAX_AGE_SECONDS", 0.0)
    monkeypatch.setattr(reference, "CHECK_SECONDS", 0.0)

    assert category_by_code("pothole").name_en == "Road damage"
