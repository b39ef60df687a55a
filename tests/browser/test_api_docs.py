"""The API documentation renders in a real browser under the portal's Content-Security-Policy,
from local assets only: every operation of the schema shows up as an operation block."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import shot

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _operations(schema: dict) -> int:
    return sum(1 for item in schema["paths"].values() for method in item if method in METHODS)


def _open_and_count(page, url: str, schema_url: str, base: str) -> tuple[int, int, list, list]:
    violations: list[str] = []
    foreign: list[str] = []
    page.on("console", lambda m: violations.append(m.text)
            if "Content Security Policy" in m.text else None)
    page.on("request", lambda r: foreign.append(r.url)
            if urlsplit(r.url).netloc not in ("", urlsplit(base).netloc)
            and not r.url.startswith("data:") else None)
    expected = _operations(page.request.get(schema_url).json())
    page.goto(url)
    page.wait_for_selector(".opblock", timeout=30_000)
    page.wait_for_load_state("networkidle")
    return page.locator(".opblock").count(), expected, violations, foreign


@pytest.mark.browser
def test_swagger_ui_at_api_docs_renders_every_operation(new_context, live_portal):
    page = new_context().new_page()

    shown, expected, violations, foreign = _open_and_count(
        page, "/api/docs/", "/api/schema/?format=json", live_portal
    )
    shot(page, "api-docs")

    assert expected > 20
    assert shown == expected
    assert violations == []
    assert foreign == []


@pytest.mark.browser
def test_the_allauth_openapi_page_renders_from_local_assets(new_context, live_portal):
    page = new_context().new_page()

    shown, expected, violations, foreign = _open_and_count(
        page, "/_allauth/openapi.html", "/_allauth/openapi.json", live_portal
    )
    shot(page, "allauth-openapi")

    assert expected > 10
    assert shown == expected
    assert violations == []
    assert foreign == []
