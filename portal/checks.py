"""Deploy checks of our own: production must name its city (core/city.py).

`manage.py check --deploy` reports civicdesk.E101 for every city setting still at the demo's
value, civicdesk.E102/E103 for a portal URL the outside world cannot use, and civicdesk.E104
while the demo mode is on (the classifier would learn from the demo's department codes).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.http.request import validate_host

from core import city


@register(Tags.security, deploy=True)
def check_city_is_configured(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if settings.DEBUG:
        return []  # the demo city is the point of a development server
    section = city.city()
    errors = [
        Error(
            f"{name} is not set (or still the demo city's value).",
            hint="Set it to your city's real value; see docs/deployment.md, 'The city'.",
            id="civicdesk.E101",
        )
        for name in city.demo_values_left(section)
    ]
    if settings.CIVICDESK.get("DEMO", True):
        errors.append(
            Error(
                "CIVICDESK_DEMO is on: the routing classifier may train on the demo city's "
                "examples, labelled with the demo's department codes.",
                hint="Set CIVICDESK_DEMO=0; see docs/setting-up-a-city.md.",
                id="civicdesk.E104",
            )
        )
    url = str(section.get("PORTAL_URL", ""))
    problem = city.check_portal_url(url)
    if problem is None and not url.startswith("https://"):
        problem = "must use https in production"
    if problem is not None:
        errors.append(
            Error(f"CIVICDESK_PORTAL_URL {problem}.", id="civicdesk.E102")
        )
    else:
        host = urlsplit(url).hostname or ""
        if not validate_host(host, settings.ALLOWED_HOSTS):
            errors.append(
                Error(
                    "The host of CIVICDESK_PORTAL_URL is not in DJANGO_ALLOWED_HOSTS.",
                    hint="Links in e-mails and receipts would lead to a 400 page.",
                    id="civicdesk.E103",
                )
            )
    return errors
