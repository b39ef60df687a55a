"""The XML spelling: declaration, UTF-8, characters XML cannot carry, the Spark convention."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - parses only our own output

from services.open311.renderers import xml_document


def test_a_list_becomes_a_wrapper_of_repeated_item_elements():
    body = xml_document("services", [{"service_code": "a"}, {"service_code": "b"}])
    root = ET.fromstring(body)  # noqa: S314
    assert [child.tag for child in root] == ["service", "service"]
    assert [child.findtext("service_code") for child in root] == ["a", "b"]


def test_booleans_nulls_and_numbers_are_spelled_as_the_spec_shows():
    body = xml_document("request", {"metadata": True, "other": False, "account_id": None,
                                    "lat": 39.05})
    assert b"<metadata>true</metadata><other>false</other><account_id />" in body
    assert b"<lat>39.05</lat>" in body


def test_the_declaration_says_utf8_and_text_is_utf8_encoded():
    body = xml_document("services", [{"service_name": "路灯不亮 & <café>"}])
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<services>')
    assert "路灯不亮 &amp; &lt;café&gt;".encode() in body
    root = ET.fromstring(body)  # noqa: S314
    assert root.find("service/service_name").text == "路灯不亮 & <café>"


def test_characters_xml_cannot_carry_are_dropped_so_the_document_stays_valid():
    body = xml_document("service_requests", [{"description": "bell\x07 nul\x00 ok\ttab\nline"}])
    root = ET.fromstring(body)  # noqa: S314
    assert root.find("request/description").text == "bell nul ok\ttab\nline"
