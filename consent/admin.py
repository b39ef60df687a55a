"""Admin: the register is edited here; notices are published, never edited; the log is read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

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


@admin.register(Purpose)
class PurposeAdmin(admin.ModelAdmin):
    list_display = ("code", "title_en", "legal_basis", "requires_consent", "is_active")
    list_filter = ("legal_basis", "requires_consent", "is_active")
    filter_horizontal = ("departments",)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        register.validate_purpose_fields(
            data_categories=obj.data_categories, recipients=obj.recipients,
            legal_basis=obj.legal_basis, requires_consent=obj.requires_consent,
        )
        super().save_model(request, obj, form, change)


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
