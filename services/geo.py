"""Geography: which district a point lies in (shapely point-in-polygon)."""

from __future__ import annotations

from functools import lru_cache

from shapely.geometry import Point, shape
from shapely.prepared import prep

from services.models import District


@lru_cache(maxsize=1)
def _prepared(signature: tuple[tuple[int, str], ...]) -> list[tuple[int, object]]:
    districts = District.objects.filter(pk__in=[pk for pk, _ in signature])
    return [(d.pk, prep(shape(d.boundary))) for d in districts]


def district_for(*, lat: float | None, lon: float | None) -> District | None:
    """The district containing (lat, lon), or None. GeoJSON order is (lon, lat)."""
    if lat is None or lon is None:
        return None
    rows = District.objects.order_by("pk").values_list("pk", "boundary")
    signature = tuple((pk, repr(boundary)) for pk, boundary in rows)
    point = Point(lon, lat)
    for pk, geometry in _prepared(signature):
        if geometry.contains(point):  # type: ignore[attr-defined]
            return District.objects.get(pk=pk)
    return None
