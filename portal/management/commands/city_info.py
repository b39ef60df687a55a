"""Prints the city this deployment serves and its public URL (scripts/run shows it at start)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from core import city


class Command(BaseCommand):
    help = "Print the city this deployment serves, its controller and its public portal URL."

    def handle(self, *args: Any, **options: Any) -> None:
        section = city.city()
        ctrl = city.party("CONTROLLER")
        self.stdout.write(f"City: {city.city_name('en')} / {city.city_name('zh-hans')}")
        self.stdout.write(f"Controller: {ctrl['name']} <{ctrl['email']}>, {ctrl['address']}")
        docs = city.portal_url("/api/docs/")
        self.stdout.write(f"Portal: {city.portal_url('/')}  (API docs: {docs})")
        self.stdout.write(f"Open311 jurisdiction_id: {section['JURISDICTION_ID']}")
        left = city.demo_values_left(section)
        if left:
            self.stdout.write(
                f"Demo values still in use ({len(left)}): fine for a demo, refused in production "
                "by `manage.py check --deploy` (docs/deployment.md, 'The city')."
            )
