"""Admin: the register is edited here; notices are published, never edited; the log is read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from consent import register
from consent.models import (
    ConsentEvent,
    IntegrityCheck,
    LogEntry,
    Notice,
    Purpose,
    RefusalCount,
    TreeHead,
)
from core.errors import Invalid


class PurposeAdminForm(forms.ModelForm):
    """The register's checks as form errors on the fields (never an exception at save)."""

    dpv_purpose = forms.URLField(
        assume_scheme="https", max_length=200,
        help_text=Purpose._meta.get_field("dpv_purpose").help_text,
    )

    class Meta:
        model = Purpose
        fields = "__all__"  # noqa: DJ007 - the admin edits every column of the register

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        categories = data.get("data_categories")
        recipients = data.get("recipients")
        if "data_categories" in data and not (
            isinstance(categories, list) and all(isinstance(c, str) for c in categories)
        ):
            self.add_error("data_categories", _("A list of category codes, e.g. [\"contact\"]."))
        if "recipients" in data and not isinstance(recipients, list):
            self.add_error("recipients", _("A list of recipients (name, role, country)."))
        if self.errors:
            return data
        try:
            register.validate_purpose_fields(
                data_categories=categories or [], recipients=recipients or [],
                legal_basis=data.get("legal_basis", ""),
                requires_consent=bool(data.get("requires_consent")),
            )
        except Invalid as error:
            for field, messages in (error.errors or {}).items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
        return data


@admin.register(Purpose)
class PurposeAdmin(admin.ModelAdmin):
    form = PurposeAdminForm
    list_display = ("code", "title_en", "legal_basis", "requires_consent", "is_active")
    list_filter = ("legal_basis", "requires_consent", "is_active")
    filter_horizontal = ("departments",)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = ("purpose", "version", "language", "title", "text_sha256", "published_at")
    list_filter = ("language",)


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "subject_pseudonym", "purpose", "event_type", "notice_version",
                    "method", "created_at")
    list_filter = ("event_type", "method", "purpose")
    exclude = ("recorded_by",)


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    list_display = ("index", "kind", "leaf_hash", "created_at")
    list_filter = ("kind",)


@admin.register(TreeHead)
class TreeHeadAdmin(ReadOnlyAdmin):
    list_display = ("tree_size", "root_hash", "timestamp", "key_id")


@admin.register(IntegrityCheck)
class IntegrityCheckAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "tree_size", "heads_checked", "ok")


@admin.register(RefusalCount)
class RefusalCountAdmin(ReadOnlyAdmin):
    list_display = ("day", "purpose_code", "reason", "count")
    list_filter = ("purpose_code", "reason")
