"""Seed the demo city: departments, categories, districts, staff and residents. Idempotent."""

from django.core.management.base import BaseCommand
from django.db import transaction

from consent.demo import seed_register
from portal.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, seed_people
from services.demo import seed_city, seed_gazetteer, seed_history, seed_requests


class Command(BaseCommand):
    help = "Create (or leave as they are) the demo city, its staff and residents."

    def handle(self, *args: object, **options: object) -> None:
        with transaction.atomic():
            seed_city()
            seed_gazetteer()
            seed_register()
            people = seed_people()
            seed_requests()
            seed_history()
        self.stdout.write(self.style.SUCCESS("Demo city ready. Demo logins (password for all):"))
        self.stdout.write(f"  password: {DEMO_PASSWORD}")
        for email, description in people:
            self.stdout.write(f"  {email:<32} {description}")
        self.stdout.write(
            f"  Staff sign in with a second factor: TOTP secret {DEMO_TOTP_SECRET} "
            "(or `python manage.py demo_totp` prints the current code)."
        )
        self.stdout.write(
            "  That includes the administrator: /admin/ signs in through /accounts/login/ "
            "(password, then the TOTP code); a password alone opens no staff page, API or socket."
        )
