"""Open311 fixtures: a client app's key, public and private categories, and a way to read
an answer in either format (XML parsed, never string-compared only)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET  # noqa: S405 - parses only our own responses
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from services.models import Category
from services.open311.services import api_key_issue
from tests.factories import CategoryFactory

# Collections whose XML children repeat one tag (independent of the renderer's own table).
PLURALS = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "service_request_updates": "request_update",
}

ATTRIBUTES = [
    {"code": "pole", "datatype": "string", "required": True, "description": "Pole number",
     "order": 1},
    {"code": "height", "datatype": "number", "required": False, "description": "Height (m)",
     "order": 2},
    {"code": "seen_at", "datatype": "datetime", "required": False,
     "description": "When did you notice?", "order": 3},
    {"code": "notes", "datatype": "text", "required": False, "description": "Anything else",
     "order": 4},
    {"code": "kind", "datatype": "singlevaluelist", "required": False,
     "description": "Lamp type", "order": 5,
     "values": [{"key": "led", "name": "LED"}, {"key": "sodium", "name": "Sodium"}]},
    {"code": "sides", "datatype": "multivaluelist", "required": False,
     "description": "Which sides are dark", "order": 6,
     "values": [{"key": "north", "name": "North"}, {"key": "south", "name": "South"}]},
]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters live in the cache: every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def streetlight(roads):
    return CategoryFactory(
        code="streetlight",
        name_en="Streetlight out",
        description_en="A street lamp that is dark or flickering.",
        department=roads,
        group="lighting",
        keywords="lamp, dark, light",
        sla_hours=48,
        attributes=ATTRIBUTES,
    )


@pytest.fixture
def pothole(roads):
    return CategoryFactory(
        code="pothole", name_en="Pothole", description_en="A hole in the road.",
        department=roads, group="roads", keywords="hole, road", sla_hours=72,
    )


@pytest.fixture
def hidden_category(roads):
    return CategoryFactory(code="internal-audit", name_en="Internal", department=roads,
                           is_public=False)


@pytest.fixture
def complaint_category(roads):
    return CategoryFactory(code="staff-conduct", name_en="Staff conduct", department=roads,
                           kind=Category.Kind.COMPLAINT)


@pytest.fixture
def client_app(db):
    api_key, raw_key = api_key_issue(name="FixMyStreet test", rate_limit_per_minute=100)
    api_key.raw = raw_key
    return api_key


def xml_to_data(element: ET.Element) -> Any:
    """Spark convention, read back: a plural wrapper → list, an element with children → dict."""
    children = list(element)
    if element.tag in PLURALS:
        assert all(child.tag == PLURALS[element.tag] for child in children), element.tag
        return [xml_to_data(child) for child in children]
    if children:
        return {child.tag: xml_to_data(child) for child in children}
    return element.text


def as_text(value: Any) -> Any:
    """The JSON value as XML spells it: strings, 'true'/'false', None for an empty element."""
    if isinstance(value, dict):
        return {k: as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_text(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or value == "":
        return None
    return str(value)


def parse(response) -> tuple[str, Any]:
    """(root tag or 'json', data) of a response, checking its encoding and content type."""
    body: bytes = response.content
    body.decode("utf-8")  # valid UTF-8, or this raises
    content_type = response["Content-Type"]
    if content_type.startswith("text/xml"):
        assert content_type == "text/xml; charset=utf-8"
        assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        root = ET.fromstring(body)  # noqa: S314 - our own output
        return root.tag, xml_to_data(root)
    assert content_type == "application/json; charset=utf-8", content_type
    return "json", json.loads(body)


def both(api, path: str, params: dict | None = None, method: str = "get") -> Any:
    """Fetch `path` as .json and .xml; check both say the same; return the JSON data."""
    call = getattr(api, method)
    as_json = call(f"{path}.json", params or {})
    as_xml = call(f"{path}.xml", params or {})
    assert as_json.status_code == as_xml.status_code
    _, data = parse(as_json)
    root, xml_data = parse(as_xml)
    assert xml_data == as_text(data)
    return as_json.status_code, root, data
