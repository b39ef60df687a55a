"""Demo people: one account per role, all with the same printed password."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model

from services.models import Department, DepartmentMembership

DEMO_PASSWORD = "civicdesk-demo-2026"  # noqa: S105 - printed on purpose, demo only
# Staff accounts need TOTP; the demo staff share this secret (add it to an authenticator app,
# or run `python manage.py demo_totp` for the current code). Demo only.
DEMO_TOTP_SECRET = "CIVICDESKDEMOTOTPSECRETAAAAAAAAA"  # noqa: S105

# email, display name, language, phone, description, department code(s), role, data officer,
# admin
PEOPLE = [
    ("resident@demo.civicdesk", "Li Wei", "zh-hans", "+86 138 0000 0001",
     "resident", None, None, False, False),
    ("resident2@demo.civicdesk", "Anna Schmidt", "en", "",
     "resident", None, None, False, False),
    ("clerk.roads@demo.civicdesk", "Wang Fang", "zh-hans", "",
     "clerk, Roads", "roads", "clerk", False, False),
    ("clerk.lighting@demo.civicdesk", "Zhang Min", "en", "",
     "clerk, Street Lighting", "lighting", "clerk", False, False),
    ("clerk.parks@demo.civicdesk", "Chen Jie", "en", "",
     "clerk, Parks", "parks", "clerk", False, False),
    ("supervisor.roads@demo.civicdesk", "Liu Yang", "en", "",
     "supervisor, Roads", "roads", "supervisor", False, False),
    ("supervisor.triage@demo.civicdesk", "Zhao Lei", "en", "",
     "supervisor, Triage", "triage", "supervisor", False, False),
    # Routing sends nothing to a department nobody staffs: one supervisor holds the rest.
    ("supervisor.services@demo.civicdesk", "Zhou Qiang", "en", "",
     "supervisor, Sanitation, Water, Complaints Office, North Lighting Contractor",
     "sanitation,water,complaints,north-lighting", "supervisor", False, False),
    ("dpo@demo.civicdesk", "Sun Hui", "en", "",
     "data officer", None, None, True, False),
    ("admin@demo.civicdesk", "City Admin", "en", "",
     "administrator (Django admin at /admin/)", None, None, False, True),
]


def seed_people() -> list[tuple[str, str]]:
    user_model = get_user_model()
    printed = []
    for email, name, lang, phone, description, dept, role, dpo, admin in PEOPLE:
        user, created = user_model.objects.get_or_create(
            email=email,
            defaults={
                "display_name": name,
                "preferred_language": lang,
                "phone": phone,
                "is_data_officer": dpo,
                "is_staff": admin,
                "is_superuser": admin,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        EmailAddress.objects.get_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        if dept or dpo or admin:
            _enroll_demo_totp(user)
        for code in dept.split(",") if dept else []:
            DepartmentMembership.objects.get_or_create(
                user=user,
                department=Department.objects.get(code=code),
                defaults={"role": role or DepartmentMembership.Role.CLERK},
            )
        printed.append((email, description))
    return printed


def _enroll_demo_totp(user: object) -> None:
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP

    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, DEMO_TOTP_SECRET)


def demo_totp_code() -> str:
    import time

    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    counter = int(time.time()) // app_settings.TOTP_PERIOD
    return format_hotp_value(hotp_value(DEMO_TOTP_SECRET, counter))
