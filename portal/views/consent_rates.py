"""Data officers: the consent rate over time, per purpose and notice version, as SVG drawn on
the server. Numbers come from consent.selectors.consent_aggregates (as the aggregates API);
days are summed into weeks or months, and a point with fewer than 5 decisions is not shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from consent import selectors as consent_selectors
from portal.forms import ConsentRateFilterForm
from portal.views.common import is_data_officer, role_required
from portal.views.statistics import SUPPRESS_BELOW

DEFAULT_DAYS = 182
MAX_BUCKETS = 120
SERIES_STYLES = 4  # .series-1 … .series-4 in portal.css (colour and dash pattern)

# Geometry of one chart (SVG user units).
WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 12, 32


@dataclass
class Point:
    start: date
    given: int = 0
    refused: int = 0
    withdrawn: int = 0

    @property
    def decided(self) -> int:
        return self.given + self.refused

    @property
    def suppressed(self) -> bool:
        return self.decided < SUPPRESS_BELOW

    @property
    def rate(self) -> int | None:
        return None if self.suppressed else round(100 * self.given / self.decided)


def bucket_start(day: date, per: str) -> date:
    if per == "month":
        return day.replace(day=1)
    return day - timedelta(days=day.weekday())


def bucket_starts(first: date, last: date, per: str) -> list[date]:
    """Every bucket from the one holding `first` to the one holding `last` (gaps included)."""
    out: list[date] = []
    current = bucket_start(first, per)
    while current <= last and len(out) < MAX_BUCKETS:
        out.append(current)
        if per == "month":
            current = (current + timedelta(days=32)).replace(day=1)
        else:
            current += timedelta(days=7)
    return out


def rate_series(rows: list[dict[str, Any]], per: str) -> dict[str, dict[int, dict[date, Point]]]:
    """purpose → notice version → bucket start → summed counts, from the daily aggregates."""
    out: dict[str, dict[int, dict[date, Point]]] = {}
    for row in rows:
        start = bucket_start(date.fromisoformat(row["day"]), per)
        versions = out.setdefault(row["purpose"], {})
        point = versions.setdefault(row["notice_version"], {}).setdefault(start, Point(start))
        point.given += row["given"]
        point.refused += row["refused"]
        point.withdrawn += row["withdrawn"]
    return out


def line_chart(versions: dict[int, dict[date, Point]], buckets: list[date]) -> dict[str, Any]:
    """Geometry of one purpose's chart: a line per notice version, broken where suppressed."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(buckets) - 1, 1)
    x_of = {b: round(LEFT + i * step, 1) for i, b in enumerate(buckets)}

    def y_of(rate: int) -> float:
        return round(TOP + plot_h * (1 - rate / 100), 1)

    series = []
    for n, (version, points) in enumerate(sorted(versions.items())):
        segments: list[list[dict[str, Any]]] = [[]]
        for bucket in buckets:
            point = points.get(bucket)
            if point is None or point.rate is None:
                if segments[-1]:
                    segments.append([])
                continue
            segments[-1].append({
                "x": x_of[bucket], "y": y_of(point.rate), "rate": point.rate,
                "decided": point.decided, "start": bucket,
            })
        segments = [s for s in segments if s]
        series.append({
            "version": version,
            "style": f"series-{n % SERIES_STYLES + 1}",
            "segments": [
                {"points": " ".join(f"{p['x']},{p['y']}" for p in s), "dots": s}
                for s in segments
            ],
            "shown": sum(len(s) for s in segments),
        })
    every = max(1, -(-len(buckets) // 6))  # at most about six date labels
    return {
        "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT,
        "bottom": HEIGHT - BOTTOM, "label_y": HEIGHT - 10,
        "y_ticks": [
            {"y": y_of(v), "label": v, "text_y": y_of(v) + 4} for v in (0, 25, 50, 75, 100)
        ],
        "x_ticks": [{"x": x_of[b], "label": b} for i, b in enumerate(buckets) if i % every == 0],
        "series": series,
        "empty": not any(s["shown"] for s in series),
    }


def _table(versions: dict[int, dict[date, Point]]) -> list[dict[str, Any]]:
    return [
        {"version": version, "point": point}
        for version, points in sorted(versions.items())
        for _start, point in sorted(points.items())
    ]


def _aware(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@role_required(is_data_officer)
@require_GET
def officer_consent_rates(request: HttpRequest) -> HttpResponse:
    purposes = [p for p in consent_selectors.register_purposes(include_inactive=True)
                if p.requires_consent]
    form = ConsentRateFilterForm(request.GET or None, purposes=purposes)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    today = timezone.localdate()
    until = data.get("until") or today
    since = data.get("since") or until - timedelta(days=DEFAULT_DAYS)
    per = data.get("per") or "week"
    rows = consent_selectors.consent_aggregates(
        purpose=data.get("purpose") or None,
        since=_aware(since),
        until=_aware(until + timedelta(days=1)),
    )
    buckets = bucket_starts(since, until, per)
    by_purpose = rate_series(rows, per)
    charts = []
    for purpose in purposes:
        if data.get("purpose") and purpose.code != data["purpose"]:
            continue
        versions = by_purpose.get(purpose.code, {})
        charts.append({
            "purpose": purpose,
            "chart": line_chart(versions, buckets),
            "table": _table(versions),
        })
    return render(
        request,
        "portal/privacy/officer_consent_rates.html",
        {
            "form": form, "charts": charts, "since": since, "until": until, "per": per,
            "suppress_below": SUPPRESS_BELOW,
        },
    )
