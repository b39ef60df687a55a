"""Admin for the city administrator: departments and staff roles, districts, categories, rules.

Requests themselves are not in the admin: they hold residents' personal data, and staff see
them through the queue, where access is checked and logged. Nothing here is a JSON textarea:
category attributes are rows of fields, district boundaries are GeoJSON files.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from core.errors import Invalid
from core.form_rows import RowForm, RowsModelForm, row_formset
from services.attributes import DATATYPES
from services.geo import boundary_problem, districts_from_geojson, geojson_load
from services.models import (
    Category,
    Department,
    DepartmentMembership,
    District,
    RoutingRule,
    StandardReply,
)
from services.selectors import Staffing, annotate_staffing, departments_staffing
from services.services import districts_import

MAX_GEOJSON_BYTES = 5 * 1024 * 1024
LIST_DATATYPES = ("singlevaluelist", "multivaluelist")
DATATYPE_LABELS = {
    "string": _("short text"),
    "text": _("long text"),
    "number": _("number"),
    "datetime": _("date and time"),
    "singlevaluelist": _("one of a list"),
    "multivaluelist": _("several of a list"),
}


# --- Departments -------------------------------------------------------------------------------


def staffing_warnings(staffing: Staffing) -> list[str]:
    """What an administrator must fix before a department can take work, in words."""
    warnings = []
    if not staffing.staffed:
        warnings.append(str(_("No active staff: its work goes to Triage until someone joins.")))
    if not staffing.supervisors:
        warnings.append(str(_("No supervisor: nobody can assign its work or hear of its "
                              "missed deadlines (Triage's supervisors are told instead).")))
    return warnings


class MembershipInline(admin.TabularInline):
    model = DepartmentMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name_en", "name_zh_hans", "is_triage", "is_active", "staffing"]
    list_filter = ["is_triage", "is_active"]
    search_fields = ["code", "name_en", "name_zh_hans"]
    inlines = [MembershipInline]
    readonly_fields = ["staffing"]

    def get_queryset(self, request: HttpRequest) -> Any:
        # The staffing column, counted in the same query as the list (no query per row).
        return annotate_staffing(super().get_queryset(request))

    @admin.display(description=_("staffing"))
    def staffing(self, obj: Department) -> str:
        if obj.pk is None:
            return "—"
        staffing = Staffing(members=getattr(obj, "active_members", 0),
                            supervisors=getattr(obj, "active_supervisors", 0))
        warnings = staffing_warnings(staffing)
        if not warnings:
            return str(_("%(m)d active staff, %(s)d supervisor(s)")
                       % {"m": staffing.members, "s": staffing.supervisors})
        return "⚠ " + " ".join(warnings)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: Any = None) -> HttpResponse:
        if request.method == "GET" and object_id.isdigit():
            staffing = departments_staffing(department_ids=[int(object_id)]).get(int(object_id))
            for warning in staffing_warnings(staffing) if staffing else []:
                messages.warning(request, warning)
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(DepartmentMembership)
class DepartmentMembershipAdmin(admin.ModelAdmin):
    list_display = ["department", "role", "created_at"]
    list_filter = ["role", "department"]
    autocomplete_fields = ["user", "department"]


# --- Districts ---------------------------------------------------------------------------------


class GeoJSONFileField(forms.FileField):
    """An uploaded GeoJSON file, read and parsed (size-limited); bad JSON is a field error."""

    def clean(self, data: Any, initial: Any = None) -> Any:
        upload = super().clean(data, initial)
        if upload is None or upload is False or not hasattr(upload, "read"):
            return None
        if upload.size and upload.size > MAX_GEOJSON_BYTES:
            raise ValidationError(_("The file is larger than 5 MB."))
        try:
            return geojson_load(upload.read())
        except Invalid as error:
            raise ValidationError(error.errors.get("file") or [error.detail]) from error


class DistrictForm(forms.ModelForm):
    boundary_file = GeoJSONFileField(
        label=_("boundary (GeoJSON file)"), required=False,
        help_text=_("A GeoJSON Polygon or MultiPolygon (or a Feature holding one), coordinates "
                    "as [longitude, latitude]. Leave empty to keep the current boundary."),
    )

    class Meta:
        model = District
        fields = ["code", "name_en", "name_zh_hans"]

    def clean_boundary_file(self) -> Any:
        geometry = self.cleaned_data.get("boundary_file")
        if geometry is None:
            if self.instance.pk is None:
                raise ValidationError(_("Upload the district's boundary."))
            return None
        if isinstance(geometry, dict) and geometry.get("type") == "Feature":
            geometry = geometry.get("geometry")
        problem = boundary_problem(geometry)
        if problem:
            raise ValidationError(problem)
        return geometry

    def save(self, commit: bool = True) -> Any:  # noqa: FBT001, FBT002 - Django's signature
        if self.cleaned_data.get("boundary_file") is not None:
            self.instance.boundary = self.cleaned_data["boundary_file"]
        return super().save(commit=commit)


class DistrictUploadForm(forms.Form):
    file = GeoJSONFileField(
        label=_("GeoJSON file"),
        help_text=_("A FeatureCollection: one Polygon or MultiPolygon feature per district, "
                    "with a “name” property (and optionally “code” and “name_zh_hans”). "
                    "Districts with a code that exists already are updated."),
    )


@admin.register(District)
class DistrictAdmin(admin.ModelAdmin):
    form = DistrictForm
    list_display = ["code", "name_en", "name_zh_hans"]
    search_fields = ["code", "name_en", "name_zh_hans"]
    change_list_template = "admin/services/district/change_list.html"

    def get_urls(self) -> list[Any]:
        upload = path(
            "upload/", self.admin_site.admin_view(self.upload_view),
            name="services_district_upload",
        )
        return [upload, *super().get_urls()]

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a FeatureCollection of district polygons; all of it is imported or none."""
        if not self.has_add_permission(request) or not self.has_change_permission(request):
            raise PermissionDenied
        form = DistrictUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                shapes = districts_from_geojson(form.cleaned_data["file"])
                created, updated = districts_import(shapes=shapes)
            except Invalid as error:
                for message in error.errors.get("file") or [error.detail]:
                    form.add_error("file", message)
            else:
                messages.success(
                    request,
                    _("Districts imported: %(c)d new, %(u)d updated.")
                    % {"c": created, "u": updated},
                )
                return HttpResponseRedirect(reverse("admin:services_district_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Upload districts (GeoJSON)"),
            "form": form,
        }
        return TemplateResponse(request, "admin/services/district/upload.html", context)


