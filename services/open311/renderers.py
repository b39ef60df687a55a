"""JSON and XML for Open311: one data shape, two spellings (the spec's "Spark convention").

A JSON array is an XML wrapper element whose children repeat one item tag (`services` holds
`service`s); a JSON object is an element with one child per key. The view names the root.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: S405 - we only build and serialise XML, never parse
from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import BaseRenderer, JSONRenderer

# The child tag of each list, as the GeoReport v2 and Service Discovery examples spell it.
ITEM_TAGS = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "service_request_updates": "request_update",
}

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

# Characters XML 1.0 does not allow, even escaped (C0 controls other than tab/LF/CR, etc.).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _fill(ET.SubElement(element, key), sub)
    elif isinstance(value, list | tuple):
        item_tag = ITEM_TAGS.get(element.tag, "item")
        for sub in value:
            _fill(ET.SubElement(element, item_tag), sub)
    else:
        element.text = xml_text(value)


def xml_document(root: str, data: Any) -> bytes:
    """UTF-8 bytes of `data` under a `root` element, with the XML declaration."""
    element = ET.Element(root)
    _fill(element, data)
    # Our own declaration: the spec's examples spell it with double quotes and "UTF-8".
    return XML_DECLARATION + ET.tostring(element, encoding="unicode").encode("utf-8")


class Open311XMLRenderer(BaseRenderer):
    media_type = "text/xml"
    format = "xml"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        response = (renderer_context or {}).get("response")
        root = getattr(response, "root", None) or "response"
        return xml_document(root, data)


class Open311JSONRenderer(JSONRenderer):
    media_type = "application/json"
    format = "json"
    charset = "utf-8"
    ensure_ascii = False
