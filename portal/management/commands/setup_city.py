"""`manage.py setup_city`: the least a real city needs before its administrator takes over in
the browser (docs/setting-up-a-city.md). Idempotent: what exists is left as it is.

It migrates nothing (run `migrate` first) and seeds no demo data: a Triage department, the
register's purposes (the ones the code relies on) with their notices as drafts to review and
publish in the admin, and, when an e-mail is given, the first administrator.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import transaction

from consent.demo import PURPOSES, notice_text
from consent.models import Notice, NoticeDraft, Purpose
from consent.services import purpose_upsert
from core import city
from services.models import Department

TRIAGE = ("triage", "Triage", "分拣中心")


class Command(BaseCommand):
    help = (
        "Set up a real city (not the demo): a Triage department, the register's purposes with "
        "draft notices, and the first administrator (--admin-email). Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--admin-email", default="",
            help="the first administrator's e-mail (or CIVICDESK_ADMIN_EMAIL); the password is "
            "DJANGO_SUPERUSER_PASSWORD if set, else a random one printed once",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.CIVICDESK.get("DEMO", True):
            self.stdout.write(self.style.WARNING(
                "CIVICDESK_DEMO is on: the classifier may train on the demo's seed set. A real "
                "city sets CIVICDESK_DEMO=0."
            ))
        email = (options["admin_email"] or _env("CIVICDESK_ADMIN_EMAIL")).strip().lower()
        if email:
            try:
                validate_email(email)
            except ValidationError as exc:
                raise CommandError(f"--admin-email: {email!r} is not an e-mail address") from exc
        with transaction.atomic():
            triage = self._triage()
            purposes = self._register()
            admin = self._administrator(email) if email else None
        self.stdout.write(self.style.SUCCESS(
            f"City set up: {city.city_name('en')} / {city.city_name('zh-hans')}"
        ))
        self.stdout.write(f"  Triage department: {triage}")
        self.stdout.write(f"  Register: {purposes}")
        if admin:
            self.stdout.write(f"  Administrator: {admin}")
        elif not get_user_model().objects.filter(is_superuser=True).exists():
            self.stdout.write("  No administrator yet: run again with --admin-email you@city.")
        login = city.portal_url("/accounts/login/")
        self.stdout.write(
            "Next, in the browser (docs/setting-up-a-city.md): sign in at "
            f"{login}, enrol TOTP at {city.portal_url('/accounts/2fa/totp/activate')} (staff "
            "pages and /admin/ need it), then in /admin/ publish the notices, and add "
            "departments with staff, categories, districts and routing rules."
        )

    def _triage(self) -> str:
        existing = Department.objects.filter(is_triage=True).first()
        if existing is not None:
            return f"{existing.code} (exists)"
        code, name_en, name_zh = TRIAGE
        department, created = Department.objects.get_or_create(
            code=code, defaults={"name_en": name_en, "name_zh_hans": name_zh, "is_triage": True}
        )
        if not created:
            department.is_triage = True
            department.save(update_fields=["is_triage"])
        return f"{department.code} (created; add its supervisors in the admin)"

    def _register(self) -> str:
        created = drafts = 0
        for (code, ten, tzh, den, dzh, dpv, basis, ref, cats, depts, _recipients, days,
             trigger, action) in PURPOSES:
            if not Purpose.objects.filter(code=code).exists():
                # Recipients are the city's own processors: none until it names them.
                purpose_upsert(
                    code=code, title_en=ten, title_zh_hans=tzh, description_en=den,
                    description_zh_hans=dzh, dpv_purpose=dpv, legal_basis=basis,
                    legal_reference=ref, data_categories=cats, recipients=[],
                    retention_days=days, retention_trigger=trigger,
                    retention_end_action=action, requires_consent=basis == "consent",
                    is_active=True,
                    departments=list(Department.objects.all()) if depts == "*" else [],
                )
                created += 1
            purpose = Purpose.objects.get(code=code)
            if Notice.objects.filter(purpose=purpose).exists() or purpose.drafts.exists():
                continue
            NoticeDraft.objects.create(
                purpose=purpose, title_en=ten, text_en=notice_text(den, code, basis, days),
                title_zh_hans=tzh, text_zh_hans=dzh + f"\n\n保存 {days} 天。登记条目：{code}。",
            )
            drafts += 1
        return (f"{created} purposes created, {drafts} notice drafts to review and publish "
                "(a consent purpose is offered only once its notice is published)")

    def _administrator(self, email: str) -> str:
        users = get_user_model()
        user = users.objects.filter(email__iexact=email).first()
        if user is not None:
            if not user.is_superuser:
                user.is_staff = user.is_superuser = True
                user.save(update_fields=["is_staff", "is_superuser"])
                return f"{email} (existing account, now an administrator)"
            return f"{email} (exists)"
        password = _env("DJANGO_SUPERUSER_PASSWORD")
        generated = not password
        password = password or secrets.token_urlsafe(12)
        user = users.objects.create_user(
            email=email, password=password, is_staff=True, is_superuser=True,
            display_name="Administrator",
        )
        EmailAddress.objects.get_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        if generated:
            return (f"{email} (created; password, shown once: {password} — change it after "
                    "the first sign-in)")
        return f"{email} (created with DJANGO_SUPERUSER_PASSWORD)"


def _env(name: str) -> str:
    return os.environ.get(name, "")
