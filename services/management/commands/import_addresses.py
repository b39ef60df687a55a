"""`manage.py import_addresses <csv>`: load the city's address gazetteer from an
OpenAddresses-style CSV (columns LON, LAT, NUMBER, STREET, CITY, POSTCODE; see
services/gazetteer.py). All or nothing: one bad row imports nothing."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from services.gazetteer import MAX_ERRORS_SHOWN, addresses_import, addresses_parse


class Command(BaseCommand):
    help = (
        "Import addresses (LON, LAT, STREET required; NUMBER, CITY, POSTCODE used; UNIT, "
        "DISTRICT, REGION, ID, HASH ignored) into the address gazetteer. Idempotent; one "
        "transaction; any bad row (reported by line number) imports nothing."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("csv", help="Path of the CSV file (UTF-8, header row first).")
        parser.add_argument(
            "--check", action="store_true", help="Check the file and report; import nothing."
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        path = Path(options["csv"])
        try:
            with path.open(encoding="utf-8-sig", newline="") as stream:
                parsed = addresses_parse(stream)
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror}") from error
        except UnicodeDecodeError as error:
            raise CommandError(f"{path} is not UTF-8 text ({error.reason})") from error
        if parsed.errors:
            shown = parsed.errors[:MAX_ERRORS_SHOWN]
            more = len(parsed.errors) - len(shown)
            lines = "\n".join(f"  {e}" for e in shown)
            if more:
                lines += f"\n  … and {more} more"
            raise CommandError(
                f"{path}: {len(parsed.errors)} bad row(s); nothing was imported.\n{lines}"
            )
        if options["check"]:
            self.stdout.write(
                f"{path}: {len(parsed.rows)} addresses ok, {parsed.duplicates} duplicate(s) "
                "(nothing imported: --check)"
            )
            return
        counts = addresses_import(rows=parsed.rows)
        self.stdout.write(self.style.SUCCESS(
            f"{path}: {counts.created} added, {counts.updated} updated, {counts.unchanged} "
            f"unchanged, {parsed.duplicates} duplicate row(s) skipped, "
            f"{counts.outside_districts} outside every district"
        ))
