"""Issue 20 in a real browser: a live reply never drops a resident's draft; following a
request lists it in My requests and it can be unfollowed there."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import shot, sign_in
from tests.browser.test_portal_flows import (
    CLERK_ROADS,
    RESIDENT,
    RESIDENT_ZH,
    _eventually,
    _file_pothole,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_live_reply_arriving_while_the_resident_types_keeps_the_draft(new_context, tmp_path):
    resident = new_context().new_page()
    sign_in(resident, RESIDENT)
    reference = _file_pothole(resident, tmp_path, "Draft test: a hole by the pond path.",
                              photo=False)
    resident.evaluate("window.__sameDocument = true")
    assert _eventually(resident, "document.querySelector('[data-live]').dataset.liveMode") == (
        "websocket"
    )
    draft = resident.locator("form[action$='/comment'] textarea[name=text]")
    draft.click()
    draft.type("It is deeper tonight and the path is")

    clerk = new_context().new_page()
    sign_in(clerk, CLERK_ROADS)
    clerk.goto(f"/staff/requests/{reference}/")
    clerk.click("[data-testid='reply-section'] summary")  # the reply is a folded section
    reply = clerk.locator("form[action$='/reply']")
    reply.locator("textarea[name='reply-text']").fill("An electrician is booked for Thursday.")
    reply.locator("button[type=submit]:not([form])").click()  # not the standard reply's Insert
    clerk.wait_for_load_state()

    # The update waits behind a button; the draft and the cursor stay; no false "Updated".
    resident.wait_for_selector("[data-live-show]:visible", timeout=20_000)
    status = resident.inner_text("[data-live-status]")
    assert "Updated just now" not in status
    assert "your text is kept" in status
    assert not resident.is_visible("text=An electrician is booked for Thursday.")
    draft.type(" slippery.")  # still typing where the cursor was
    assert draft.input_value() == "It is deeper tonight and the path is slippery."
    shot(resident, "request-live-update-held")

    resident.click("[data-live-show]")
    resident.wait_for_selector("text=An electrician is booked for Thursday.")
    assert resident.evaluate("window.__sameDocument") is True
    assert (resident.locator("form[action$='/comment'] textarea[name=text]").input_value()
            == "It is deeper tonight and the path is slippery.")
    assert "Updated just now" in resident.inner_text("[data-live-status]")
    assert not resident.is_visible("[data-live-show]")

    # The draft is still a draft: sending it files the comment.
    resident.click("form[action$='/comment'] button[type=submit]")
    resident.wait_for_selector("text=It is deeper tonight and the path is slippery.")


def test_a_resident_follows_a_public_report_finds_it_in_my_requests_and_unfollows_it(
    new_context,
):
    owner = new_context().new_page()
    sign_in(owner, RESIDENT)
    owner.goto("/report/")
    owner.check("#cat-streetlight")
    owner.fill("textarea[name=description]", "Follow test: the lamp at the east gate is dark.")
    owner.fill("input[name=address]", "East Gate, Jianshe Road")
    owner.click("summary")
    owner.fill("#id_lat", "39.0410")
    owner.fill("#id_lon", "115.9910")
    owner.check("input[name=is_public]")
    owner.click("main button[type=submit]")
    owner.wait_for_url(re.compile(r"/my/requests/CD-[A-Z0-9]{7}/$"))
    reference = owner.url.rstrip("/").rsplit("/", 1)[-1]

    neighbour = new_context().new_page()
    sign_in(neighbour, RESIDENT_ZH)
    neighbour.goto("/reports/?street=East+Gate")
    # The test server has a tile URL (nothing serves it): the map shows, with a dot per report.
    marker = neighbour.locator(f"a[data-map-report][href$='/reports/{reference}/']")
    marker.wait_for(state="visible")
    shot(neighbour, "public-reports-map")
    marker.click()
    neighbour.wait_for_url(re.compile(rf"/reports/{reference}/$"))
    assert neighbour.is_visible("text=Follow test: the lamp at the east gate is dark.")
    neighbour.click(f"button[data-follow='{reference}']")
    neighbour.wait_for_url(re.compile(rf"/my/requests/{reference}/$"))
    assert neighbour.is_visible("ul.messages")  # the confirmation
    assert neighbour.is_visible(f"form[action$='/{reference}/unfollow']")

    neighbour.goto("/my/requests/")
    row = neighbour.locator(f"tr[data-followed][data-ref='{reference}']")
    assert row.is_visible()
    shot(neighbour, "my-requests-following")
    row.locator("button[type=submit]").click()
    neighbour.wait_for_url(re.compile(r"/my/requests/$"))
    assert neighbour.is_visible("ul.messages")
    assert neighbour.locator(f"tr[data-followed][data-ref='{reference}']").count() == 0


@pytest.mark.parametrize(("width", "suffix"), [(1280, "desktop"), (390, "390")])
def test_screenshots_of_the_new_public_and_resident_pages(new_context, width, suffix):
    page = new_context(viewport={"width": width, "height": 900}).new_page()
    page.goto("/reports/")
    shot(page, f"public-reports-{suffix}")
    first = page.locator("tr[data-ref] a").first
    if first.count():
        first.click()
        page.wait_for_url(re.compile(r"/reports/CD-[A-Z0-9]{7}/$"))
        shot(page, f"public-report-{suffix}")
    sign_in(page, RESIDENT)
    page.goto("/my/requests/")
    shot(page, f"my-requests-{suffix}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1


def _tab_to(page, selector: str, limit: int = 40) -> None:
    """Press Tab until the focused element matches `selector` (keyboard only, like a person)."""
    for _ in range(limit):
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


@pytest.mark.parametrize(("width", "suffix"), [(1280, "desktop"), (390, "390")])
def test_a_resident_files_through_the_guided_steps_by_keyboard_only(new_context, width, suffix):
    page = new_context(viewport={"width": width, "height": 900}).new_page()
    sign_in(page, RESIDENT)
    page.goto("/report/steps/")
    # Step 1: what. Focus starts on the step's heading.
    assert page.evaluate("document.activeElement.id") == "step-heading"
    _tab_to(page, "textarea[name=description]")
    page.keyboard.type("The street lamp at the school gate is dark every night.")
    shot(page, f"guided-what-{suffix}")
    _tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/report/steps/category/$"))
    # The suggested category is already chosen; the resident confirms it.
    assert page.locator("[data-suggestion='streetlight']").count() == 1
    assert page.is_checked("#cat-streetlight")
    shot(page, f"guided-category-{suffix}")
    _tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/report/steps/where/$"))
    assert page.locator("[data-map]").count() == 0  # no map in the guided steps
    _tab_to(page, "input[name=address]")
    page.keyboard.type("School gate, Jianshe Road")
    shot(page, f"guided-where-{suffix}")
    page.keyboard.press("Enter")  # a text field submits its form
    page.wait_for_url(re.compile(r"/report/steps/details/$"))
    shot(page, f"guided-details-{suffix}")
    _tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/report/steps/review/$"))
    assert page.is_visible("text=School gate, Jianshe Road")
    shot(page, f"guided-review-{suffix}")
    _tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/report/steps/thanks/CD-[A-Z0-9]{7}/$"))
    # The thank-you page: focus on it, the reference, the department, the target date.
    assert page.evaluate("document.activeElement.id") == "thanks-heading"
    reference = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert page.inner_text("[data-reference]") == reference
    assert page.inner_text("[data-department]").strip()
    assert page.inner_text("[data-due]").strip()
    assert page.is_visible("text=What happens next")
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    shot(page, f"guided-thanks-{suffix}")
