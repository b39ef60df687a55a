"""The API documentation pages carry no inline code and load nothing from other origins, so
the portal's Content-Security-Policy (script-src/style-src 'self') lets them render; the
browser test (tests/browser/test_api_docs.py) counts the rendered operations."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

PAGES = ["/api/docs/", "/_allauth/openapi.html"]


@pytest.mark.parametrize("url", PAGES)
def test_the_docs_page_has_no_inline_script_or_style(client, url):
    html = client.get(url).content.decode()

    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert " style=" not in html


@pytest.mark.parametrize("url", PAGES)
def test_the_docs_page_loads_assets_only_from_its_own_origin(client, url):
    html = client.get(url).content.decode()

    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources
    assert [s for s in sources if not s.startswith("/")] == []


@pytest.mark.parametrize("url", PAGES)
def test_the_docs_page_is_served_under_the_strict_policy(client, url):
    policy = client.get(url)["Content-Security-Policy"]

    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


def test_the_swagger_init_script_is_served_as_javascript(client):
    response = client.get("/api/docs/?script=")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in response.content.decode()
