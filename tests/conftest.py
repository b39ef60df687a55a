"""Fixtures for the roles every test talks about."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from services.models import DepartmentMembership
from tests.factories import DepartmentFactory, MembershipFactory, UserFactory


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: rate-limit counters and marks must not leak
    between tests (in CI the cache is a real Redis shared by the whole run)."""
    from django.core.cache import cache

    from services.reference import reference_forget

    cache.clear()
    reference_forget()  # the per-process copy of categories, districts, departments, rules


@pytest.fixture(autouse=True)
def _own_outside_log_mirror(tmp_path, settings):
    """Each test's outside copy of the transparency log's heads starts empty, like its database
    (otherwise heads mirrored by an earlier test in the same process make a later full
    verification report a truncated log)."""
    storages = dict(settings.STORAGES)
    storages["tlog_mirror"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "tlog-mirror")},
    }
    settings.STORAGES = storages


@pytest.fixture(autouse=True)
def _keystore_per_test(tmp_path_factory, settings, monkeypatch):
    """Each test has its own, empty key store (per-resident pseudonym keys live outside the
    database, consent/keystore.py); servers and workers a test starts inherit it."""
    path = str(tmp_path_factory.mktemp("keystore"))
    settings.CIVICDESK = {**settings.CIVICDESK, "KEYSTORE_DIR": path}
    monkeypatch.setenv("CIVICDESK_KEYSTORE_DIR", path)


@pytest.fixture(autouse=True)
def _outside_mirror_per_test(tmp_path_factory, settings, monkeypatch):
    """Each test's outside anchor of the transparency log (consent/anchor.py) starts empty,
    like its database; servers and workers a test starts inherit it."""
    path = str(tmp_path_factory.mktemp("tlog-mirror"))
    storages = dict(settings.STORAGES)
    storages["tlog_mirror"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": path},
    }
    settings.STORAGES = storages
    monkeypatch.setenv("CIVICDESK_TLOG_MIRROR_DIR", path)


@pytest.fixture
def celery_eager():
    """Run Celery tasks in-process right after commit, whatever the broker.

    For tests of what a task does (e.g. which sockets an event reaches), not of how it gets
    to a worker: with REDIS_URL set (CI) tasks otherwise wait in Redis for a worker that
    these tests do not start. The real-worker path is tested in test_tasks_worker.py.
    """
    from portal.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def roads(db):
    return DepartmentFactory(code="roads", name_en="Roads", name_zh_hans="道路")


@pytest.fixture
def parks(db):
    return DepartmentFactory(code="parks", name_en="Parks", name_zh_hans="公园")


@pytest.fixture
def triage(db):
    return DepartmentFactory(code="triage", name_en="Triage", name_zh_hans="分拣", is_triage=True)


@pytest.fixture
def resident(db):
    return UserFactory(display_name="Li Wei", email="li.wei@example.org", phone="+86 138 1234 5678")


@pytest.fixture
def other_resident(db):
    return UserFactory(display_name="Other Person", email="other@example.org")


@pytest.fixture
def clerk_roads(roads):
    return MembershipFactory(department=roads).user


@pytest.fixture
def clerk_parks(parks):
    return MembershipFactory(department=parks).user


@pytest.fixture
def supervisor_roads(roads):
    return MembershipFactory(department=roads, role=DepartmentMembership.Role.SUPERVISOR).user


@pytest.fixture
def data_officer(db):
    return UserFactory(is_data_officer=True)


@pytest.fixture
def admin_user(db):
    return UserFactory(is_superuser=True, is_staff=True)


@pytest.fixture
def api():
    """An anonymous API client; `api.force_authenticate(user)` or use `client_for`."""
    return APIClient()


@pytest.fixture
def client_for():
    def make(user):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make
