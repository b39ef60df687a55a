"""Print the current TOTP code of the demo staff accounts (demo only; refuses in production)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.demo import demo_totp_code


class Command(BaseCommand):
    help = "Print the current second-factor code for the demo staff accounts."

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_totp is for the demo only (DJANGO_DEBUG=1).")
        self.stdout.write(demo_totp_code())
