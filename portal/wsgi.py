"""WSGI entry point: gunicorn serves HTTP in production (`gunicorn portal.wsgi`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

application = get_wsgi_application()

from portal.gc_tuning import tune_gc  # noqa: E402

tune_gc()  # the start-up heap is loaded: keep the collector off it (see portal/gc_tuning.py)
