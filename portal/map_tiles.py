"""The request form's optional map: which tile server it may load from (for the CSP) and
where it opens (the middle of the city's districts). No tile server configured → no map."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

DEFAULT_ZOOM = 13


def tile_origin(template: str) -> str:
    """scheme://host[:port] of a tile URL template like https://tiles.city/{z}/{x}/{y}.png.

    Only this one origin is added to the CSP's img-src; a template whose host is itself a
    pattern ({s}.tiles…) or that carries credentials is refused rather than widened.
    """
    if not template:
        return ""
    parts = urlsplit(template)
    host = parts.netloc
    if (
        parts.scheme not in ("https", "http")
        or not host
        or any(c in host for c in "{}*@ ")
        or not all(p in parts.path for p in ("{z}", "{x}", "{y}"))
    ):
        raise ImproperlyConfigured(
            "CIVICDESK_MAP_TILE_URL must look like https://tiles.example.city/{z}/{x}/{y}.png "
            "(one fixed host, no credentials; {z}, {x} and {y} in the path)."
        )
    return f"{parts.scheme}://{host}"


def _coordinates(geometry: Any) -> Iterable[tuple[float, float]]:
    """Every (lon, lat) pair in a GeoJSON Polygon or MultiPolygon."""
    def walk(value: Any) -> Iterable[tuple[float, float]]:
        if (
            isinstance(value, list | tuple)
            and len(value) >= 2
            and all(isinstance(v, int | float) for v in value[:2])
        ):
            yield float(value[0]), float(value[1])
        elif isinstance(value, list | tuple):
            for item in value:
                yield from walk(item)

    if isinstance(geometry, dict):
        yield from walk(geometry.get("coordinates", []))


def map_start(districts: Iterable[Any]) -> dict[str, float] | None:
    """Centre of the districts' bounding box and a street-level zoom, or None without any."""
    points = [p for d in districts for p in _coordinates(d.boundary)]
    if not points:
        return None
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    return {
        "lat": round((min(lats) + max(lats)) / 2, 6),
        "lon": round((min(lons) + max(lons)) / 2, 6),
        "zoom": DEFAULT_ZOOM,
    }
