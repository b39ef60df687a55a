"""The user in annotations: `User` is the class that settings.AUTH_USER_MODEL names (the
django-stubs plugin resolves it, so core names no app of ours), `AnyUser` adds the visitor."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from django.core.exceptions import PermissionDenied

if TYPE_CHECKING:
    # django-stubs' alias for "the AUTH_USER_MODEL class"; it is public in spirit
    # (typeddjango/django-stubs#2366) and exists only for type checkers.
    from django.contrib.auth.models import AnonymousUser, _User  # noqa: PLC2701

    User: TypeAlias = _User
    AnyUser: TypeAlias = _User | AnonymousUser


def signed_in(user: AnyUser | None) -> User:
    """The account of a request that an earlier check already required to be signed in (DRF's
    IsAuthenticated, the pages' role_required): the type checker then knows it is one. A
    visitor that got this far anyway is refused (403), never handed to a service."""
    if user is None or not user.is_authenticated:
        raise PermissionDenied("Sign in first.")
    return user
