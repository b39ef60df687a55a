"""Create the runtime role (if missing) and grant it its privileges; `--check` only checks.

Runs as DATABASE_OWNER_URL's role; the runtime role is DATABASE_URL's user. Idempotent:
`migrate` runs the same grants after every migration (docs/deployment.md §2).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal import dbroles

ALLOWED = {"SELECT", "INSERT"}


class Command(BaseCommand):
    help = "Create/grant the runtime database role (two-role PostgreSQL set-up)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true",
                            help="Only check the runtime role; exit 1 if it may do more.")
        parser.add_argument("--no-create", action="store_true",
                            help="Fail instead of creating a missing role.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not dbroles.two_roles():
            raise CommandError(
                "Set DATABASE_URL (runtime role) and DATABASE_OWNER_URL (owner) on PostgreSQL."
            )
        role, password = dbroles.runtime_credentials()
        with dbroles.as_owner() as owner:
            try:
                if not options["check"]:
                    report = dbroles.grant_runtime_role(
                        owner, role=role, password=password, create=not options["no_create"]
                    )
                    self.stdout.write(
                        f"{'Created' if report.created else 'Updated'} runtime role {role}."
                    )
                dbroles.check_runtime_role(owner, role=role)
                privileges = dbroles.runtime_privileges(owner, role=role)
            except dbroles.RoleError as exc:
                raise CommandError(str(exc)) from exc
        too_much = {t: sorted(p - ALLOWED) for t, p in privileges.items() if p - ALLOWED}
        for table, granted in sorted(privileges.items()):
            self.stdout.write(f"  {table}: {', '.join(sorted(granted)) or 'nothing'}")
        if too_much:
            raise CommandError(f"the runtime role {role} may do more than SELECT/INSERT on "
                               f"append-only tables: {too_much}")
        self.stdout.write(f"Runtime role {role}: SELECT/INSERT only on "
                          f"{len(privileges)} append-only tables.")
