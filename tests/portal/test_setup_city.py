"""`manage.py setup_city` gives a real city the least it needs, once, and no demo data."""

from __future__ import annotations

import io

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from consent import policy
from consent.models import Notice, NoticeDraft, Purpose
from services.models import Category, Department

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def real_city(settings, monkeypatch):
    settings.CIVICDESK = {**settings.CIVICDESK, "DEMO": False}
    monkeypatch.delenv("CIVICDESK_ADMIN_EMAIL", raising=False)
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-admin-password-1")


def _setup(*args: str) -> str:
    out = io.StringIO()
    call_command("setup_city", *args, stdout=out)
    return out.getvalue()


def _row_counts() -> dict[str, int]:
    return {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model._meta.app_label in {"accounts", "services", "consent", "account"}
    }


def test_setup_city_creates_triage_and_no_demo_departments_or_categories():
    _setup()

    assert list(Department.objects.values_list("code", "is_triage")) == [("triage", True)]
    assert not Category.objects.exists()


def test_setup_city_writes_the_register_with_notices_as_drafts_not_published():
    _setup()

    codes = set(Purpose.objects.values_list("code", flat=True))
    assert {policy.PURPOSE_SERVICE_DELIVERY, policy.PURPOSE_STATUS_EMAILS} <= codes
    assert NoticeDraft.objects.filter(published_version__isnull=True).count() == len(codes)
    assert not Notice.objects.exists()
    assert not Purpose.objects.exclude(recipients=[]).exists()  # the demo's processors are not


def test_setup_city_creates_the_administrator_and_says_how_to_enrol_totp():
    out = _setup("--admin-email", "Admin@City.Example")

    admin = get_user_model().objects.get(email="admin@city.example")
    assert admin.is_superuser
    assert admin.is_staff
    assert admin.check_password("a-long-admin-password-1")
    assert admin.emailaddress_set.get().verified
    assert "/accounts/2fa/totp/activate" in out


def test_setup_city_prints_a_generated_password_once_when_none_is_given(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD")

    first = _setup("--admin-email", "admin@city.example")
    second = _setup("--admin-email", "admin@city.example")

    assert "password, shown once" in first
    assert "password" not in second.split("Administrator:")[1].split("\n")[0]


def test_setup_city_twice_changes_nothing():
    _setup("--admin-email", "admin@city.example")
    first = _row_counts()

    _setup("--admin-email", "admin@city.example")

    assert _row_counts() == first


def test_setup_city_refuses_an_admin_email_that_is_not_one():
    with pytest.raises(CommandError):
        _setup("--admin-email", "not-an-address")
    assert not get_user_model().objects.exists()


def test_make_run_says_whether_it_seeded_the_demo_or_set_up_a_real_city():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    run = makefile.split("\nrun:")[1].split("\n\n")[0]

    assert "manage.py setup_city" in run
    assert "manage.py seed_demo" in run
    assert 'CIVICDESK_DEMO:-1}" = "0"' in run
    assert "Real city" in run
    assert "Demo city" in run


def test_a_new_administrator_without_totp_is_sent_from_the_admin_to_enrol_it():
    from django.test import Client

    _setup("--admin-email", "admin@city.example")
    client = Client()
    client.post("/accounts/login/", {"login": "admin@city.example",
                                     "password": "a-long-admin-password-1"})

    response = client.get("/admin/", follow=True)

    assert response.redirect_chain[-1][0].startswith("/accounts/")
    assert "/accounts/2fa/totp/activate/" in "".join(url for url, _ in response.redirect_chain)
