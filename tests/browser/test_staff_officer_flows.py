"""Browser flows for the report form's map, the workbench's "mark as duplicate of…" and the
counter data-subject request form."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from tests.browser.conftest import MAP_TILES, shot, sign_in
from tests.browser.test_portal_flows import (
    CLERK_ROADS,
    OFFICER,
    RESIDENT,
    _file_pothole,
    take_step,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _tile() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 220, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_resident_places_the_pin_on_the_map_from_the_tile_server(new_context):
    context = new_context()
    served: list[str] = []
    body = _tile()

    def serve(route) -> None:
        served.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=body)

    context.route(f"{MAP_TILES}/**", serve)
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    sign_in(page, RESIDENT)
    page.goto("/report/")
    page.wait_for_selector("[data-map] img.map-tile")
    # The CSP lets the tiles in: they load and have their real size.
    # (Polled: wait_for_function needs eval, which the portal's CSP forbids.)
    for _attempt in range(50):
        if page.evaluate(
            "Array.from(document.querySelectorAll('img.map-tile'))"
            ".some(i => i.naturalWidth === 256)"
        ):
            break
        page.wait_for_timeout(100)
    else:
        pytest.fail("no tile loaded")
    assert served
    assert all(re.search(r"/tiles/\d+/\d+/\d+\.png$", u) for u in served)
    assert blocked == []
    assert page.input_value("#id_lat") == ""
    page.locator("[data-map-canvas]").click(position={"x": 120, "y": 90})
    assert page.input_value("#id_lat") != ""
    assert page.input_value("#id_lon") != ""
    assert page.is_visible("[data-map-marker]")
    shot(page, "report-form-map")


def test_clerk_marks_a_report_as_duplicate_from_the_workbench(new_context, tmp_path):
    resident = new_context().new_page()
    sign_in(resident, RESIDENT)
    original = _file_pothole(resident, tmp_path, "Duplicate test: hole at the market.",
                             photo=False)
    duplicate = _file_pothole(resident, tmp_path, "Duplicate test: same hole, market gate.",
                              photo=False)

    clerk = new_context().new_page()
    sign_in(clerk, CLERK_ROADS)
    clerk.goto(f"/staff/requests/{duplicate}/")
    take_step(clerk, "duplicate", original="CD-NOPE000")
    clerk.wait_for_selector("#id_step-original_errors")
    assert clerk.input_value("input[name='step-original']") == "CD-NOPE000"
    assert clerk.is_checked("[data-testid='step-duplicate']")

    take_step(clerk, "duplicate", original=original.lower())
    clerk.wait_for_selector(".badge-closed[data-status]")
    assert clerk.locator("[data-testid='step-duplicate']").count() == 0
    assert original in clerk.content()
    shot(clerk, "workbench-duplicate")


def test_data_officer_records_a_counter_request_after_fixing_the_email(new_context):
    page = new_context().new_page()
    sign_in(page, OFFICER)
    page.goto("/data-protection/requests/")
    page.click("a[href='/staff/data-requests/new']")
    page.check("input[name=kind][value=export]")
    page.fill("input[name=subject_email]", "nobody@demo.civicdesk")
    page.fill("textarea[name=outcome]", "Asked at desk 2.")
    page.click("main form[data-counter-dsr] button[type=submit]")
    page.wait_for_selector("#id_subject_email_errors")
    assert page.input_value("textarea[name=outcome]") == "Asked at desk 2."
    assert page.is_checked("input[name=kind][value=export]")
    page.fill("input[name=subject_email]", RESIDENT)
    page.click("main form[data-counter-dsr] button[type=submit]")
    page.wait_for_url(re.compile(r"/data-protection/requests/$"))
    message = page.inner_text(".messages, [role=status], main")
    reference = re.search(r"DSR-[A-Z0-9]{7}", message)
    assert reference
    assert page.is_visible(f"td:has-text('{reference.group(0)}')")
    shot(page, "counter-dsr-recorded")
