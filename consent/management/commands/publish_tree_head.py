"""Sign and publish a tree head now (the beat task does this every minute)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from consent import ledger


class Command(BaseCommand):
    help = "Publish a signed tree head if the log grew since the last one."

    def handle(self, *args: Any, **options: Any) -> None:
        head = ledger.publish_tree_head()
        if head is None:
            self.stdout.write("Log unchanged; no new tree head.")
        else:
            self.stdout.write(head.checkpoint)
