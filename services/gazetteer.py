"""The address gazetteer: a city's addresses (text → point → district), imported from an
OpenAddresses-style CSV, and used for address search, geocoding and the street of a place.

Import (`manage.py import_addresses`) is all or nothing: every row is checked first, and one bad
row (reported with its line number) imports nothing. Re-importing the same file changes nothing.
"""

from __future__ import annotations

import csv
import functools
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO

from django.db import connection, transaction

from core.statements import fetch_prepared
from services.geo import distance_m, district_for, district_locator
from services.models import District, GazetteerAddress, Precision

# OpenAddresses column names (case-insensitive). LON, LAT and STREET are required; NUMBER, CITY
# and POSTCODE are used when present; UNIT, DISTRICT, REGION, ID and HASH are read and ignored
# (our districts come from the point, not from the file).
REQUIRED_COLUMNS = ("LON", "LAT", "STREET")
OPTIONAL_COLUMNS = ("NUMBER", "CITY", "POSTCODE")
IGNORED_COLUMNS = ("UNIT", "DISTRICT", "REGION", "ID", "HASH")
MAX_ERRORS_SHOWN = 20
MAX_LENGTHS = {"NUMBER": 30, "STREET": 200, "CITY": 100, "POSTCODE": 20}
SEARCH_LIMIT = 8
LOOKUP_CHUNK = 900
# How far an exact point may be from a gazetteer address to take that address's street.
STREET_NEAR_M = 100.0

_ABBREVIATIONS = {
    "rd": "road", "st": "street", "str": "street", "ave": "avenue", "av": "avenue",
    "blvd": "boulevard", "ln": "lane", "dr": "drive", "sq": "square", "pl": "place",
}
_NOT_WORD = re.compile(r"[^\w]+", re.UNICODE)


def normalise(text: str) -> str:
    """The search form of an address: NFKC, case-folded, punctuation as spaces, common street
    abbreviations spelled out ("12 Jianshe Rd." → "12 jianshe road")."""
    folded = unicodedata.normalize("NFKC", text or "").casefold().replace("_", " ")
    words = _NOT_WORD.sub(" ", folded).split()
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words)


def address_text(*, number: str, street: str, city: str = "", postcode: str = "") -> str:
    first = f"{number} {street}".strip()
    rest = " ".join(p for p in (city, postcode) if p)
    return f"{first}, {rest}" if rest else first


def search_key_of(*, number: str, street: str, city: str = "", postcode: str = "") -> str:
    return normalise(f"{number} {street} {city} {postcode}")


# --- Import ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressRow:
    line: int
    number: str
    street: str
    city: str
    postcode: str
    lat: float
    lon: float

    @property
    def search_key(self) -> str:
        return search_key_of(
            number=self.number, street=self.street, city=self.city, postcode=self.postcode
        )


@dataclass
class ParsedFile:
    rows: list[AddressRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "line 7: LAT is not a number"
    duplicates: int = 0  # the same address again later in the file: first one kept


@dataclass
class ImportCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    outside_districts: int = 0


def _number(value: str, name: str, low: float, high: float) -> tuple[float | None, str]:
    try:
        number = float(value)
    except ValueError:
        return None, f"{name} is not a number"
    if not math.isfinite(number) or not low <= number <= high:
        return None, f"{name} must be between {low:g} and {high:g}"
    return number, ""


def addresses_parse(stream: IO[str]) -> ParsedFile:
    """Check an OpenAddresses-style CSV; every problem is reported with its line number."""
    parsed = ParsedFile()
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        parsed.errors.append("line 1: the file is empty (expected a header row)")
        return parsed
    except csv.Error as error:
        parsed.errors.append(f"line 1: {error}")
        return parsed
    columns = {name.strip().upper(): i for i, name in enumerate(header)}
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        parsed.errors.append(
            f"line 1: missing column(s) {', '.join(missing)} (found: {', '.join(header)})"
        )
        return parsed
    seen: set[str] = set()
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) < len(header):
                values = values + [""] * (len(header) - len(values))

            def get(name: str, values: list[str] = values) -> str:
                index = columns.get(name)
                return values[index].strip() if index is not None else ""

            problems = []
            lon, problem = _number(get("LON"), "LON", -180, 180)
            if problem:
                problems.append(problem)
            lat, problem = _number(get("LAT"), "LAT", -90, 90)
            if problem:
                problems.append(problem)
            if not get("STREET"):
                problems.append("STREET is empty")
            for name, limit in MAX_LENGTHS.items():
                if len(get(name)) > limit:
                    problems.append(f"{name} is longer than {limit} characters")
            if problems:
                parsed.errors.append(f"line {line}: {'; '.join(problems)}")
                continue
            row = AddressRow(
                line=line, number=get("NUMBER"), street=get("STREET"), city=get("CITY"),
                postcode=get("POSTCODE"), lat=float(lat or 0.0), lon=float(lon or 0.0),
            )
            if row.search_key in seen:
                parsed.duplicates += 1
                continue
            seen.add(row.search_key)
            parsed.rows.append(row)
    except csv.Error as error:
        parsed.errors.append(f"line {reader.line_num}: {error}")
    return parsed


