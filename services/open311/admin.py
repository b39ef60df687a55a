"""Admin for Open311 client apps: issue a key (shown once), see its use, revoke it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from services.open311.models import ApiKey, Open311Submission
from services.open311.services import api_key_issue, api_key_revoke


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name", "prefix", "is_active", "rate_limit_per_minute", "created_at", "last_used_at"
    )
    list_filter = ("is_active",)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        if obj is None:
            return ["name", "rate_limit_per_minute", "note"]
        return [
            "name", "prefix", "rate_limit_per_minute", "note", "is_active",
            "created_at", "last_used_at", "revoked_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        # A revoked key stays revoked: issue a new one instead of reactivating.
        if obj is not None and obj.revoked_at is not None:
            return (*self.readonly_fields, "is_active")
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            if not obj.is_active and obj.revoked_at is None:
                obj.save()
                api_key_revoke(api_key=obj)
                return
            obj.save()
            return
        issued, raw_key = api_key_issue(
            name=obj.name, rate_limit_per_minute=obj.rate_limit_per_minute, note=obj.note
        )
        obj.pk = issued.pk
        obj.refresh_from_db()
        # Kept on the request object only, to render once in response_add; never stored.
        request._open311_raw_key = raw_key  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        raw_key = getattr(request, "_open311_raw_key", None)
        if raw_key is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "api_key": obj,
            "raw_key": raw_key,
            "title": _("API key issued"),
        }
        response = TemplateResponse(request, "admin/open311/apikey/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key)
            count += 1
        self.message_user(request, _("%(n)d key(s) revoked.") % {"n": count}, messages.SUCCESS)

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        # Submissions point at their key: revoke instead of deleting.
        return False


@admin.register(Open311Submission)
class Open311SubmissionAdmin(admin.ModelAdmin):
    """Which client app filed which request. Contact fields are personal data: not listed."""

    list_display = ("request", "api_key", "created_at")
    list_filter = ("api_key",)
    fields = ("request", "api_key", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
