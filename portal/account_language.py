"""The account's language wins: a signed-in person sees the portal in the language stored on
their account (not the browser's), and the language switcher stores their choice there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from portal.accounts.services import user_language_set


class AccountLanguageMiddleware:
    """After authentication: activate the signed-in account's language for this request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user: Any = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            language = getattr(user, "preferred_language", "")
            if language in dict(settings.LANGUAGES):
                translation.activate(language)
                request.LANGUAGE_CODE = language
        return self.get_response(request)


@require_POST
def language_switch(request: HttpRequest) -> HttpResponse:
    """Django's set_language (cookie, safe redirect), and for a signed-in person the account."""
    response = set_language(request)
    language = request.POST.get("language", "")
    user: Any = request.user
    if user.is_authenticated and language in dict(settings.LANGUAGES):
        user_language_set(user=user, language=language)
    return response