# --- Categories --------------------------------------------------------------------------------


class ChoicesField(forms.Field):
    """A list's choices, one per line: `key | English name | 中文名` (the Chinese is optional)."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 36})

    def to_python(self, value: Any) -> list[dict[str, str]]:
        text = value.strip() if isinstance(value, str) else ""
        choices: list[dict[str, str]] = []
        problems: list[str] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            parts = [part.strip() for part in line.split("|")]
            if len(parts) > 3 or not parts[0]:
                problems.append(str(_("Line %(n)d: write “key | English name | 中文名”.")
                                    % {"n": number}))
                continue
            key = parts[0]
            if any(c["key"] == key for c in choices):
                problems.append(str(_("Line %(n)d: the key “%(key)s” is used twice.")
                                    % {"n": number, "key": key}))
                continue
            choice = {"key": key, "name": (parts[1] if len(parts) > 1 else "") or key}
            if len(parts) > 2 and parts[2]:
                choice["name_zh_hans"] = parts[2]
            choices.append(choice)
        if problems:
            raise ValidationError(problems)
        return choices

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(self.prepare_value(initial) or "") != self.to_python(data)
        except ValidationError:
            return True

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            lines = []
            for choice in value:
                if isinstance(choice, dict):
                    parts = [str(choice.get("key", "")), str(choice.get("name", ""))]
                    if choice.get("name_zh_hans"):
                        parts.append(str(choice["name_zh_hans"]))
                    lines.append(" | ".join(parts))
            return "\n".join(lines)
        return value


class AttributeRowForm(RowForm):
    code = forms.SlugField(label=_("code"), max_length=50)
    description = forms.CharField(label=_("question (English)"), max_length=200)
    description_zh_hans = forms.CharField(
        label=_("question (Simplified Chinese)"), max_length=200, required=False
    )
    datatype = forms.ChoiceField(
        # A blank first choice: an unused extra row stays unchanged (and is not validated).
        label=_("answer"), choices=[("", "---------")]
        + [(d, DATATYPE_LABELS[d]) for d in DATATYPES]
    )
    required = forms.BooleanField(label=_("required"), required=False)
    order = forms.IntegerField(label=_("order"), min_value=0, max_value=999, required=False)
    values = ChoicesField(
        label=_("choices"), required=False,
        help_text=_("For a list answer, one choice per line: key | English name | 中文名"),
    )

    @classmethod
    def initial_from(cls, item: dict[str, Any]) -> dict[str, Any]:
        initial = super().initial_from(item)
        initial["datatype"] = item.get("datatype") or "string"
        initial["values"] = item.get("values") or []
        return initial

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        datatype = data.get("datatype")
        values = data.get("values") or []
        if datatype in LIST_DATATYPES and not values and "values" not in self.errors:
            self.add_error("values", _("A list answer needs at least one choice."))
        elif datatype and datatype not in LIST_DATATYPES and values:
            self.add_error("values", _("Only a list answer has choices."))
        return data

    def to_item(self) -> dict[str, Any]:
        data = self.cleaned_data
        item: dict[str, Any] = {
            "code": data["code"],
            "datatype": data["datatype"],
            "required": bool(data.get("required")),
            "description": data["description"],
            "order": data.get("order") if data.get("order") is not None else 0,
        }
        if data.get("description_zh_hans"):
            item["description_zh_hans"] = data["description_zh_hans"]
        if data["datatype"] in LIST_DATATYPES:
            item["values"] = data["values"]
        return item


AttributeFormSet = row_formset(AttributeRowForm, unique_field="code")


class CategoryForm(RowsModelForm):
    rows = {"attributes": (AttributeFormSet, _("Questions asked with a report (attributes)"))}

    class Meta:
        model = Category
        exclude = ["attributes"]

    def save(self, commit: bool = True) -> Any:  # noqa: FBT001, FBT002 - Django's signature
        # Keys a row does not edit (e.g. added by a later version) survive an edit of the row.
        before = {a.get("code"): a for a in self.instance.attributes or [] if isinstance(a, dict)}
        edited = set(AttributeRowForm.base_fields)
        self.instance.attributes = [
            {**{k: v for k, v in before.get(item["code"], {}).items() if k not in edited}, **item}
            for item in self.row_values("attributes")
        ]
        return super(RowsModelForm, self).save(commit=commit)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    form = CategoryForm
    change_form_template = "admin/rows_change_form.html"
    list_display = ["code", "kind", "name_en", "department", "sla_hours", "is_active", "is_public"]
    list_filter = ["kind", "is_active", "is_public", "department"]
    search_fields = ["code", "name_en", "name_zh_hans", "keywords"]


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ["order", "category", "district", "department", "is_active", "note"]
    list_filter = ["is_active", "department"]
    list_editable = ["is_active"]
    ordering = ["order", "id"]


@admin.register(StandardReply)
class StandardReplyAdmin(admin.ModelAdmin):
    """Ready-made answers clerks insert into replies and resolutions (and may edit first)."""

    list_display = ["title_en", "title_zh_hans", "department", "order", "is_active"]
    list_filter = ["is_active", "department"]
    list_editable = ["order", "is_active"]
    search_fields = ["title_en", "title_zh_hans", "body_en", "body_zh_hans"]
    fields = ["department", "title_en", "title_zh_hans", "body_en", "body_zh_hans", "order",
              "is_active"]
    ordering = ["department", "order", "title_en"]
