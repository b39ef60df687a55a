"""The ground floor stands on its own: importing `core` loads none of our apps and no Celery."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A bare Django with only third-party apps: the project's settings live in `portal`, so they
# are deliberately not used here.
PROBE = """
import importlib, pkgutil, sys
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=[
        "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
        "allauth", "allauth.account", "allauth.mfa", "allauth.usersessions", "allauth.headless",
        "rest_framework", "drf_spectacular",
    ],
    MIDDLEWARE=["allauth.account.middleware.AccountMiddleware"],
    HEADLESS_ONLY=True,
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
django.setup()
import core
for module in pkgutil.walk_packages(core.__path__, "core."):
    importlib.import_module(module.name)
ours = {"portal", "services", "consent", "celery"}
print(sorted(n for n in sys.modules if n.split(".")[0] in ours))
"""


def test_importing_every_core_module_loads_none_of_our_apps_and_not_celery() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
