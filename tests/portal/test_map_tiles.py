"""The request form's optional map: off without a tile server, and when on, the CSP allows
exactly that server's origin for images."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse

from portal.map_tiles import map_start, tile_origin
from tests.factories import DistrictFactory
from tests.sessions import mfa_login

ROOT = Path(__file__).resolve().parents[2]
TILES = "https://tiles.example.city/osm/{z}/{x}/{y}.png"


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        mfa_login(client, user)
    return client


def test_tile_origin_is_the_scheme_host_and_port_of_the_template():
    assert tile_origin(TILES) == "https://tiles.example.city"
    assert tile_origin("http://127.0.0.1:8088/{z}/{x}/{y}.png") == "http://127.0.0.1:8088"


def test_no_tile_server_means_no_extra_origin():
    assert tile_origin("") == ""


@pytest.mark.parametrize("template", [
    "https://{s}.tiles.example.city/{z}/{x}/{y}.png",
    "https://user:pw@tiles.example.city/{z}/{x}/{y}.png",
    "ftp://tiles.example.city/{z}/{x}/{y}.png",
    "https://tiles.example.city/tiles.png",
    "tiles.example.city/{z}/{x}/{y}.png",
])
def test_a_tile_template_that_would_widen_the_policy_is_refused(template):
    with pytest.raises(ImproperlyConfigured):
        tile_origin(template)


@pytest.mark.django_db
def test_map_starts_in_the_middle_of_the_districts():
    DistrictFactory(boundary={"type": "Polygon", "coordinates": [
        [[10.0, 50.0], [10.2, 50.0], [10.2, 50.2], [10.0, 50.2], [10.0, 50.0]]]})
    from services.models import District

    start = map_start(District.objects.all())
    assert start is not None
    assert (start["lat"], start["lon"]) == (50.1, 10.1)


@pytest.mark.django_db
def test_without_a_tile_server_the_form_has_no_map_and_no_map_script(resident, settings):
    settings.CIVICDESK = {**settings.CIVICDESK, "MAP_TILE_URL": ""}
    DistrictFactory()
    page = browser(resident).get(reverse("portal:request-new")).content.decode()
    assert "data-map" not in page
    assert "map.js" not in page
    assert 'name="address"' in page
    assert 'name="district"' in page


@pytest.mark.django_db
def test_with_a_tile_server_the_form_offers_the_map_hidden_until_script_runs(resident, settings):
    settings.CIVICDESK = {**settings.CIVICDESK, "MAP_TILE_URL": TILES}
    DistrictFactory()
    page = browser(resident).get(reverse("portal:request-new")).content.decode()
    assert f'data-tile-url="{TILES}"' in page
    assert re.search(r'<div class="field map-field" hidden data-map', page)
    assert '<script src="/static/portal/js/map.js" defer>' in page
    assert 'name="address"' in page


def _img_src_with(env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "CIVICDESK_MAP_TILE_URL"}
    clean.update(env)
    code = ("from django.conf import settings; "
            "print(' '.join(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src']))")
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=clean,
        capture_output=True, text=True, timeout=60, check=True,
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_csp_allows_images_from_the_configured_tile_origin_only():
    assert _img_src_with({"CIVICDESK_MAP_TILE_URL": TILES}).split() == [
        "'self'", "data:", "blob:", "https://tiles.example.city"
    ]


@pytest.mark.slow
def test_csp_adds_no_image_origin_without_a_tile_server():
    assert _img_src_with({}).split() == ["'self'", "data:", "blob:"]
