"""One answer to "what may this user do": used by API permissions, pages and consumers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase

    from core.users import AnyUser, User

_CACHE_ATTR = "_civicdesk_roles"
# Set by every entry point (HTTP middleware, app-token authentication, WebSocket sign-in):
# whether the session this user object came from passed the second factor.
_SESSION_MFA_ATTR = "_civicdesk_session_mfa"
# allauth's authentication record types that are a second factor.
SECOND_FACTOR_METHODS = frozenset({"mfa"})


@dataclass(frozen=True)
class Roles:
    authenticated: bool = False
    resident: bool = False
    data_officer: bool = False
    administrator: bool = False
    # department id → "clerk" | "supervisor"
    departments: dict[int, str] = field(default_factory=dict)
    # Staff roles are withheld: no TOTP enrolled (mfa_required), or enrolled but this
    # session did not pass it (mfa_pending: password-only sign-in).
    mfa_required: bool = False
    mfa_pending: bool = False

    @property
    def staff(self) -> bool:
        return bool(self.departments)

    @property
    def privileged_account(self) -> bool:
        """A staff, officer or administrator account, whether or not this session has the
        powers yet (session limits are the staff ones either way)."""
        return bool(
            self.staff or self.data_officer or self.administrator
            or self.mfa_required or self.mfa_pending
        )

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


def roles_for(user: AnyUser | None) -> Roles:
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
    # Unbound user objects come from code paths with no client session (Celery tasks,
    # management commands, services called by code that already authorised the actor):
    # every client-facing entry point binds (see `session_bind`).
    session_mfa = getattr(user, _SESSION_MFA_ATTR, True)
    if privileged and settings.CIVICDESK["STAFF_MFA_REQUIRED"] and not (totp and session_mfa):
        # Staff powers wait for a second factor; the person is still a resident.
        roles = Roles(
            authenticated=True, resident=verified, mfa_required=not totp, mfa_pending=bool(totp)
        )
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


def session_passed_mfa(session: SessionBase | None, user: AnyUser | None) -> bool:
    """Whether *this* session's sign-in included a second factor.

    Reads allauth's authentication records, which allauth keeps per session and per user
    (`record_authentication`: a `{"method": "mfa", "type": "totp", ...}` entry is written
    when the TOTP step of a login, or a re-authentication with it, succeeds). Enrolment alone
    is not enough: a password-only login (e.g. Django's own admin login form) has no record.
    """
    if session is None or user is None or getattr(user, "pk", None) is None:
        return False
    from types import SimpleNamespace

    from allauth.account.internal.flows.login import get_authentication_records

    records = get_authentication_records(SimpleNamespace(session=session), user)  # type: ignore[arg-type]
    return any(
        isinstance(r, dict) and r.get("method") in SECOND_FACTOR_METHODS for r in records
    )


def session_bind(user: AnyUser | None, session: SessionBase | None) -> None:
    """Tie `user`'s roles to the session it was authenticated by (every entry point calls this:
    portal.middleware for cookie sessions, the X-Session-Token authentication, sockets)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return
    setattr(user, _SESSION_MFA_ATTR, session_passed_mfa(session, user))
    forget_roles(user)


def on_second_factor_added(
    sender: Any, request: HttpRequest | None, user: User, authenticator: Any, **kwargs: Any
) -> None:
    """allauth `authenticator_added`: enrolling TOTP means a valid code was just entered, so
    this session has passed the second factor (no sign-out and in again needed)."""
    from allauth.account.internal.flows.login import record_authentication
    from allauth.mfa.models import Authenticator

    if request is None or authenticator.type != Authenticator.Type.TOTP:
        return
    record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type)
    forget_roles(user)


def has_mfa(user: AnyUser | None) -> bool:
    """Whether the user's staff powers are on: TOTP enrolled and this session passed it."""
    if not getattr(user, "is_authenticated", False):
        return False
    roles = roles_for(user)
    return not (roles.mfa_required or roles.mfa_pending)


def forget_roles(user: AnyUser) -> None:
    """Drop the cached roles (after a membership change in the same request)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)
