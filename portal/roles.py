"""One answer to "what may this user do": used by API permissions, pages and consumers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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

    from services.models import DepartmentMembership

    departments = dict(
        DepartmentMembership.objects.filter(user=user, department__is_active=True).values_list(
            "department_id", "role"
        )
    )
    verified = EmailAddress.objects.filter(user=user, verified=True).exists()
    roles = Roles(
        authenticated=True,
        resident=verified,
        data_officer=bool(user.is_data_officer),
        administrator=bool(user.is_superuser),
        departments=departments,
    )
    setattr(user, _CACHE_ATTR, roles)
    return roles


def forget_roles(user: Any) -> None:
    """Drop the cached roles (after a membership change in the same request)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)
