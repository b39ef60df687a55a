"""Public pages: what you can do here, and the categories the city handles."""

from __future__ import annotations

from itertools import groupby

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from services.models import Category


def home(request: HttpRequest) -> HttpResponse:
    categories = list(
        Category.objects.filter(is_active=True, is_public=True).order_by("kind", "group", "name_en")
    )
    groups = [
        (kind, list(items))
        for kind, items in groupby(categories, key=lambda c: c.get_kind_display())
    ]
    return render(request, "portal/public/home.html", {"groups": groups})
