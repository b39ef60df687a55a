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


def test_the_demo_city_has_a_history_every_chart_and_queue_shows() -> None:
    from django.test import Client

    from portal.demo import PEOPLE
    from services.models import Outcome, ServiceRequest, Status

    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115

    page = Client().get("/statistics/").content.decode()
    charts = page.split('<svg class="chart"')[1:]
    assert len(charts) == 4
    assert all('<rect class="bar' in chart for chart in charts)
    done = ServiceRequest.objects.filter(status=Status.CLOSED)
    assert done.filter(outcome=Outcome.FIXED).count() > 100
    assert done.filter(outcome=Outcome.COULD_NOT_FIX).exists()
    assert done.filter(outcome=Outcome.NOT_CITY_RESPONSIBILITY).exists()
    late = [r for r in done.filter(outcome=Outcome.FIXED) if r.resolved_at > r.due_at]
    assert len(late) > 10
    assert done.values("district").distinct().count() >= 3
    clerks = [email for email, *_rest, dept, role, _dpo, _admin in PEOPLE if role == "clerk"]
    for email in clerks:
        assert ServiceRequest.objects.filter(
            assignee__email=email, status=Status.IN_PROGRESS
        ).exists(), email
