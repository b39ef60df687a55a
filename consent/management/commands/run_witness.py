"""Run a local witness (tools/witness.py) for this log: the demo's `make run` starts one.

A real city's witnesses run elsewhere, by others, with `python3 witness.py serve` (docs)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from consent import ledger
from tools import witness


class Command(BaseCommand):
    help = ("Serve a C2SP tlog-witness for this log's key: --state DIR (its own files; a key "
            "is created there on first run) --listen HOST:PORT --name NAME.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--state", required=True)
        parser.add_argument("--listen", default="127.0.0.1:8701")
        parser.add_argument("--name", default="witness.local.example")
        parser.add_argument("--print-key", action="store_true",
                            help="create the key if needed, print the verifier key and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        state = Path(options["state"])
        state.mkdir(parents=True, exist_ok=True)
        key_file = state / "witness.key"
        if not key_file.exists():
            made = witness.key_from_seed(options["name"], os.urandom(32))
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(witness.format_private_key(made) + "\n")
        key = witness.parse_private_key(key_file.read_text())
        (state / "witness.vkey").write_text(f"{key.verifier}\n")
        if options["print_key"]:
            self.stdout.write(str(key.verifier))
            return
        host, _, port = options["listen"].rpartition(":")
        witness.serve(key=key, logs=[ledger.log_key().verifier], state_dir=state / "state",
                      host=host or "127.0.0.1", port=int(port))
