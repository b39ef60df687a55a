"""The embedded mode's publisher (no Celery beat): publish, witness and check every N seconds."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from consent.tasks import publish_cycle


class Command(BaseCommand):
    help = ("Every --every seconds: sign a tree head if the log grew, mirror it outside the "
            "database, ask the witnesses to cosign it, check due promises of inclusion. "
            "`make run` starts it when there is no Redis (beat does this otherwise).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=float, default=10.0)
        parser.add_argument("--once", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            try:
                outcome = publish_cycle()
            except Exception as exc:  # noqa: BLE001 - keep the demo's publisher alive
                self.stderr.write(f"publisher: {exc}")
            else:
                if outcome["tree_size"] is not None or any(
                        o not in ("already",) for o in outcome["witnesses"].values()):
                    self.stdout.write(f"publisher: {outcome}")
            if options["once"]:
                return
            time.sleep(options["every"])
            close_old_connections()  # a long-lived process: drop a broken or aged connection
