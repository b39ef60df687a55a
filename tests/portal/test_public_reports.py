"""Public reports: requests their reporters published, listed (street, district and status
filters) and shown read-only with the fields Open311 shows, nothing personal, photos only when
published, and follow for signed-in residents."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from services import services as request_services
from services.attachments import photos_prepare
from services.models import Attachment, Category, Follow, Status
from services.routing import request_route
from tests.factories import CategoryFactory, DistrictFactory

pytestmark = pytest.mark.django_db


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def photo() -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format="JPEG")
    return SimpleUploadedFile("hole.jpg", out.getvalue(), content_type="image/jpeg")


@pytest.fixture
def north():
    square = [[116.0, 39.0], [116.1, 39.0], [116.1, 39.1], [116.0, 39.1], [116.0, 39.0]]
    return DistrictFactory(code="north", name_en="North",
                           boundary={"type": "Polygon", "coordinates": [square]})


@pytest.fixture
def pothole(roads):
    return CategoryFactory(code="pothole", name_en="Pothole", department=roads)


@pytest.fixture
def file(resident, pothole, triage, north, django_capture_on_commit_callbacks):
    def make(description="Deep hole by the bus stop", *, public=True, address="12 Jianshe Road",
             private=False, photos=False, category=None, lat=39.05, lon=116.05, reporter=None):
        with django_capture_on_commit_callbacks(execute=False):
            sr, _created = request_services.request_file(
                reporter=reporter or resident, category=(category or pothole).code,
                description=description, address=address, lat=lat, lon=lon, is_public=public,
                is_private_address=private,
                photos=photos_prepare(uploads=[photo()]) if photos else (),
            )
        request_route(request_id=sr.pk)
        sr.refresh_from_db()
        return sr
    return make


def test_the_list_shows_published_requests_only_and_needs_no_sign_in(file, roads):
    published = file("Published hole")
    unpublished = file("Secret hole", public=False)
    complaint = file("Rude clerk", category=CategoryFactory(
        code="conduct", kind=Category.Kind.COMPLAINT, department=roads))
    page = browser().get(reverse("portal:reports")).content.decode()
    assert published.reference in page
    assert "Published hole" in page
    for hidden in (unpublished, complaint):
        assert hidden.reference not in page


def test_the_list_filters_by_street_district_and_status(file, clerk_roads):
    on_jianshe = file("Hole A", address="12 Jianshe Road", lat=39.05, lon=116.05)
    elsewhere = file("Hole B", address="3 Lake Street", lat=38.5, lon=115.5)
    client = browser()

    def refs(**params):
        page = client.get(reverse("portal:reports"), params).content.decode()
        return set(re.findall(r'data-ref="(CD-\w+)"', page))

    assert refs(street="jianshe") == {on_jianshe.reference}
    assert refs(district="north") == {on_jianshe.reference}
    request_services.request_transition(request=elsewhere, actor=clerk_roads,
                                        to_status=Status.REJECTED, text="Not ours.")
    assert refs(status="closed") == {elsewhere.reference}
    assert refs(status="open") == {on_jianshe.reference}


def test_a_street_filter_never_finds_a_home_address(file):
    file("Hole at home", address="7 Quiet Lane", private=True)
    page = browser().get(reverse("portal:reports"), {"street": "quiet"}).content.decode()
    assert "data-ref=" not in page


def test_the_page_shows_the_fields_open311_shows(file, clerk_roads):
    sr = file("Deep hole by the bus stop")
    request_services.request_reply(request=sr, actor=clerk_roads, text="Crew booked Monday.")
    page = browser().get(reverse("portal:report", args=[sr.reference])).content.decode()
    open311 = browser().get(f"/open311/v2/requests/{sr.reference}.json").json()[0]
    for field in ("description", "status_notes", "agency_responsible", "address",
                  "service_notice", "service_name"):
        assert open311[field], field
        assert open311[field] in page, field
    for field in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert f'data-field="{field}" datetime="{open311[field]}"' in page, field


def test_the_page_shows_no_personal_data(file, resident):
    sr = file("Deep hole", address="7 Quiet Lane", private=True)
    page = browser().get(reverse("portal:report", args=[sr.reference])).content.decode()
    for personal in (resident.display_name, resident.email, resident.phone, "7 Quiet Lane"):
        assert personal not in page


def test_an_unpublished_request_or_a_complaint_has_no_public_page(file, roads):
    unpublished = file("Secret", public=False)
    complaint = file("Rude", category=CategoryFactory(
        code="conduct", kind=Category.Kind.COMPLAINT, department=roads))
    for sr in (unpublished, complaint):
        response = browser().get(reverse("portal:report", args=[sr.reference]))
        assert response.status_code == 404


def test_published_photos_are_shown_and_unpublished_ones_are_not(file, clerk_roads):
    published = file("With photo", photos=True)
    unpublished = file("Private photo", public=False, photos=True)
    token = Attachment.objects.get(request=published).token
    page = browser().get(reverse("portal:report", args=[published.reference])).content.decode()
    url = reverse("portal:report-photo", args=[published.reference, token])
    assert url in page
    response = browser().get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    hidden = Attachment.objects.get(request=unpublished).token
    assert browser().get(
        reverse("portal:report-photo", args=[unpublished.reference, hidden])
    ).status_code == 404


def test_a_staff_photo_is_not_public(file, clerk_roads):
    sr = file("With a staff photo")
    request_services.request_attach(
        request=sr, actor=clerk_roads, photos=photos_prepare(uploads=[photo()])
    )
    token = Attachment.objects.get(request=sr).token
    response = browser().get(reverse("portal:report-photo", args=[sr.reference, token]))
    assert response.status_code == 404


def test_an_anonymous_visitor_is_asked_to_sign_in_to_follow(file):
    sr = file()
    page = browser().get(reverse("portal:report", args=[sr.reference])).content.decode()
    assert "Sign in to follow this report" in page
    assert reverse("portal:request-follow", args=[sr.reference]) not in page


def test_a_signed_in_resident_follows_from_the_public_page_and_unfollows_back_to_it(
    file, other_resident
):
    sr = file()
    client = browser(other_resident)
    url = reverse("portal:report", args=[sr.reference])
    assert reverse("portal:request-follow", args=[sr.reference]) in client.get(url).content.decode()
    client.post(reverse("portal:request-follow", args=[sr.reference]))
    assert Follow.objects.filter(user=other_resident, request=sr).exists()
    page = client.get(url).content.decode()
    assert "You follow this report" in page
    response = client.post(reverse("portal:request-unfollow", args=[sr.reference]),
                           {"next": url})
    assert response["Location"] == url
    assert not Follow.objects.filter(user=other_resident, request=sr).exists()


def test_without_a_tile_server_the_list_has_no_map(file, settings):
    settings.CIVICDESK = {**settings.CIVICDESK, "MAP_TILE_URL": ""}
    file()
    page = browser().get(reverse("portal:reports")).content.decode()
    assert "data-map" not in page
    assert "map.js" not in page


def test_with_a_tile_server_the_list_has_a_map_with_a_link_per_located_report(file, settings):
    settings.CIVICDESK = {**settings.CIVICDESK,
                          "MAP_TILE_URL": "https://tiles.example.city/{z}/{x}/{y}.png"}
    located = file("On the map", lat=39.0512, lon=116.0568)
    at_home = file("At home", lat=39.0534567, lon=116.0523456, private=True)
    page = browser().get(reverse("portal:reports")).content.decode()
    assert "data-map data-map-view" in page
    marker = (f'href="{reverse("portal:report", args=[located.reference])}" data-map-report '
              'data-lat="39.051200" data-lon="116.056800"')
    assert marker in page
    # A home is placed where Open311 places it: rounded to about 100 m.
    assert 'data-lat="39.053000" data-lon="116.052000"' in page
    assert at_home.reference in page
