"""Geography: which district a point lies in (shapely point-in-polygon)."""

from __future__ import annotations

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
