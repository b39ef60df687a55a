"""The Celery application. Settings come from Django's (CELERY_* names)."""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("civicdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Database connections in workers. Celery's Django fixup closes every connection before and
# after each task, and in a prefork child it closes the whole psycopg pool with it, so every
# task would open new PostgreSQL connections (a backend fork and a handshake each: about as
# much CPU as routing a request). With CELERY_DB_REUSE_MAX set (settings), the fixup does that
# only every N tasks; between, connections are handled here as Django handles them around a
# request: one found broken or past its age is closed before the task, and after the task
# the connection goes back to the pool.


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(sender: Any = None, **kwargs: Any) -> None:
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # an eager task runs inside the caller's transaction: leave it alone
    close_old_connections()
