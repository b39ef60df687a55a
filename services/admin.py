"""Admin for the city administrator: departments and staff roles, districts, categories, rules.

Requests themselves are not in the admin: they hold residents' personal data, and staff see
them through the queue, where access is checked and logged.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from shapely.geometry import shape

from services.attributes import DATATYPES
from services.models import (
    Category,
    Department,
    DepartmentMembership,
    District,
    RoutingRule,
    StandardReply,
)


class MembershipInline(admin.TabularInline):
    model = DepartmentMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name_en", "name_zh_hans", "is_triage", "is_active"]
    list_filter = ["is_triage", "is_active"]
    search_fields = ["code", "name_en", "name_zh_hans"]
    inlines = [MembershipInline]


@admin.register(DepartmentMembership)
class DepartmentMembershipAdmin(admin.ModelAdmin):
    list_display = ["department", "role", "created_at"]
    list_filter = ["role", "department"]
    autocomplete_fields = ["user", "department"]


class DistrictForm(forms.ModelForm):
    class Meta:
        model = District
        fields = ["code", "name_en", "name_zh_hans", "boundary"]

    def clean_boundary(self) -> Any:
        boundary = self.cleaned_data["boundary"]
        if isinstance(boundary, str):
            boundary = json.loads(boundary)
        if not isinstance(boundary, dict) or boundary.get("type") not in (
            "Polygon",
            "MultiPolygon",
        ):
            raise ValidationError(_("Give a GeoJSON Polygon or MultiPolygon."))
        try:
            geometry = shape(boundary)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise ValidationError(_("This is not valid GeoJSON geometry.")) from exc
        if not geometry.is_valid or geometry.is_empty:
            raise ValidationError(_("The polygon is empty or intersects itself."))
        return boundary


@admin.register(District)
class DistrictAdmin(admin.ModelAdmin):
    form = DistrictForm
    list_display = ["code", "name_en", "name_zh_hans"]
    search_fields = ["code", "name_en", "name_zh_hans"]


class CategoryForm(forms.ModelForm):
    class Meta:
        model = Category
        fields = "__all__"  # noqa: DJ007 - the administrator edits every setting of a category

    def clean_attributes(self) -> Any:
        attributes = self.cleaned_data["attributes"] or []
        if not isinstance(attributes, list):
            raise ValidationError(_("Give a list of attributes."))
        codes = set()
        for attribute in attributes:
            if not isinstance(attribute, dict) or not attribute.get("code"):
                raise ValidationError(_("Every attribute needs a code."))
            if attribute["code"] in codes:
                raise ValidationError(_("Attribute codes must be unique."))
            codes.add(attribute["code"])
            if attribute.get("datatype", "string") not in DATATYPES:
                raise ValidationError(
                    _("Unknown datatype; use one of: %(types)s.") % {"types": ", ".join(DATATYPES)}
                )
            if attribute.get("datatype") in ("singlevaluelist", "multivaluelist") and not (
                attribute.get("values")
            ):
                raise ValidationError(_("A list attribute needs values."))
        return attributes


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    form = CategoryForm
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
