"""Issue 20, "location you can trust", in a real browser: a resident who knows only the
district (no map, no address) is shown the open report already filed there, with its category,
age and street, and what they file is stored as district-only (no invented point)."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import ARTIFACTS, shot, sign_in
from tests.browser.test_portal_flows import RESIDENT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Seeded by `seed_demo` (services/demo.py): a published missed collection at 8 Jianshe Road, in
# the South district, filed three days before the demo was seeded, with a photo.
CATEGORY = "Missed rubbish collection"
STREET = "Jianshe Road"


def _duplicate_on(page, within: str = ""):
    return page.locator(f"{within} li[data-nearby-item]".strip()).filter(
        has=page.locator("[data-street]", has_text=STREET)
    )


@pytest.mark.parametrize(("width", "suffix"), [(1280, "desktop"), (390, "390")])
def test_a_district_only_report_gets_a_duplicate_suggestion(new_context, width, suffix):
    page = new_context(viewport={"width": width, "height": 900}).new_page()
    sign_in(page, RESIDENT)
    page.goto("/report/steps/")
    page.fill("textarea[name=description]", "Our bins were not emptied this week.")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/report/steps/category/$"))
    page.check("#cat-missed-collection")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/report/steps/where/$"))
    assert page.locator("[data-map]").count() == 0  # no map: the district is all we give
    page.select_option("select[name=district]", "south")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/report/steps/details/$"))

    candidate = _duplicate_on(page)
    candidate.wait_for(state="visible")
    assert candidate.locator("[data-category]").inner_text() == CATEGORY
    assert candidate.locator("[data-age]").inner_text().replace("\xa0", " ") == "3 days ago"
    assert candidate.locator("[data-street]").inner_text() == STREET
    assert candidate.get_attribute("data-match") == "district"
    assert "m away" not in candidate.inner_text()  # no distance to a district-only place
    assert candidate.locator("img[data-photo]").count() == 1  # published with a photo
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    shot(page, f"guided-duplicate-in-district-{suffix}")

    # The resident files anyway: the request is known to its district only.
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/report/steps/review/$"))
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/report/steps/thanks/CD-[A-Z0-9]{7}/$"))
    reference = page.url.rstrip("/").rsplit("/", 1)[-1]
    page.goto(f"/my/requests/{reference}/")
    assert page.locator("[data-precision='district']").count() == 1


def test_the_one_page_form_suggests_the_duplicate_when_only_a_district_is_chosen(new_context):
    page = new_context().new_page()
    sign_in(page, RESIDENT)
    page.goto("/report/")
    page.check("#cat-missed-collection")
    page.select_option("select[name=district]", "south")
    candidate = _duplicate_on(page, "[data-nearby]")
    candidate.wait_for(state="visible")
    assert candidate.locator("[data-category]").inner_text() == CATEGORY
    assert candidate.locator("[data-age]").inner_text() == "3 days ago"
    assert candidate.get_attribute("data-match") == "district"
    # (An element screenshot: a full-page one resizes the viewport.)
    box = page.locator("[data-nearby]")
    box.screenshot(path=str(ARTIFACTS / "report-duplicate-in-district.png"))


def test_the_address_field_suggests_gazetteer_addresses_and_files_at_the_address(new_context):
    page = new_context().new_page()
    sign_in(page, RESIDENT)
    page.goto("/report/")
    page.check("#cat-fallen-tree")
    page.fill("textarea[name=description]", "A branch lies across the pavement.")
    page.locator("input[name=address]").press_sequentially("3 Nanhu", delay=30)
    option = page.locator("datalist#address-suggestions option[value^='3 Nanhu Lane']")
    option.wait_for(state="attached")
    page.fill("input[name=address]", option.get_attribute("value"))
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/my/requests/CD-[A-Z0-9]{7}/$"))
    # Geocoded on the server: the gazetteer's address, an address-precision place.
    assert page.locator("[data-precision='address']").count() == 1
    assert page.is_visible("text=South District")
