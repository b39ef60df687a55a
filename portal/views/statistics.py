"""Public service statistics: the page, its charts and the open data (CSV, JSON).

The aggregates and their small-cell suppression are selectors in services/statistics.py (the
supervisors' team figures: services.selectors.team_overview); this module caches, draws and
serialises them. `Row` is the data officer's consent-rate row (portal/views/privacy.py).
"""

from __future__ import annotations

import csv
import io
import statistics as pystats
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import get_language

from services import statistics
from services.selectors import SlaRow
from services.statistics import StatRow, StatTable

SUPPRESS_BELOW = statistics.SUPPRESS_BELOW


@dataclass
class Row:
    label: str
    total: int = 0
    open: int = 0
    resolved: int = 0
    sla_met: int = 0
    hours: list[float] = field(default_factory=list)

    @property
    def suppressed(self) -> bool:
        return self.total < SUPPRESS_BELOW

    @property
    def median_hours(self) -> float | None:
        if self.suppressed or len(self.hours) < SUPPRESS_BELOW:
            return None
        return round(pystats.median(self.hours), 1)

    @property
    def sla_percent(self) -> int | None:
        if self.suppressed or self.resolved < SUPPRESS_BELOW:
            return None
        return round(100 * self.sla_met / self.resolved)


def service_statistics() -> dict[str, StatTable]:
    """The public aggregates (services.statistics), cached for a few minutes per language."""
    cache_key = f"portal:statistics:{get_language()}"
    cached = cache.get(cache_key)
    if cached is not None:
        return cached
    result = statistics.service_statistics()
    cache.set(cache_key, result, timeout=300)
    return result


def bar_chart(rows: Sequence[Row | StatRow | SlaRow], *, value: str, unit: str = "") -> dict:
    """Geometry for a horizontal SVG bar chart (drawn by the template, no script needed)."""
    points = [(r.label, getattr(r, value)) for r in rows if not r.suppressed]
    points = [(label, v) for label, v in points if v is not None]
    biggest = max((v for _, v in points), default=0) or 1
    bar_h, gap, label_w, width = 22, 10, 190, 640
    bars = []
    for i, (label, v) in enumerate(points):
        y = i * (bar_h + gap)
        length = (width - label_w - 70) * v / biggest
        bars.append({"label": label, "value": v, "y": y, "text_y": y + 16, "w": round(length, 1),
                     "value_x": round(label_w + length + 6, 1)})
    return {"bars": bars, "height": max(len(bars) * (bar_h + gap), 1), "width": width,
            "label_w": label_w, "bar_h": bar_h, "unit": unit}


def statistics_page(request: HttpRequest) -> HttpResponse:
    stats = service_statistics()
    categories, districts = stats["categories"], stats["districts"]
    return render(
        request,
        "portal/public/statistics.html",
        {
            "stats": stats,
            "cells": [(c, statistics.CELL_LABELS[c]) for c in statistics.CELLS],
            "definitions": statistics.DEFINITIONS,
            "suppress_below": statistics.SUPPRESS_BELOW,
            "period_days": statistics.PERIOD_DAYS,
            "count_chart": bar_chart(categories.rows, value="total"),
            "fixed_chart": bar_chart(categories.rows, value="fixed_percent", unit="%"),
            "median_chart": bar_chart(categories.rows, value="median_days_to_fix", unit=""),
            "sla_chart": bar_chart(districts.rows, value="fixed_by_deadline_percent", unit="%"),
        },
    )


def statistics_json(request: HttpRequest) -> JsonResponse:
    """Open data: the page's aggregates, suppression applied (CC BY 4.0 like the page)."""
    response = JsonResponse(statistics.open_data(service_statistics()),
                            json_dumps_params={"ensure_ascii": False})
    response["Access-Control-Allow-Origin"] = "*"
    return response


def statistics_csv(request: HttpRequest) -> HttpResponse:
    out = io.StringIO()
    csv.writer(out).writerows(statistics.open_data_rows(service_statistics()))
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="civicdesk-statistics.csv"'
    response["Access-Control-Allow-Origin"] = "*"
    return response
