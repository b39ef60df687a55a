"""Open311 and location precision: a FixMyStreet lat/long is an exact point, an address_string
the city's gazetteer knows is geocoded (precision `address`), and GET says which it is."""

from __future__ import annotations

import pytest

from services.models import Precision, ServiceRequest
from tests.factories import DistrictFactory, GazetteerAddressFactory
from tests.open311.conftest import parse

pytestmark = pytest.mark.django_db


def _post(api, client_app, **fields):
    body = {"api_key": client_app.raw, "service_code": "pothole",
            "description": "Deep hole", **fields}
    return api.post("/open311/v2/requests.json", body, format="multipart")


@pytest.fixture
def central(db):
    return DistrictFactory(code="central", boundary={
        "type": "Polygon",
        "coordinates": [[[116.0, 39.0], [116.1, 39.0], [116.1, 39.1], [116.0, 39.1],
                         [116.0, 39.0]]],
    })


def test_a_fixmystreet_lat_long_post_is_an_exact_point(api, client_app, pothole, central):
    response = _post(api, client_app, lat="39.05", long="116.05")
    assert response.status_code == 200
    request = ServiceRequest.objects.get()
    assert request.location_precision == Precision.EXACT
    assert (request.lat, request.lon, request.district) == (39.05, 116.05, central)


def test_an_address_string_the_gazetteer_knows_gets_its_point_and_district(
    api, client_app, pothole, central
):
    GazetteerAddressFactory(number="12", lat=39.0512, lon=116.0534, district=central)
    response = _post(api, client_app, address_string="12 Jianshe Road")
    assert response.status_code == 200
    request = ServiceRequest.objects.get()
    assert request.location_precision == Precision.ADDRESS
    assert (request.lat, request.lon, request.district) == (39.0512, 116.0534, central)
    assert request.street == "Jianshe Road"


def test_an_unknown_address_string_is_filed_without_an_invented_point(api, client_app, pothole):
    response = _post(api, client_app, address_string="Behind the old cinema")
    assert response.status_code == 200
    request = ServiceRequest.objects.get()
    assert (request.location_precision, request.lat, request.lon) == ("address", None, None)


def test_get_requests_says_how_well_each_place_is_known(api, client_app, pothole, central):
    GazetteerAddressFactory(number="12", lat=39.0512, lon=116.0534, district=central)
    _post(api, client_app, address_string="12 Jianshe Road")
    reference = ServiceRequest.objects.get().reference
    for fmt in ("json", "xml"):
        _root, data = parse(api.get(f"/open311/v2/requests/{reference}.{fmt}"))
        assert data[0]["location_precision"] == "address"
        assert str(data[0]["lat"]) == "39.0512"
