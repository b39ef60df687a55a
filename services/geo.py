"""Geography: which district a point lies in (shapely point-in-polygon), and the checks on
district boundaries a city uploads (one GeoJSON geometry, or a FeatureCollection of them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.text import slugify
from django.utils.translation import gettext as _
from shapely.errors import ShapelyError
from shapely.geometry import shape

from core.errors import Invalid
from services.models import District
from services.reference import reference_snapshot

BOUNDARY_TYPES = ("Polygon", "MultiPolygon")
MAX_DISTRICTS_PER_FILE = 500
# Other spellings of the Chinese name seen in municipal GeoJSON exports.
ZH_NAME_KEYS = ("name_zh_hans", "name:zh-Hans", "name:zh", "name_zh")


def boundary_problem(geometry: Any) -> str | None:
    """Why `geometry` cannot be a district boundary (in words), or None if it can."""
    if not isinstance(geometry, dict) or geometry.get("type") not in BOUNDARY_TYPES:
        found = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        return _("A district boundary is a Polygon or MultiPolygon, not %(type)s.") % {
            "type": found or _("nothing")
        }
    try:
        polygon = shape(geometry)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, ShapelyError):
        return _("The coordinates are not valid GeoJSON.")
    if polygon.is_empty or not polygon.is_valid:
        return _("The polygon is empty or intersects itself.")
    minx, miny, maxx, maxy = polygon.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        return _("Coordinates are [longitude, latitude] in degrees (WGS 84).")
    return None


@dataclass(frozen=True)
class DistrictShape:
    code: str
    name_en: str
    name_zh_hans: str
    boundary: dict[str, Any]


def geojson_load(raw: bytes) -> Any:
    """The parsed JSON of an uploaded file, or Invalid (field `file`)."""
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Invalid(_("This file is not JSON."),
                      errors={"file": [_("This file is not JSON (UTF-8 GeoJSON).")]}) from exc


def districts_from_geojson(data: Any) -> list[DistrictShape]:
    """The districts of a GeoJSON FeatureCollection: each feature a Polygon or MultiPolygon
    with a `name` (and optionally `code`, `name_zh_hans`) property. Invalid names every
    problem of every feature under the field `file`; nothing is half accepted."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise Invalid(_("Not a FeatureCollection."), errors={
            "file": [_("Upload a GeoJSON FeatureCollection (one feature per district).")]
        })
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise Invalid(_("No features."), errors={"file": [_("The collection has no features.")]})
    if len(features) > MAX_DISTRICTS_PER_FILE:
        raise Invalid(_("Too many features."), errors={
            "file": [_("At most %(n)d districts per file.") % {"n": MAX_DISTRICTS_PER_FILE}]
        })
    problems: list[str] = []
    shapes: list[DistrictShape] = []
    codes: set[str] = set()
    for number, feature in enumerate(features, start=1):
        properties = feature.get("properties") if isinstance(feature, dict) else None
        properties = properties if isinstance(properties, dict) else {}
        name = str(properties.get("name") or properties.get("name_en") or "").strip()
        label = name or _("feature %(n)d") % {"n": number}
        if not name:
            problems.append(_("Feature %(n)d has no “name” property.") % {"n": number})
        code = slugify(str(properties.get("code") or name))[:50]
        if name and not code:
            problems.append(_("%(name)s: give a “code” property (letters, digits, -).")
                            % {"name": label})
        elif code in codes:
            problems.append(_("%(name)s: the code “%(code)s” is used twice.")
                            % {"name": label, "code": code})
        codes.add(code)
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        problem = boundary_problem(geometry)
        if problem:
            problems.append(f"{label}: {problem}")
        zh_name = next((str(properties[k]).strip() for k in ZH_NAME_KEYS if properties.get(k)), "")
        if name and code and not problem and isinstance(geometry, dict):
            shapes.append(DistrictShape(code=code, name_en=name[:120],
                                        name_zh_hans=zh_name[:120], boundary=geometry))
    if problems:
        raise Invalid(_("The districts were not imported."), errors={"file": problems[:50]})
    return shapes



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
