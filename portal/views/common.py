"""What every portal view shares: role checks on the server, domain errors → pages, and
once-only form submission (a double click or a reload of a POST does nothing twice)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext as _

from core.errors import DomainError, NotFound
from core.roles import Roles, roles_for

RoleCheck = Callable[[Roles], bool]


def is_resident(roles: Roles) -> bool:
    return roles.resident


def is_staff(roles: Roles) -> bool:
    return roles.staff


def is_supervisor(roles: Roles) -> bool:
    return bool(roles.supervised_department_ids)


def is_data_officer(roles: Roles) -> bool:
    return roles.data_officer


def role_required(check: RoleCheck) -> Callable:
    """Anonymous → the login page; signed in without the role → 403. Checked on every call."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not check(roles_for(request.user)):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def not_found_as_404(error: NotFound) -> Http404:
    return Http404(error.detail)


def apply_errors(form: Any, error: DomainError) -> None:
    """Put a service's field-level messages on the form's fields (or the form as a whole)."""
    if not error.errors:
        form.add_error(None, error.detail)
        return
    for key, texts in error.errors.items():
        field = key.replace("attributes.", "attr_")
        if field not in form.fields:
            field = {"lat": "location", "lon": "location"}.get(field, field)
        for text in texts:
            form.add_error(field if field in form.fields else None, text)


# --- once-only submission -----------------------------------------------------------------
# Each form carries a random token. The first POST with a token claims it in the cache and
# remembers where it led; a second POST with the same token (double click, reload, a retry
# on a flaky network) is sent to the same place instead of doing the work again.

_TOKEN_TTL = 60 * 60 * 24
_PENDING = "pending"


def _token_key(request: HttpRequest, token: str) -> str:
    digest = hashlib.sha256(f"{request.user.pk}:{token}".encode()).hexdigest()[:32]
    return f"portal:form-once:{digest}"


def submit_once(
    request: HttpRequest, token: str, work: Callable[[], HttpResponse]
) -> HttpResponse:
    """Run `work` for the first POST carrying `token`; later ones get the first one's redirect.

    `work` returns a redirect when it succeeded; any other response (a form with errors)
    releases the token so the corrected form can be sent again with it.
    """
    if not token or len(token) > 64:
        return work()
    key = _token_key(request, token)
    if not cache.add(key, _PENDING, timeout=_TOKEN_TTL):
        earlier = cache.get(key)
        if earlier is None:
            # Not added, yet not there: the cache is unreachable. Do the work rather than
            # refuse every form during an outage (a report is still filed once: its
            # Idempotency-Key lives in the database).
            return work()
        if earlier != _PENDING:
            messages.info(request, _("That form was already sent; here is the result."))
            return HttpResponseRedirect(earlier)
        messages.info(request, _("That form is already being sent; please wait a moment."))
        return HttpResponseRedirect(request.get_full_path())
    try:
        response = work()
    except BaseException:
        cache.delete(key)
        raise
    if isinstance(response, HttpResponseRedirect):
        cache.set(key, response.url, timeout=_TOKEN_TTL)
    else:
        cache.delete(key)
    return response
