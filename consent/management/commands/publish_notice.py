"""Publish the next version of a purpose's notice (immutable; residents are asked again)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from consent.models import Purpose
from consent.services import notice_publish
from core.errors import Invalid


class Command(BaseCommand):
    help = (
        "Publish a new notice version: --purpose CODE --en TITLE FILE [--zh-hans TITLE FILE] "
        "[--not-material]. A material change (the default) means consents given for older "
        "versions stop counting until residents decide again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--purpose", required=True)
        parser.add_argument("--en", nargs=2, metavar=("TITLE", "FILE"), required=True)
        parser.add_argument("--zh-hans", nargs=2, metavar=("TITLE", "FILE"))
        parser.add_argument("--not-material", action="store_true",
                            help="a wording fix: older consents stay valid")

    def handle(self, *args: Any, **options: Any) -> None:
        purpose = Purpose.objects.filter(code=options["purpose"]).first()
        if purpose is None:
            raise CommandError(f"No purpose {options['purpose']!r} in the register.")
        texts = {}
        for lang, key in (("en", "en"), ("zh-hans", "zh_hans")):
            if options.get(key):
                title, path = options[key]
                texts[lang] = (title, Path(path).read_text(encoding="utf-8").strip())
        try:
            notices = notice_publish(purpose=purpose, texts=texts,
                                     requires_reconsent=not options["not_material"])
        except Invalid as exc:
            raise CommandError(exc.detail) from exc
        for n in notices:
            self.stdout.write(f"{purpose.code} v{n.version} {n.language} sha256={n.text_sha256}")
