"""`manage.py apply_retention [--dry-run]`: apply the register's retention periods now."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from consent.rights.retention import apply_retention


class Command(BaseCommand):
    help = "Anonymise or delete what is past its retention period (counts only are printed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true",
                            help="Only show what would be removed; change nothing.")
        parser.add_argument("--batch-size", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        summary = apply_retention(dry_run=options["dry_run"], batch_size=options["batch_size"])
        self.stdout.write(json.dumps({
            "dry_run": summary.dry_run,
            "retention_days": summary.purposes,
            "applied_to": summary.applied,
            "counts": summary.counts,
            "log_index": summary.run.log_entry_id if summary.run else None,
        }, indent=2))
