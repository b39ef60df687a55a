"""`manage.py open311_key issue|revoke|list`: Open311 client-app keys from the command line.

The raw key is printed once, when issued; only its hash is stored (as in the admin).
"""

from django.core.management.base import BaseCommand, CommandError

from services.open311.models import ApiKey
from services.open311.services import api_key_issue, api_key_revoke


class Command(BaseCommand):
    help = "Issue, revoke or list Open311 API keys (one per client app)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        commands = parser.add_subparsers(dest="action", required=True)
        issue = commands.add_parser("issue", help="Issue a key; prints it once.")
        issue.add_argument("name", help="The client app, e.g. 'FixMyStreet Xiong'an'.")
        issue.add_argument("--rate", type=int, default=60, help="Requests filed per minute.")
        issue.add_argument("--note", default="")
        revoke = commands.add_parser("revoke", help="Revoke a key by id or by its prefix.")
        revoke.add_argument("key", help="The key's id, or its first characters (o311_…).")
        commands.add_parser("list", help="List keys (id, prefix, app, active).")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        action = options["action"]
        if action == "issue":
            name = options["name"].strip()
            if not name or len(name) > 120:
                raise CommandError("Give the client app's name (at most 120 characters).")
            if not 1 <= options["rate"] <= 100_000:
                raise CommandError("--rate must be between 1 and 100000.")
            api_key, raw_key = api_key_issue(
                name=name, rate_limit_per_minute=options["rate"], note=options["note"][:300]
            )
            self.stdout.write(f"Issued key #{api_key.pk} for {api_key.name}:")
            self.stdout.write(raw_key)
            self.stdout.write("It is shown only now; CivicDesk keeps only its hash.")
        elif action == "revoke":
            api_key = self._find(options["key"].strip())
            api_key_revoke(api_key=api_key)
            self.stdout.write(f"Revoked key #{api_key.pk} ({api_key.prefix}…, {api_key.name}).")
        else:
            for api_key in ApiKey.objects.order_by("id"):
                state = "active" if api_key.is_active else "revoked"
                self.stdout.write(f"#{api_key.pk}\t{api_key.prefix}…\t{state}\t{api_key.name}")

    def _find(self, value: str) -> ApiKey:
        if value.isdigit():
            found = ApiKey.objects.filter(pk=int(value)).first()
        else:
            # The prefix is 9 characters of the key; a longer value (the whole key) also works.
            matches = list(ApiKey.objects.filter(prefix=value[:9]))
            found = matches[0] if len(matches) == 1 and len(value) >= 9 else None
        if found is None:
            raise CommandError(f"No single Open311 key matches {value[:12]!r}.")
        return found