@transaction.atomic
def addresses_import(*, rows: Iterable[AddressRow]) -> ImportCounts:
    """Add or update the gazetteer's addresses (keyed by their search key); none is deleted.

    One transaction; set-based (one query for the existing keys, bulk writes), so a city's
    file of a few hundred thousand addresses imports in one run.
    """
    counts = ImportCounts()
    rows = list(rows)
    locate = district_locator()
    keys = [r.search_key for r in rows]
    existing: dict[str, GazetteerAddress] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):  # SQLite caps the parameters of a query
        chunk = keys[start:start + LOOKUP_CHUNK]
        existing.update(
            (a.search_key, a) for a in GazetteerAddress.objects.filter(search_key__in=chunk)
        )
    new: list[GazetteerAddress] = []
    changed: list[GazetteerAddress] = []
    fields = ("text", "number", "street", "street_key", "city", "postcode", "lat", "lon",
              "district_id")
    for row in rows:
        district = locate(row.lat, row.lon)
        if district is None:
            counts.outside_districts += 1
        values = {
            "text": address_text(
                number=row.number, street=row.street, city=row.city, postcode=row.postcode
            ),
            "number": row.number,
            "street": row.street,
            "street_key": normalise(row.street),
            "city": row.city,
            "postcode": row.postcode,
            "lat": row.lat,
            "lon": row.lon,
            "district_id": district.pk if district else None,
        }
        current = existing.get(row.search_key)
        if current is None:
            new.append(GazetteerAddress(search_key=row.search_key, **values))
        elif any(getattr(current, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(current, key, value)
            changed.append(current)
        else:
            counts.unchanged += 1
    GazetteerAddress.objects.bulk_create(new, batch_size=1000)
    GazetteerAddress.objects.bulk_update(changed, list(fields), batch_size=1000)
    counts.created, counts.updated = len(new), len(changed)
    return counts


# --- Reads: search, geocoding, the street of a place -------------------------------------------


def _tokens(text: str) -> list[str]:
    return normalise(text).split()


def _matches(key: str, tokens: list[str], *, last_is_prefix: bool) -> bool:
    """Every token is a word of `key` (the last one may be a word's start while typing);
    a token in a script written without spaces (Chinese) need only occur in it."""
    words = key.split()
    for i, token in enumerate(tokens):
        if not token.isascii():
            if token not in key:
                return False
        elif last_is_prefix and i == len(tokens) - 1:
            if not any(w.startswith(token) for w in words):
                return False
        elif token not in words:
            return False
    return True


def address_search(
    *, query: str, district: District | None = None, limit: int = SEARCH_LIMIT,
    typing: bool = True,
) -> list[GazetteerAddress]:
    """Addresses whose words contain every word of `query` (the last one as a prefix while
    `typing`), in street and number order."""
    tokens = _tokens(query)[:8]
    if not tokens:
        return []
    qs = GazetteerAddress.objects.select_related("district")
    for token in tokens:
        qs = qs.filter(search_key__contains=token)
    if district is not None:
        qs = qs.filter(district=district)
    found = [
        a for a in qs.order_by("street_key", "search_key")[:200]
        if _matches(a.search_key, tokens, last_is_prefix=typing)
    ]
    return found[:limit]


def geocode(*, text: str, district: District | None = None) -> GazetteerAddress | None:
    """The one gazetteer address `text` names (in `district` when given), or None when it
    names none or several (an ambiguous address is not a point)."""
    key = normalise(text)
    if not key:
        return None
    qs = GazetteerAddress.objects.select_related("district")
    if district is not None:
        qs = qs.filter(district=district)
    exact = qs.filter(search_key=key).first()
    if exact is not None:
        return exact
    found = address_search(query=text, district=district, limit=50, typing=False)
    # Words match in any order, so "3 Street 12" also matches "12 Street 3": the house number
    # (the first word with a digit) must be the address's own number.
    number = next((w for w in key.split() if any(c.isdigit() for c in w)), None)
    if number is not None and number.isascii():
        found = [a for a in found if normalise(a.number) == number]
    if len(found) == 1:
        return found[0]
    # "12 Jianshe Road" names "12 Jianshe Road, Baoding 071000" even if "112 …" also exists.
    starting = [a for a in found if a.search_key.startswith(key + " ")]
    return starting[0] if len(starting) == 1 else None


def street_named_in(*, text: str) -> str:
    """The gazetteer street an address text names although the address itself is unknown
    ("East Gate, Jianshe Road" → "Jianshe Road"), or ""."""
    parts = [normalise(p) for p in re.split(r"[,，;；/]", text or "")]
    candidates = set()
    for part in parts:
        words = [w for w in part.split() if not any(c.isdigit() for c in w)]
        if words:
            candidates.add(" ".join(words))
    if not candidates:
        return ""
    found = (
        GazetteerAddress.objects.filter(street_key__in=sorted(candidates))
        .values_list("street", flat=True)
        .first()
    )
    return found or ""


@functools.cache
def _near_sql() -> str:
    """Addresses in a box, written out once: every filing with a point asks this, and the
    ORM would compile it each time (~1 ms, a tenth of the filing's Python time); prepared
    once per connection (`core.statements`)."""
    q = connection.ops.quote_name
    table = q(GazetteerAddress._meta.db_table)
    lat, lon = q("lat"), q("lon")
    return (
        f"SELECT {q('street')}, {lat}, {lon} FROM {table} "  # noqa: S608 - our own names only
        f"WHERE {lat} >= %s AND {lat} <= %s AND {lon} >= %s AND {lon} <= %s LIMIT 200"
    )


def street_near(*, lat: float, lon: float, within_m: float = STREET_NEAR_M) -> str:
    """The street of the nearest gazetteer address within `within_m` of a point, or ""."""
    dlat = within_m / 111_320.0
    dlon = within_m / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))
    near = fetch_prepared(_near_sql(), [lat - dlat, lat + dlat, lon - dlon, lon + dlon])
    best, best_d = "", within_m
    for street, a_lat, a_lon in near:
        d = distance_m(lat, lon, a_lat, a_lon)
        if d <= best_d:
            best, best_d = street, d
    return best


