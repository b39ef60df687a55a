"""Geography: which district a point lies in (shapely point-in-polygon)."""

from __future__ import annotations

import math
from collections.abc import Callable

from services.models import District
from services.reference import reference_snapshot


def district_for(*, lat: float | None, lon: float | None) -> District | None:
    """The district containing (lat, lon), or None. GeoJSON order is (lon, lat).

    The districts and their prepared polygons come from the per-process reference data
    (services.reference), so an edit in the admin takes effect with the next report and a
    filing queries no district.
    """
    if lat is None or lon is None:
        return None
    return reference_snapshot().district_at(lat=lat, lon=lon)


def district_locator() -> Callable[[float, float], District | None]:
    """A function (lat, lon) → district for many points (an address import)."""
    reference = reference_snapshot()

    def locate(lat: float, lon: float) -> District | None:
        return reference.district_at(lat=lat, lon=lon)

    return locate


EARTH_RADIUS_M = 6_371_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))
