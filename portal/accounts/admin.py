from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest, HttpResponse

from consent.rights.reveals import account_view_record
from core.users import signed_in
from portal.accounts.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("id",)
    # No personal data on the list (it would show many people's at once, unlogged): an
    # account is found by searching for its address and opened, which is a logged look.
    list_display = ("__str__", "is_data_officer", "is_staff", "is_active")
    search_fields = ("email", "display_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("display_name", "preferred_language", "phone")}),
        (
            "Roles",
            {"fields": ("is_active", "is_data_officer", "is_staff", "is_superuser", "groups")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        subject = getattr(response, "context_data", {}).get("original")
        if response.status_code == 200 and subject is not None:
            # The page shows the person's e-mail address, name and phone: a logged look,
            # listed for them under "who looked at my data".
            account_view_record(actor=signed_in(request.user), subject=subject)
        return response
