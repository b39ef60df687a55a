"""One answer to "what may this user do": used by API permissions, pages and consumers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

_CACHE_ATTR = "_civicdesk_roles"


@dataclass(frozen=True)
class Roles:
    authenticated: bool = False
    resident: bool = False
    data_officer: bool = False
    administrator: bool = False
    # department id → "clerk" | "supervisor"
    departments: dict[int, str] = field(default_factory=dict)
    # Holds staff roles that are withheld until TOTP is enrolled.
    mfa_required: bool = False

    @property
    def staff(self) -> bool:
        return bool(self.departments)

    @property
    def staff_department_ids(self) -> frozenset[int]:
        return frozenset(self.departments)

    @property
    def supervised_department_ids(self) -> frozenset[int]:
        return frozenset(d for d, r in self.departments.items() if r == "supervisor")

    def is_staff_of(self, department_id: int | None) -> bool:
        return department_id is not None and department_id in self.departments

    def is_supervisor_of(self, department_id: int | None) -> bool:
        return department_id is not None and self.departments.get(department_id) == "supervisor"

    def names(self) -> list[str]:
        out = []
        if self.resident:
            out.append("resident")
        if any(r == "clerk" for r in self.departments.values()):
            out.append("clerk")
        if any(r == "supervisor" for r in self.departments.values()):
            out.append("supervisor")
        if self.data_officer:
            out.append("data_officer")
        if self.administrator:
            out.append("administrator")
        return out


ANONYMOUS = Roles()


def roles_for(user: Any) -> Roles:
    """The roles of `user`, computed once per user object (i.e. once per request)."""
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated:
        return ANONYMOUS
    if not user.is_active:
        return ANONYMOUS
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from django.db.models import Exists, OuterRef

    # Memberships, a verified address and a TOTP authenticator, asked in one query (one row
    # per membership; one row with no department when there is none).
    rows = list(
        get_user_model()
        .objects.filter(pk=user.pk)
        .annotate(
            verified=Exists(EmailAddress.objects.filter(user=OuterRef("pk"), verified=True)),
            totp=Exists(
                Authenticator.objects.filter(
                    user=OuterRef("pk"), type=Authenticator.Type.TOTP
                )
            ),
        )
        .values_list(
            "memberships__department_id",
            "memberships__role",
            "memberships__department__is_active",
            "verified",
            "totp",
        )
    )
    departments = {
        department_id: role
        for department_id, role, active, _, _ in rows
        if department_id is not None and active
    }
    verified, totp = (rows[0][3], rows[0][4]) if rows else (False, False)
    privileged = bool(departments or user.is_data_officer or user.is_superuser)
    if privileged and settings.CIVICDESK["STAFF_MFA_REQUIRED"] and not totp:
        # Staff powers wait for a second factor; the person is still a resident.
        roles = Roles(authenticated=True, resident=verified, mfa_required=True)
    else:
        roles = Roles(
            authenticated=True,
            resident=verified,
            data_officer=bool(user.is_data_officer),
            administrator=bool(user.is_superuser),
            departments=departments,
        )
    setattr(user, _CACHE_ATTR, roles)
    return roles


def has_mfa(user: Any) -> bool:
    """Whether the user has a TOTP authenticator enrolled (allauth mfa)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if not settings.CIVICDESK["STAFF_MFA_REQUIRED"]:
        return True
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def forget_roles(user: Any) -> None:
    """Drop the cached roles (after a membership change in the same request)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)
