"""The Django admin for city administrators: only a session that passed the second factor.

Django's own admin login form (password only) is not used: /admin/login/ sends people to the
allauth login (password, then TOTP), and `has_permission` asks whether *this* session passed
TOTP (`core.roles.session_passed_mfa`), not merely whether one is enrolled.
"""

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _


class CivicAutocompleteJsonView(AutocompleteJsonView):
    """Pickers of people (a department's members) name them by e-mail: "user #12" alone does
    not let an administrator see whom they chose. The admin lists these e-mails anyway."""

    def serialize_result(self, obj: Any, to_field_name: str) -> dict[str, Any]:
        result = super().serialize_result(obj, to_field_name)
        if obj._meta.label == settings.AUTH_USER_MODEL and getattr(obj, "email", ""):
            result["text"] = f"{obj.email} ({obj})"
        return result


class CivicAdminSite(admin.AdminSite):
    site_header = "CivicDesk administration"
    site_title = "CivicDesk admin"

    def has_permission(self, request: HttpRequest) -> bool:
        # The app registry is not ready when this module is imported.
        from core.roles import has_mfa, roles_for, session_passed_mfa  # lazy: app registry

        if not super().has_permission(request):
            return False
        if not settings.CIVICDESK["STAFF_MFA_REQUIRED"]:
            return True
        if has_mfa(request.user) and session_passed_mfa(request.session, request.user):
            return True
        # Remembered for `login`: an administrator who has not enrolled TOTP yet (a new
        # city's first one) is sent to enrol it rather than shown a bare 403.
        request._admin_needs_totp = roles_for(request.user).mfa_required  # type: ignore[attr-defined]
        return False

    def autocomplete_view(self, request: HttpRequest) -> HttpResponse:
        return CivicAutocompleteJsonView.as_view(admin_site=self)(request)  # type: ignore[return-value]

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """No password-only admin login: allauth's login (with TOTP) or a 403."""
        from django.contrib.auth.views import redirect_to_login

        next_url = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = ""
        next_url = next_url or reverse("admin:index", current_app=self.name)
        if request.user.is_authenticated:
            if self.has_permission(request):
                return HttpResponseRedirect(next_url)
            if getattr(request, "_admin_needs_totp", False):
                messages.info(request, _("Enrol an authenticator app (TOTP) first: the admin "
                                         "needs a second factor."))
                return redirect_to_login(next_url, reverse("mfa_activate_totp"))
            # Signed in without the admin's rights in this session (no TOTP step, or not an
            # administrator): sending them to the login page would loop.
            raise PermissionDenied
        return redirect_to_login(next_url, settings.LOGIN_URL)


class CivicAdminConfig(AdminConfig):
    default_site = "portal.admin_site.CivicAdminSite"
