"""Recompute the transparency log from its stored entries and check every signed tree head."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from consent import ledger
from consent.verify import VerificationError


class Command(BaseCommand):
    help = (
        "Recompute the whole Merkle tree from the stored entries, check cached subtree hashes, "
        "every stored tree head, its signature and witness cosignatures; compare with the heads "
        "in the outside mirror and at the witnesses; check promises of inclusion. Names "
        "edited, deleted or reordered rows, rollback, truncation, forks, uncosigned heads and "
        "broken promises. With --since-head FILE, also prove a saved older checkpoint "
        "consistent with today's head."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since-head", metavar="FILE",
                            help="a saved checkpoint (signed note) to check against today")
        parser.add_argument("--no-record", action="store_true",
                            help="do not store the result as the latest integrity check")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        result = ledger.verify_log(record=not options["no_record"])
        elapsed = time.monotonic() - started
        for note in result.notes:
            self.stderr.write(f"NOTE: {note}")
        for p in result.problems:
            where = ", ".join(f"{k}={v}" for k, v in p.items() if k != "problem")
            self.stderr.write(f"PROBLEM: {p['problem']} ({where})")
        failed = not result.ok
        if options["since_head"]:
            try:
                with open(options["since_head"], encoding="utf-8") as fh:
                    ledger.verify_against_head(fh.read())
                self.stdout.write("Saved head is consistent with today's tree head.")
            except (OSError, VerificationError, ledger.LedgerError) as exc:
                self.stderr.write(f"PROBLEM: saved head: {exc}")
                failed = True
        summary = (
            f"{result.tree_size} entries, {result.heads_checked} tree heads checked, compared "
            f"with {result.outside_heads} head(s) kept outside the database, in {elapsed:.2f}s"
        )
        if failed:
            raise CommandError(f"Log verification FAILED: {summary}.")
        self.stdout.write(self.style.SUCCESS(f"Log OK: {summary}."))