# --- Where a new request is -------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedLocation:
    precision: str
    lat: float | None
    lon: float | None
    address: str
    district: District | None
    street: str


def location_resolve(
    *, lat: float | None, lon: float | None, address: str, district: District | None
) -> ResolvedLocation:
    """What a submission says about its place, made honest: a point the resident gave is
    `exact`; an address the gazetteer knows gets the gazetteer's point and district with
    precision `address`; an unknown address keeps no point; a district alone never gets one."""
    address = (address or "").strip()
    if lat is not None and lon is not None:
        return ResolvedLocation(
            precision=Precision.EXACT, lat=lat, lon=lon, address=address,
            district=district_for(lat=lat, lon=lon) or district,
            street=street_named_in(text=address) or street_near(lat=lat, lon=lon),
        )
    if address:
        match = geocode(text=address, district=district)
        if match is not None:
            return ResolvedLocation(
                precision=Precision.ADDRESS, lat=match.lat, lon=match.lon, address=match.text,
                district=match.district or district, street=match.street,
            )
        return ResolvedLocation(
            precision=Precision.ADDRESS, lat=None, lon=None, address=address,
            district=district, street=street_named_in(text=address),
        )
    return ResolvedLocation(
        precision=Precision.DISTRICT, lat=None, lon=None, address="", district=district,
        street="",
    )
