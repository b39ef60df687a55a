"""seed_demo builds the demo city once; running it again changes nothing."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def _row_counts() -> dict[str, int]:
    return {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model._meta.app_label in {"accounts", "services", "consent", "account"}
    }


def test_seed_demo_twice_changes_nothing() -> None:
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    first = _row_counts()
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert _row_counts() == first


def test_seed_demo_creates_the_seven_city_departments() -> None:
    from services.models import Department

    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    codes = set(Department.objects.values_list("code", flat=True))
    assert {"roads", "lighting", "sanitation", "parks", "water", "complaints", "triage"} <= codes
