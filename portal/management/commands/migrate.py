"""`migrate` as the owner role when DATABASE_OWNER_URL is set, then the runtime role's grants.

The application's own role (DATABASE_URL) cannot create or alter tables; see portal/dbroles.py.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import migrate

from portal import dbroles


class Command(migrate.Command):
    help = migrate.Command.help + " Runs as DATABASE_OWNER_URL's role when that is set."

    def handle(self, *args: Any, **options: Any) -> None:
        database = options["database"]
        if not dbroles.two_roles(database):
            super().handle(*args, **options)
            return
        with dbroles.as_owner(database) as owner:
            super().handle(*args, **options)
            role, password = dbroles.runtime_credentials()
            report = dbroles.grant_runtime_role(owner, role=role, password=password)
        if options["verbosity"] >= 1:
            self.stdout.write(
                f"Runtime role {report.role}: SELECT/INSERT only on "
                f"{len(report.append_only)} append-only tables"
                + (" (role created)" if report.created else "")
            )
