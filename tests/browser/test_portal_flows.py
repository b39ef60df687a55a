"""End-to-end flows in a real browser: filing with a photo, live queue and live status,
consent withdrawal with a receipt, the data officer's consent log, language, phone, keyboard."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.browser.conftest import ARTIFACTS, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RESIDENT = "resident2@demo.civicdesk"  # English UI
RESIDENT_ZH = "resident@demo.civicdesk"
CLERK_ROADS = "clerk.roads@demo.civicdesk"
OFFICER = "dpo@demo.civicdesk"


def _eventually(page, expression: str, timeout: float = 10.0):
    """Poll a JavaScript expression until it is truthy (wait_for_function would need eval,
    which the portal's Content-Security-Policy rightly forbids)."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _photo(tmp_path) -> str:
    path = tmp_path / "pothole.png"
    image = Image.new("RGB", (64, 48), (120, 90, 60))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return str(path)


def take_step(page, step: str, *, stay: bool = True, **fields: str) -> None:
    """Choose a step in the workbench's one "Next step" control, fill its fields, send it."""
    page.check(f"[data-testid='step-{step}']")
    if "outcome" in fields:
        page.select_option("select[name='step-outcome']", fields["outcome"])
    if "original" in fields:
        page.fill("input[name='step-original']", fields["original"])
    if "text" in fields:
        page.fill("textarea[name='step-text']", fields["text"])
    if stay:
        page.uncheck("#id_step-next_item")
    page.click("[data-testid='next-step-submit']")


def _file_pothole(page, tmp_path, description: str, *, photo: bool = True) -> str:
    page.goto("/report/")
    page.fill("#category-filter", "pothole")
    page.check("#cat-pothole")
    page.select_option("select[name='attr__pothole__size']", "large")
    page.fill("textarea[name=description]", description)
    page.fill("input[name=address]", "Main Street 12")
    if photo:
        page.set_input_files("#id_photos", _photo(tmp_path))
        page.wait_for_selector("[data-photo-previews] img[data-preview]")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/my/requests/CD-[A-Z0-9]{7}/$"))
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def test_resident_files_a_request_with_a_photo_and_sees_it(new_context, tmp_path):
    page = new_context().new_page()
    sign_in(page, RESIDENT)
    page.goto("/report/")
    # The category search narrows the list as one types.
    page.fill("#category-filter", "light")
    assert page.is_visible("#cat-streetlight")
    assert not page.is_visible("#cat-pothole")
    shot(page, "report-form")
    reference = _file_pothole(page, tmp_path, "A deep pothole outside the school gate.")
    assert page.is_visible(f"text={reference}")
    assert page.is_visible("text=A deep pothole outside the school gate.")
    assert _eventually(page, "document.querySelector('.photos img').naturalWidth") == 64
    shot(page, "request-page")
    page.goto("/my/requests/")
    assert page.is_visible(f"tr[data-ref='{reference}']")
    shot(page, "my-requests")


def test_clerk_sees_it_arrive_live_resolves_it_and_the_resident_page_updates_live(
    new_context, tmp_path
):
    clerk = new_context().new_page()
    sign_in(clerk, CLERK_ROADS)
    clerk.goto("/staff/queue/")
    clerk.evaluate("window.__sameDocument = true")
    # Live over the WebSocket (/ws/queue/), not the polling fallback.
    assert _eventually(clerk, "document.querySelector('[data-live]').dataset.liveMode") == (
        "websocket"
    )

    resident = new_context().new_page()
    sign_in(resident, RESIDENT)
    reference = _file_pothole(resident, tmp_path, "Live test: cracked road by the bus stop.",
                              photo=False)

    # The new item appears in the clerk's queue without a reload, with an "n new" marker.
    clerk.wait_for_selector(f"tr[data-ref='{reference}']", timeout=20_000)
    assert clerk.evaluate("window.__sameDocument") is True
    assert clerk.is_visible("[data-new-count]")
    assert clerk.inner_text("[data-new-count]").startswith("1 ")  # "1 new" in the clerk's language
    shot(clerk, "queue-live")

    resident.evaluate("window.__sameDocument = true")
    assert _eventually(resident, "document.querySelector('[data-live]').dataset.liveMode") == (
        "websocket"
    )
    clerk.click(f"tr[data-ref='{reference}'] a")
    take_step(clerk, "start")
    # The Roads clerk reads the portal in Chinese (their account language): look at the
    # status badge, not the English words.
    clerk.wait_for_selector("main [data-status].badge-in_progress")
    take_step(clerk, "resolve", outcome="fixed", text="We filled the hole this morning.")
    clerk.wait_for_selector("main [data-status].badge-resolved")
    shot(clerk, "workbench")

    # The resident's open page shows the resolution without a reload.
    resident.wait_for_selector("[data-status]:has-text('Resolved')", timeout=20_000)
    assert resident.evaluate("window.__sameDocument") is True
    assert resident.is_visible("text=We filled the hole this morning.")
    assert resident.is_visible("button:has-text('Yes, it is fixed')")
    shot(resident, "request-resolved-live")


def _give_then_withdraw_sms(page) -> None:
    page.goto("/my/data/")
    card = page.locator("[data-purpose='status-notifications-sms']")
    if card.locator("button[data-decision='withdraw']").count():
        card.locator("button[data-decision='withdraw']").click()
        page.wait_for_load_state()
        card = page.locator("[data-purpose='status-notifications-sms']")
    card.locator("button[data-decision='give']").click()
    page.wait_for_selector("[data-purpose='status-notifications-sms'] [data-consent-state='given']")
    page.locator(
        "[data-purpose='status-notifications-sms'] button[data-decision='withdraw']"
    ).click()
    page.wait_for_selector(
        "[data-purpose='status-notifications-sms'] [data-consent-state='withdrawn']"
    )


def test_resident_withdraws_a_consent_and_downloads_the_receipt(new_context):
    page = new_context(accept_downloads=True).new_page()
    sign_in(page, RESIDENT)
    _give_then_withdraw_sms(page)
    assert page.is_visible("text=Stops now")
    shot(page, "my-data-withdrawn")
    with page.expect_download() as download_info:
        page.locator("[data-purpose='status-notifications-sms'] a[data-receipt]").click()
    receipt = json.loads(Path(download_info.value.path()).read_text(encoding="utf-8"))
    text = json.dumps(receipt)
    assert "status-notifications-sms" in text
    assert "withdrawn" in text
    assert "leaf_hash" in text


def test_data_officer_filters_the_consent_log(new_context):
    resident = new_context().new_page()
    sign_in(resident, RESIDENT)
    _give_then_withdraw_sms(resident)

    page = new_context(accept_downloads=True).new_page()
    sign_in(page, OFFICER)
    page.goto("/data-protection/consent-log/")
    page.select_option("select[name=decision]", "withdrawn")
    page.click("main form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"decision=withdrawn"))
    decisions = page.eval_on_selector_all(
        "td[data-decision]", "cells => cells.map(c => c.dataset.decision)"
    )
    assert decisions
    assert set(decisions) == {"withdrawn"}
    assert "decision=withdrawn" in page.get_attribute("a[data-export='csv']", "href")
    assert RESIDENT not in page.content()
    shot(page, "consent-log-filtered")
    with page.expect_download() as download_info:
        page.click("a[data-export='csv']")
    csv_text = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert csv_text.startswith("event_id,pseudonym,purpose,decision")
    assert ",withdrawn," in csv_text
    assert ",given," not in csv_text


def test_language_switcher_turns_the_portal_chinese(new_context):
    page = new_context().new_page()
    page.goto("/")
    page.select_option("#language-select", "zh-hans")
    page.click("form.lang-form button[type=submit]")
    page.wait_for_selector("html[lang='zh-hans']")
    assert page.is_visible("h1:has-text('市民服务中心')")
    shot(page, "home-zh-hans")


def test_report_form_fits_a_phone_screen(new_context):
    page = new_context(viewport={"width": 375, "height": 812}, is_mobile=True,
                       has_touch=True).new_page()
    sign_in(page, RESIDENT)
    page.goto("/report/")
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    shot(page, "report-form-phone")


def test_keyboard_users_reach_the_skip_link_first_and_see_focus(new_context):
    page = new_context().new_page()
    page.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"


def test_without_websockets_the_request_page_falls_back_to_polling(new_context, tmp_path):
    resident_context = new_context()
    resident_context.route_web_socket(re.compile(r".*/ws/.*"), lambda ws: ws.close())
    resident = resident_context.new_page()
    sign_in(resident, RESIDENT)
    reference = _file_pothole(resident, tmp_path, "Polling test: loose drain cover.", photo=False)
    assert _eventually(resident, "document.querySelector('[data-live]').dataset.liveMode") == (
        "polling"
    )
    resident.evaluate("window.__sameDocument = true")

    clerk = new_context().new_page()
    sign_in(clerk, CLERK_ROADS)
    clerk.goto(f"/staff/requests/{reference}/")
    take_step(clerk, "start")
    # The Roads clerk reads the portal in Chinese (their account language): look at the
    # status badge, not the English words.
    clerk.wait_for_selector("main [data-status].badge-in_progress")

    resident.wait_for_selector("[data-status]:has-text('In progress')", timeout=20_000)
    assert resident.evaluate("window.__sameDocument") is True


def test_a_resident_near_an_open_report_can_follow_it_instead_of_filing_again(new_context,
                                                                              tmp_path):
    first = new_context().new_page()
    sign_in(first, RESIDENT)
    first.goto("/report/")
    first.check("#cat-streetlight")
    first.fill("textarea[name=description]", "The lamp at the north gate is dark.")
    first.click("summary")
    first.fill("#id_lat", "39.0210")
    first.fill("#id_lon", "115.9710")
    first.click("main button[type=submit]")
    first.wait_for_url(re.compile(r"/my/requests/CD-[A-Z0-9]{7}/$"))
    reference = first.url.rstrip("/").rsplit("/", 1)[-1]

    neighbour = new_context().new_page()
    sign_in(neighbour, RESIDENT_ZH)
    neighbour.goto("/report/")
    neighbour.check("#cat-streetlight")
    neighbour.click("summary")
    neighbour.fill("#id_lat", "39.0211")
    neighbour.fill("#id_lon", "115.9711")
    neighbour.wait_for_selector(f"[data-nearby] button[data-follow='{reference}']")
    # (An element screenshot: a full-page one resizes the viewport and can eat the next click.)
    neighbour.locator("[data-nearby]").screenshot(path=str(ARTIFACTS / "report-nearby.png"))
    neighbour.click(f"[data-nearby] button[data-follow='{reference}']")
    neighbour.wait_for_url(re.compile(rf"/my/requests/{reference}/$"))
