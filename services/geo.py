"""Geography: which district a point lies in (shapely point-in-polygon)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import lru_cache

from shapely.geometry import Point, shape
from shapely.prepared import prep

from services.models import District


@lru_cache(maxsize=4)
def _prepared(signature: tuple[tuple[int, str], ...]) -> list[tuple[int, object]]:
    return [(pk, prep(shape(boundary))) for pk, boundary in _boundaries(signature)]


def _boundaries(signature: tuple[tuple[int, str], ...]) -> list[tuple[int, dict]]:
    return [(pk, json.loads(boundary)) for pk, boundary in signature]


def district_for(*, lat: float | None, lon: float | None) -> District | None:
    """The district containing (lat, lon), or None. GeoJSON order is (lon, lat).

    One query per call: the districts themselves. Their prepared polygons are cached per
    process, keyed by the boundaries' text, so an edit in the admin takes effect at once.
    """
    if lat is None or lon is None:
        return None
    return district_locator()(lat, lon)


def district_locator() -> Callable[[float, float], District | None]:
    """A function (lat, lon) → district for many points with one query (an address import)."""
    districts = list(District.objects.order_by("pk"))
    signature = tuple(
        (d.pk, json.dumps(d.boundary, sort_keys=True, separators=(",", ":"))) for d in districts
    )
    by_pk = {d.pk: d for d in districts}
    prepared = _prepared(signature)

    def locate(lat: float, lon: float) -> District | None:
        point = Point(lon, lat)
        for pk, geometry in prepared:
            if geometry.contains(point):  # type: ignore[attr-defined]
                return by_pk[pk]
        return None

    return locate


EARTH_RADIUS_M = 6_371_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))
