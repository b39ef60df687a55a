"""Location you can trust in the portal: a district picked in the form stays a district (no
invented point), the guided steps show possible duplicates without JavaScript, and the
workbench and the public page say how well the place is known."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from services import services as request_services
from services.models import Precision, ServiceRequest
from services.routing import request_route
from tests.factories import CategoryFactory, DistrictFactory, GazetteerAddressFactory
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db

BOX = {"type": "Polygon", "coordinates": [[[116.0, 39.0], [116.1, 39.0], [116.1, 39.1],
                                           [116.0, 39.1], [116.0, 39.0]]]}


@pytest.fixture
def place(roads, triage):
    central = DistrictFactory(code="central", name_en="Central", boundary=BOX)
    bins = CategoryFactory(code="missed-collection", name_en="Missed rubbish collection",
                           department=roads, keywords="bins,rubbish")
    GazetteerAddressFactory(number="8", lat=39.0512, lon=116.0534, district=central)
    return {"district": central, "category": bins}


def _resident_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _existing(place, other_resident, *, days: int = 3, **fields) -> ServiceRequest:
    sr = request_services.request_submit(
        reporter=other_resident, category=place["category"], description="Bins full.",
        address="8 Jianshe Road", **fields,
    )
    ServiceRequest.objects.filter(pk=sr.pk).update(
        created_at=timezone.now() - timedelta(days=days, hours=1)
    )
    return sr


def test_the_one_page_form_files_a_district_only_report_without_a_point(resident, place):
    client = _resident_client(resident)
    token = "t-district-only"
    response = client.post(reverse("portal:request-new"), {
        "form_token": token, "category": "missed-collection",
        "description": "Our bins were not emptied.", "district": "central",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    sr = ServiceRequest.objects.get(reporter=resident)
    assert (sr.location_precision, sr.lat, sr.lon) == (Precision.DISTRICT, None, None)
    assert sr.district == place["district"]
    assert sr.address == ""  # not the district's name dressed up as an address


def test_the_one_page_form_refuses_an_unknown_district_next_to_the_field(resident, place):
    client = _resident_client(resident)
    response = client.post(reverse("portal:request-new"), {
        "form_token": "t-bad-district", "category": "missed-collection",
        "description": "Our bins were not emptied.", "district": "atlantis",
    })
    assert response.status_code == 400
    assert 'id="id_district_errors"' in response.content.decode()
    assert not ServiceRequest.objects.exists()


def test_the_guided_steps_show_a_possible_duplicate_in_the_chosen_district_without_javascript(
    resident, other_resident, place
):
    existing = _existing(place, other_resident)
    client = _resident_client(resident)
    client.get(reverse("portal:guided-start"))
    client.post(reverse("portal:guided", args=["what"]), {"description": "Bins not emptied"})
    client.post(reverse("portal:guided", args=["category"]), {"category": "missed-collection"})
    client.post(reverse("portal:guided", args=["where"]), {"district": "central"})
    page = client.get(reverse("portal:guided", args=["details"])).content.decode()
    item = page[page.index(f'data-ref="{existing.reference}"'):]
    item = item[: item.index("</li>")]
    assert "Missed rubbish collection" in item
    assert "3 days ago" in item.replace("\xa0", " ")
    assert "<span data-street>Jianshe Road</span>" in item
    assert 'data-match="district"' in page
    assert "m away" not in item  # no distance to a place that is not a point
    assert f'action="{reverse("portal:request-follow", args=[existing.reference])}"' in item


def test_the_guided_steps_show_no_duplicate_of_another_district(resident, other_resident, place):
    _existing(place, other_resident)
    DistrictFactory(code="north", boundary={**BOX, "coordinates": [[[0, 0], [1, 0], [1, 1],
                                                                     [0, 1], [0, 0]]]})
    client = _resident_client(resident)
    client.get(reverse("portal:guided-start"))
    client.post(reverse("portal:guided", args=["what"]), {"description": "Bins not emptied"})
    client.post(reverse("portal:guided", args=["category"]), {"category": "missed-collection"})
    client.post(reverse("portal:guided", args=["where"]), {"district": "north"})
    page = client.get(reverse("portal:guided", args=["details"])).content.decode()
    assert "data-nearby-found" not in page


def test_the_workbench_says_the_place_is_known_only_to_its_district(
    resident, place, clerk_roads, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        sr = request_services.request_submit(
            reporter=resident, category=place["category"], description="Bins.",
            district=place["district"],
        )
    request_route(request_id=sr.pk)
    client = Client()
    mfa_login(client, clerk_roads)
    page = client.get(reverse("portal:workbench", args=[sr.reference])).content.decode()
    assert 'data-precision="district"' in page


def test_the_queue_marks_a_district_only_request(
    resident, place, clerk_roads, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        sr = request_services.request_submit(
            reporter=resident, category=place["category"], description="Bins.",
            district=place["district"],
        )
    request_route(request_id=sr.pk)
    client = Client()
    mfa_login(client, clerk_roads)
    page = client.get(reverse("portal:queue")).content.decode()
    row = page[page.index(f'data-ref="{sr.reference}"'):]
    assert 'data-precision="district"' in row[: row.index("</tr>")]


def test_the_public_page_says_an_address_place_is_the_gazetteers(
    client, resident, other_resident, place
):
    existing = _existing(place, other_resident, is_public=True)
    page = client.get(reverse("portal:report", args=[existing.reference])).content.decode()
    assert 'data-field="location_precision" data-precision="address"' in page


def test_the_public_list_finds_a_geocoded_report_by_its_street(
    client, other_resident, place
):
    existing = _existing(place, other_resident, is_public=True)
    ServiceRequest.objects.filter(pk=existing.pk).update(address="8 Jianshe Rd")
    page = client.get(reverse("portal:reports"), {"street": "Jianshe Road"}).content.decode()
    assert existing.reference in page
