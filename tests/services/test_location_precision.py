"""Location you can trust: every request says how well its place is known (exact / address /
district), no exact point is ever invented, and the duplicate check works on streets and
districts without claiming a distance it does not know."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.utils import timezone
from shapely.geometry import shape

from services.gazetteer import location_resolve
from services.models import Attachment, Precision, ServiceRequest
from services.selectors import requests_nearby
from services.services import request_submit, requests_anonymise
from services.statistics import service_statistics
from tests.factories import CategoryFactory, GazetteerAddressFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def jianshe_12(district):
    return GazetteerAddressFactory(number="12", lat=39.0512, lon=116.0534, district=district)


def _file(category, **place):
    return request_submit(
        reporter=UserFactory(), category=category, description="Rubbish by the gate.", **place
    )


def _query(category, **place):
    place.setdefault("lat", None)
    place.setdefault("lon", None)
    place.setdefault("address", "")
    place.setdefault("district", None)
    return requests_nearby(category=category, place=location_resolve(**place))


# --- Filing -------------------------------------------------------------------------------


def test_a_point_the_resident_gives_is_exact(streetlight, district):
    request = _file(streetlight, lat=39.05, lon=116.05)
    assert request.location_precision == Precision.EXACT
    assert request.district == district


def test_a_district_alone_is_stored_without_any_point(streetlight, district):
    request = _file(streetlight, district=district)
    request.refresh_from_db()
    assert request.location_precision == Precision.DISTRICT
    assert (request.lat, request.lon) == (None, None)
    assert request.district == district


def test_a_known_address_is_geocoded_to_the_gazetteer_point_street_and_district(
    streetlight, jianshe_12, district
):
    request = _file(streetlight, address="12 jianshe rd, example city")
    request.refresh_from_db()
    assert request.location_precision == Precision.ADDRESS
    assert (request.lat, request.lon) == (39.0512, 116.0534)
    assert request.street == "Jianshe Road"
    assert request.district == district
    assert request.address == "12 Jianshe Road, Example City 071000"


def test_an_unknown_address_keeps_no_point_but_its_known_street(streetlight, jianshe_12):
    request = _file(streetlight, address="Bus stop opposite the school, Jianshe Road")
    assert request.location_precision == Precision.ADDRESS
    assert (request.lat, request.lon) == (None, None)
    assert request.street == "Jianshe Road"


def test_an_exact_point_takes_the_street_of_the_nearest_gazetteer_address(
    streetlight, jianshe_12
):
    request = _file(streetlight, lat=39.0513, lon=116.0535)  # about 14 m from no. 12
    assert request.street == "Jianshe Road"
    assert request.location_precision == Precision.EXACT


# --- Duplicates ---------------------------------------------------------------------------


def test_nearby_never_gives_a_distance_to_a_district_only_report(streetlight, district):
    district_only = _file(streetlight, district=district)
    centre = shape(district.boundary).representative_point()
    found = _query(streetlight, lat=centre.y, lon=centre.x)
    assert [(c.request, c.match, c.distance_m) for c in found] == [
        (district_only, "district", None)
    ]


def test_a_district_only_report_finds_recent_reports_of_that_district(
    streetlight, district, jianshe_12
):
    on_street = _file(streetlight, address="12 Jianshe Road")
    exact = _file(streetlight, lat=39.09, lon=116.09)
    found = _query(streetlight, district=district)
    assert {c.request for c in found} == {on_street, exact}
    assert {c.match for c in found} == {"district"}
    assert all(c.distance_m is None for c in found)


def test_district_matches_are_only_recent(streetlight, district):
    old = _file(streetlight, district=district)
    ServiceRequest.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=31)
    )
    assert _query(streetlight, district=district) == []


def test_two_exact_points_far_apart_are_not_duplicates_because_of_their_district(
    streetlight, district
):
    _file(streetlight, lat=39.09, lon=116.09)
    assert _query(streetlight, lat=39.01, lon=116.01) == []


def test_an_address_report_finds_one_on_the_same_street(streetlight, jianshe_12):
    GazetteerAddressFactory(number="80", lat=39.0600, lon=116.0700)
    earlier = _file(streetlight, address="80 Jianshe Road")  # about 1.8 km away
    found = _query(streetlight, address="12 Jianshe Road")
    assert [(c.request, c.match, c.distance_m) for c in found] == [(earlier, "street", None)]


def test_a_candidate_of_another_category_or_a_private_address_is_not_shown(
    streetlight, roads, district
):
    _file(CategoryFactory(code="graffiti", department=roads), district=district)
    request_submit(reporter=UserFactory(), category=streetlight, description="My garden.",
                   district=district, is_private_address=True)
    assert _query(streetlight, district=district) == []


# --- API ----------------------------------------------------------------------------------


def test_the_api_files_a_district_only_request_without_a_point(
    client_for, resident, streetlight, district
):
    response = client_for(resident).post(
        "/api/v1/requests",
        {"category": "streetlight", "description": "Dark lamps.", "district": "central"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["location_precision"], data["lat"], data["lon"]) == ("district", None, None)
    assert data["district"]["code"] == "central"


def test_the_api_geocodes_an_address_only_request(client_for, resident, streetlight, jianshe_12):
    response = client_for(resident).post(
        "/api/v1/requests",
        {"category": "streetlight", "description": "Dark lamps.", "address": "12 Jianshe Road"},
        format="json",
    )
    data = response.json()
    assert (data["location_precision"], data["lat"], data["lon"]) == (
        "address", 39.0512, 116.0534
    )
    assert data["street"] == "Jianshe Road"


def test_the_api_refuses_an_unknown_district_by_field_and_files_nothing(
    client_for, resident, streetlight
):
    response = client_for(resident).post(
        "/api/v1/requests",
        {"category": "streetlight", "description": "Dark lamps.", "district": "atlantis"},
        format="json",
    )
    assert response.status_code == 400
    assert "district" in response.json()["errors"]
    assert ServiceRequest.objects.count() == 0


def test_the_api_nearby_by_district_shows_category_age_street_and_public_photo(
    client_for, other_resident, streetlight, district, jianshe_12
):
    existing = _file(streetlight, address="12 Jianshe Road")
    ServiceRequest.objects.filter(pk=existing.pk).update(
        is_public=True, created_at=timezone.now() - timedelta(days=3, hours=2)
    )
    Attachment.objects.create(
        request=existing, file="attachments/x.png", content_type="image/png", width=1,
        height=1, size=1, token="tok-public-photo",
    )
    response = client_for(other_resident).get(
        "/api/v1/requests/nearby", {"category": "streetlight", "district": "central"}
    )
    assert response.status_code == 200
    [item] = response.json()
    assert item["reference"] == existing.reference
    assert item["category"]["name"] == "Streetlight out"
    assert item["age"] == "3 days ago"
    assert item["street"] == "Jianshe Road"
    assert (item["match"], item["distance_m"]) == ("district", None)
    assert item["photo_url"] == f"/reports/{existing.reference}/photos/tok-public-photo"


def test_the_api_nearby_shows_no_photo_of_an_unpublished_report(
    client_for, other_resident, streetlight, district
):
    existing = _file(streetlight, district=district)
    Attachment.objects.create(
        request=existing, file="attachments/x.png", content_type="image/png", width=1,
        height=1, size=1, token="tok-private-photo",
    )
    [item] = client_for(other_resident).get(
        "/api/v1/requests/nearby", {"category": "streetlight", "district": "central"}
    ).json()
    assert item["photo_url"] is None


def test_the_api_nearby_needs_some_location(client_for, resident, streetlight):
    response = client_for(resident).get("/api/v1/requests/nearby", {"category": "streetlight"})
    assert response.status_code == 400
    assert "location" in response.json()["errors"]


# --- Existing rows ------------------------------------------------------------------------


def test_the_migration_drops_invented_district_centres_and_keeps_placed_points(
    streetlight, district
):
    centre = shape(district.boundary).representative_point()
    invented = _file(streetlight, lat=round(centre.y, 6), lon=round(centre.x, 6),
                     address="Central")
    placed = _file(streetlight, lat=39.0123, lon=116.0456)
    typed = _file(streetlight, address="Behind the market")
    migration = importlib.import_module(
        "services.migrations.0008_location_precision_gazetteer"
    )
    ServiceRequest.objects.update(location_precision=Precision.EXACT)

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection  # type: ignore[attr-defined]
    migration.classify_existing(django_apps, editor)
    rows = {r.pk: r for r in ServiceRequest.objects.all()}
    assert (rows[invented.pk].location_precision, rows[invented.pk].lat,
            rows[invented.pk].address) == ("district", None, "")
    assert (rows[placed.pk].location_precision, rows[placed.pk].lat) == ("exact", 39.0123)
    assert rows[typed.pk].location_precision == "address"


# --- Statistics and erasure ---------------------------------------------------------------


def test_statistics_count_an_address_only_report_in_the_district_the_gazetteer_gives(
    streetlight, jianshe_12, district
):
    for _ in range(5):  # enough not to be suppressed
        _file(streetlight, address="12 Jianshe Road")
    rows = {row.key: row for row in service_statistics()["districts"].rows}
    assert rows["central"].total == 5
    assert "none" not in rows


def test_anonymising_a_private_address_also_forgets_its_street(streetlight, jianshe_12):
    request = request_submit(reporter=UserFactory(), category=streetlight, description="Mine.",
                             address="12 Jianshe Road", is_private_address=True)
    assert request.street == "Jianshe Road"
    requests_anonymise(request_ids=[request.pk], cause="erasure", terms_by_reporter={},
                       keep=set(), now=timezone.now())
    request.refresh_from_db()
    assert (request.street, request.address) == ("", "")
    assert (request.lat, request.lon) == (39.05, 116.05)  # rounded to about 1 km


def test_nearby_does_not_offer_the_resident_their_own_report(client_for, streetlight, district):
    mine = _file(streetlight, district=district)
    response = client_for(mine.reporter).get(
        "/api/v1/requests/nearby", {"category": "streetlight", "district": "central"}
    )
    assert response.json() == []
