"""Discovery, the service list and service definitions, in JSON and XML."""

from __future__ import annotations

import pytest
from django.test import override_settings

from core.city import portal_url
from tests.open311.conftest import both, parse

pytestmark = pytest.mark.django_db


def test_discovery_lists_the_georeport_v2_endpoint_in_both_formats(api):
    status, root, data = both(api, "/open311/discovery")
    assert (status, root) == (200, "discovery")
    assert set(data) == {"changeset", "contact", "key_service", "endpoints"}
    assert data["endpoints"] == [
        {
            "specification": "http://wiki.open311.org/GeoReport_v2",
            "url": portal_url("/open311/v2"),
            "changeset": data["changeset"],
            "type": "production",
            "formats": ["text/xml", "application/json"],
        }
    ]


def test_a_resource_without_a_suffix_answers_in_xml(api, streetlight):
    root, data = parse(api.get("/open311/v2/services"))
    assert root == "services"
    assert [s["service_code"] for s in data] == ["streetlight"]


def test_service_list_shows_public_request_categories_only(
    api, streetlight, pothole, hidden_category, complaint_category
):
    status, root, data = both(api, "/open311/v2/services")
    assert (status, root) == (200, "services")
    assert data == [
        {
            "service_code": "streetlight",
            "service_name": "Streetlight out",
            "description": "A street lamp that is dark or flickering.",
            "metadata": True,
            "type": "realtime",
            "keywords": "lamp, dark, light",
            "group": "lighting",
        },
        {
            "service_code": "pothole",
            "service_name": "Pothole",
            "description": "A hole in the road.",
            "metadata": False,
            "type": "realtime",
            "keywords": "hole, road",
            "group": "roads",
        },
    ]


def test_inactive_categories_are_not_listed(api, streetlight, pothole):
    pothole.is_active = False
    pothole.save()
    _, _, data = both(api, "/open311/v2/services")
    assert [s["service_code"] for s in data] == ["streetlight"]


def test_service_names_follow_the_accept_language(api, streetlight):
    streetlight.name_zh_hans = "路灯不亮"
    streetlight.save()
    response = api.get("/open311/v2/services.json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.json()[0]["service_name"] == "路灯不亮"
    xml = api.get("/open311/v2/services.xml", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "路灯不亮".encode() in xml.content
    assert parse(xml)[1][0]["service_name"] == "路灯不亮"


def test_service_definition_describes_every_attribute_datatype(api, streetlight):
    status, root, data = both(api, "/open311/v2/services/streetlight")
    assert (status, root) == (200, "service_definition")
    assert data["service_code"] == "streetlight"
    assert [a["datatype"] for a in data["attributes"]] == [
        "string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"
    ]
    assert data["attributes"][0] == {
        "variable": True,
        "code": "pole",
        "datatype": "string",
        "required": True,
        "datatype_description": None,
        "order": 1,
        "description": "Pole number",
        "values": [],
    }
    assert data["attributes"][5]["values"] == [
        {"key": "north", "name": "North"},
        {"key": "south", "name": "South"},
    ]


def test_service_definition_of_a_category_without_attributes_is_empty(api, pothole):
    _, _, data = both(api, "/open311/v2/services/pothole")
    assert data == {"service_code": "pothole", "attributes": []}


@pytest.mark.parametrize("code", ["no-such-service", "internal-audit", "staff-conduct"])
def test_service_definition_of_an_unknown_or_non_public_service_is_a_404(
    api, code, hidden_category, complaint_category
):
    status, root, data = both(api, f"/open311/v2/services/{code}")
    assert (status, root) == (404, "errors")
    assert data == [{"code": 404, "description": f"service_code {code} was not found."}]


def test_the_configured_jurisdiction_is_accepted(api, streetlight):
    status, _, _ = both(api, "/open311/v2/services", {"jurisdiction_id": "civicdesk.city"})
    assert status == 200


@override_settings(CIVICDESK={"OPEN311_JURISDICTION": "city.example"})
def test_a_wrong_jurisdiction_is_a_404_in_the_spec_form(api, streetlight):
    status, root, data = both(api, "/open311/v2/services", {"jurisdiction_id": "civicdesk.city"})
    assert (status, root) == (404, "errors")
    assert data == [{"code": 404, "description": "jurisdiction_id civicdesk.city was not found."}]
