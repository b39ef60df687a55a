"""Public service statistics: per category and district, with small counts suppressed.

Only aggregates leave this module; a group with fewer than SUPPRESS_BELOW requests shows
"fewer than 5" instead of numbers, so no one can be singled out in a small street or category.
"""

from __future__ import annotations

import statistics as pystats
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.cache import cache
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from services.models import Category, District, ServiceRequest, Status

SUPPRESS_BELOW = 5
PERIOD_DAYS = 365
DONE = (Status.RESOLVED, Status.CLOSED)


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


def _rows(key: str, labels: dict[int | None, str]) -> list[Row]:
    since = timezone.now() - timedelta(days=PERIOD_DAYS)
    base = ServiceRequest.objects.filter(created_at__gte=since, category__is_public=True)
    rows: dict[int | None, Row] = {pk: Row(label=label) for pk, label in labels.items()}
    counts = base.values(key).annotate(
        total=Count("id"),
        open=Count("id", filter=~Q(status__in=[*DONE, Status.REJECTED, Status.WITHDRAWN])),
    )
    for item in counts:
        row = rows.setdefault(item[key], Row(label=labels.get(item[key], "—")))
        row.total, row.open = item["total"], item["open"]
    done = base.filter(status__in=DONE, resolved_at__isnull=False).values_list(
        key, "created_at", "resolved_at", "due_at"
    )
    for pk, created, resolved, due in done.iterator():
        row = rows[pk]
        row.resolved += 1
        row.hours.append((resolved - created).total_seconds() / 3600)
        if due is None or resolved <= due:
            row.sla_met += 1
    return sorted(
        (r for r in rows.values() if r.total), key=lambda r: (r.suppressed, -r.total, r.label)
    )


def service_statistics() -> dict[str, list[Row]]:
    """Aggregates for the public page, cached for a few minutes per language."""
    cache_key = f"portal:statistics:{get_language()}"
    cached = cache.get(cache_key)
    if cached is not None:
        return cached
    categories = {c.pk: c.name for c in Category.objects.filter(is_public=True)}
    districts: dict[int | None, str] = {d.pk: d.name for d in District.objects.all()}
    districts[None] = _("No district given")
    result = {
        "categories": _rows("category_id", categories),  # type: ignore[arg-type]
        "districts": _rows("district_id", districts),
    }
    cache.set(cache_key, result, timeout=300)
    return result


def bar_chart(rows: list[Row], *, value: str, unit: str = "") -> dict:
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
    return render(
        request,
        "portal/public/statistics.html",
        {
            "stats": stats,
            "suppress_below": SUPPRESS_BELOW,
            "period_days": PERIOD_DAYS,
            "count_chart": bar_chart(stats["categories"], value="total"),
            "median_chart": bar_chart(stats["categories"], value="median_hours", unit="h"),
            "sla_chart": bar_chart(stats["districts"], value="sla_percent", unit="%"),
        },
    )
