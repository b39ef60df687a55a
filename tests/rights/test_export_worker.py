"""The export job on a real Celery worker and Redis broker (REDIS_URL)."""

from __future__ import annotations

import time

import pytest

from consent.rights.models import ExportJob
from portal.celery import app

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_builds_the_export_and_the_state_moves_to_ready(client_for, resident):
    from celery.contrib.testing.worker import start_worker

    app.conf.task_always_eager = False
    client = client_for(resident)
    with start_worker(app, pool="solo", perform_ping_check=False, queues=["maintenance"],
                      shutdown_timeout=10):
        job_id = client.post("/api/v1/me/export").json()["id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = client.get(f"/api/v1/me/export/{job_id}").json()["state"]
            if state in ("ready", "failed"):
                break
            time.sleep(0.2)

    assert state == "ready"
    assert ExportJob.objects.get(pk=job_id).size_bytes > 0
    assert client.get(f"/api/v1/me/export/{job_id}/download").status_code == 200
