"""Geography: which district a point lies in (shapely point-in-polygon)."""

from __future__ import annotations

from functools import lru_cache

from shapely.geometry import Point, shape
from shapely.prepared import prep

from services.models import District


@lru_cache(maxsize=4)
def _prepared(signature: tuple[tuple[int, str], ...]) -> list[tuple[int, object]]:
    return [(pk, prep(shape(boundary))) for pk, boundary in _boundaries(signature)]


def _boundaries(signature: tuple[tuple[int, str], ...]) -> list[tuple[int, dict]]:
    import json

    return [(pk, json.loads(boundary)) for pk, boundary in signature]


def district_for(*, lat: float | None, lon: float | None) -> District | None:
    """The district containing (lat, lon), or None. GeoJSON order is (lon, lat).

    One query per call: the districts themselves. Their prepared polygons are cached per
    process, keyed by the boundaries' text, so an edit in the admin takes effect at once.
    """
    if lat is None or lon is None:
        return None
    import json

    districts = list(District.objects.order_by("pk"))
    signature = tuple(
        (d.pk, json.dumps(d.boundary, sort_keys=True, separators=(",", ":"))) for d in districts
    )
    point = Point(lon, lat)
    by_pk = {d.pk: d for d in districts}
    for pk, geometry in _prepared(signature):
        if geometry.contains(point):  # type: ignore[attr-defined]
            return by_pk[pk]
    return None
