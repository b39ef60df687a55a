"""The Django admin for city administrators: staff accounts need TOTP enrolled, like staff pages."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest


class CivicAdminSite(admin.AdminSite):
    site_header = "CivicDesk administration"
    site_title = "CivicDesk admin"

    def has_permission(self, request: HttpRequest) -> bool:
        from core.roles import has_mfa  # the app registry is not ready at import time

        return super().has_permission(request) and has_mfa(request.user)


class CivicAdminConfig(AdminConfig):
    default_site = "portal.admin_site.CivicAdminSite"
