"""Security events as structured log lines: who (by account id) did what, never personal data.

Authentication successes and failures, logouts, password and email changes, role changes.
Authorization failures are logged by the API's exception handler; reveals and exports by the
consent app (they also go to the transparency log).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest

    from core.users import AnyUser, User

logger = logging.getLogger("civicdesk.security")


def security_event(name: str, *, user_id: int | None = None, **fields: Any) -> None:
    """Log one security event. `fields` must hold ids and codes only, never personal data."""
    logger.info(name, extra={"event": name, "user_id": user_id, **fields})


def _on_login(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    security_event("auth.login.succeeded", user_id=user.pk)


def _on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # The credentials hold the email typed: never logged.
    security_event("auth.login.failed")


def _on_logout(
    sender: Any, request: HttpRequest | None, user: AnyUser | None, **kwargs: Any
) -> None:
    security_event("auth.logout", user_id=getattr(user, "pk", None))


def _on_password_changed(
    sender: Any, request: HttpRequest | None, user: User, **kwargs: Any
) -> None:
    security_event("auth.password.changed", user_id=user.pk)


def _on_password_reset(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    security_event("auth.password.reset", user_id=user.pk)


def _on_email_changed(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    security_event("auth.email.changed", user_id=user.pk)


def _on_membership_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    security_event(
        "role.granted" if created else "role.changed",
        user_id=instance.user_id,
        department_id=instance.department_id,
        role=instance.role,
    )


def _on_membership_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    security_event(
        "role.removed", user_id=instance.user_id, department_id=instance.department_id
    )


def connect(*, membership_model: Any) -> None:
    """Connect the receivers; `membership_model` is the staff-role model whose rows are logged
    (passed in by the project shell, so this kernel module imports none of our apps)."""
    from allauth.account import signals as account_signals
    from django.contrib.auth import signals as auth_signals
    from django.db.models.signals import post_delete, post_save

    auth_signals.user_logged_in.connect(_on_login, dispatch_uid="sec-login")
    auth_signals.user_login_failed.connect(_on_login_failed, dispatch_uid="sec-login-failed")
    auth_signals.user_logged_out.connect(_on_logout, dispatch_uid="sec-logout")
    account_signals.password_changed.connect(_on_password_changed, dispatch_uid="sec-pw")
    account_signals.password_reset.connect(_on_password_reset, dispatch_uid="sec-pw-reset")
    account_signals.email_changed.connect(_on_email_changed, dispatch_uid="sec-email")
    post_save.connect(_on_membership_saved, sender=membership_model, dispatch_uid="sec-role")
    post_delete.connect(
        _on_membership_deleted, sender=membership_model, dispatch_uid="sec-role-del"
    )
