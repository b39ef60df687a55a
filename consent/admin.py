"""Admin: the register is edited here; notices are written as drafts and published (then
read-only, like every published notice); the log is read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from consent import register
from consent.models import (
    ConsentEvent,
    IntegrityCheck,
    LogEntry,
    Notice,
    NoticeDraft,
    Purpose,
    RefusalCount,
    TreeHead,
)
from consent.services import notice_draft_publish, text_sha256
from core.errors import DomainError, Invalid
from core.form_rows import RowForm, RowsModelForm, row_formset


class RecipientRowForm(RowForm):
    name = forms.CharField(label=_("name"), max_length=200)
    role = forms.ChoiceField(
        label=_("role"),
        choices=[("", "---------"), ("processor", _("processor")), ("controller", _("controller")),
                 ("recipient", _("recipient"))],
    )
    country = forms.RegexField(
        label=_("country"), regex=r"^[A-Za-z]{2}$", max_length=2,
        error_messages={"invalid": _("A two-letter country code (ISO 3166-1), e.g. CN.")},
    )

    def to_item(self) -> dict[str, Any]:
        item = super().to_item()
        item["country"] = item["country"].upper()
        return item


RecipientFormSet = row_formset(RecipientRowForm, unique_field="name")


class PurposeAdminForm(RowsModelForm):
    """The register's checks as form errors on the fields (never an exception at save).
    Data categories are ticked from the register's vocabulary; recipients are rows."""

    rows = {"recipients": (RecipientFormSet, _("Recipients (processors and others)"))}

    dpv_purpose = forms.URLField(
        assume_scheme="https", max_length=200,
        help_text=Purpose._meta.get_field("dpv_purpose").help_text,
    )
    data_categories = forms.MultipleChoiceField(
        label=_("data categories"), widget=forms.CheckboxSelectMultiple,
        choices=[(code, label) for code, (label, _iri) in register.DATA_CATEGORIES.items()],
    )

    class Meta:
        model = Purpose
        exclude = ["recipients"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        categories = data.get("data_categories")
        recipients = [
            f.to_item() for f in self.row_formsets["recipients"].forms
            if f.is_valid() and f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]
        if self.errors:
            return data
        try:
            register.validate_purpose_fields(
                data_categories=list(categories or []), recipients=recipients,
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
    change_form_template = "admin/rows_change_form.html"
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


def _hash_rows(rows: list[tuple[str, str, str]]) -> Any:
    return format_html(
        "<dl data-notice-hashes>{}</dl>",
        format_html_join("", "<dt>{} {}</dt><dd><code data-sha256>{}</code></dd>", rows),
    )


@admin.register(NoticeDraft)
class NoticeDraftAdmin(admin.ModelAdmin):
    """Write a notice, check it, publish it: publishing runs `notice_draft_publish`, which
    calls the same `notice_publish` as `manage.py publish_notice`, and shows its hashes."""

    list_display = ("purpose", "title_en", "state", "published_at")
    list_filter = ("purpose",)
    fields = ("purpose", "title_en", "text_en", "title_zh_hans", "text_zh_hans",
              "requires_reconsent", "hashes")
    readonly_fields = ("hashes",)
    actions = ("publish",)
    change_form_template = "admin/consent/noticedraft/change_form.html"

    @admin.display(description=_("state"))
    def state(self, obj: NoticeDraft) -> str:
        if obj.is_published:
            return str(_("published as version %(v)s") % {"v": obj.published_version})
        return str(_("draft"))

    @admin.display(description=_("text hash (SHA-256)"))
    def hashes(self, obj: NoticeDraft) -> Any:
        if obj.pk is None:
            return "—"
        if obj.is_published:
            notices = Notice.objects.filter(purpose_id=obj.purpose_id,
                                            version=obj.published_version or 0)
            return _hash_rows([(n.language, f"v{n.version}", n.text_sha256) for n in notices])
        texts = [("en", obj.text_en), ("zh-hans", obj.text_zh_hans)]
        return _hash_rows([
            (language, str(_("(when published)")), text_sha256(text.strip()))
            for language, text in texts if text.strip()
        ])

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_published:
            return False  # a published notice is never edited: write a new draft
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_published:
            return False
        return super().has_delete_permission(request, obj)

    def _publish_one(self, request: HttpRequest, draft: NoticeDraft) -> bool:
        try:
            notices = notice_draft_publish(draft_id=draft.pk)
        except DomainError as error:
            details = [m for ms in (error.errors or {}).values() for m in ms]
            messages.error(request, " ".join([error.detail, *details]))
            return False
        for notice in notices:
            messages.success(request, _("Published %(purpose)s v%(v)s (%(lang)s), sha256 %(hash)s")
                             % {"purpose": draft.purpose.code, "v": notice.version,
                                "lang": notice.language, "hash": notice.text_sha256})
        return True

    @admin.action(description=_("Publish the selected drafts"))
    def publish(self, request: HttpRequest, queryset: QuerySet[NoticeDraft]) -> None:
        for draft in queryset.select_related("purpose").order_by("pk"):
            self._publish_one(request, draft)

    def response_change(self, request: HttpRequest, obj: NoticeDraft) -> HttpResponse:
        if "_publish" in request.POST:
            self._publish_one(request, obj)
            return HttpResponseRedirect(
                reverse("admin:consent_noticedraft_change", args=[obj.pk])
            )
        return super().response_change(request, obj)

    def response_add(self, request: HttpRequest, obj: NoticeDraft,
                     post_url_continue: str | None = None) -> HttpResponse:
        if "_publish" in request.POST:
            self._publish_one(request, obj)
            return HttpResponseRedirect(
                reverse("admin:consent_noticedraft_change", args=[obj.pk])
            )
        return super().response_add(request, obj, post_url_continue)


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
