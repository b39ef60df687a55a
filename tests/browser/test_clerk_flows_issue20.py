"""A clerk works through the queue quickly (issue 20, item 6): three items started at once
with a bulk action, one resolved with a standard reply, then straight on to the next item.

The demo clerk (clerk.roads) reads the portal in Chinese: the test looks at data attributes
and test ids, never at English words.
"""

from __future__ import annotations

import re
import secrets

import pytest

from tests.browser.conftest import shot, sign_in
from tests.browser.test_portal_flows import CLERK_ROADS, RESIDENT, _file_pothole

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_clerk_works_three_items_with_bulk_actions_and_a_standard_reply(
    new_context, tmp_path
):
    token = f"bulk{secrets.token_hex(3)}"
    resident = new_context().new_page()
    sign_in(resident, RESIDENT)
    filed = [
        _file_pothole(resident, tmp_path, f"{token}: hole number {n} on Mill Road.", photo=False)
        for n in (1, 2, 3)
    ]

    clerk = new_context().new_page()
    sign_in(clerk, CLERK_ROADS)
    clerk.goto("/staff/queue/")
    clerk.fill("#id_q", token)
    clerk.click("form.filters button[type=submit]")
    clerk.wait_for_url(re.compile(r"/staff/queue/\?f="))
    rows = clerk.locator("tr[data-ref]")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.ref)")) == sorted(filed)
    order = rows.evaluate_all("rs => rs.map(r => r.dataset.ref)")

    # Bulk: select the three and start them in one go.
    for checkbox in clerk.locator("[data-testid='bulk-pick']").all():
        checkbox.check()
    clerk.select_option("#id_action", "start")
    clerk.click("[data-testid='bulk-submit']")
    clerk.wait_for_selector("[data-testid='bulk-result'][data-done='3'][data-skipped='0']")
    for reference in filed:
        assert clerk.locator(f"tr[data-ref='{reference}'] .badge-in_progress").count() == 1
    shot(clerk, "queue-bulk-started")

    # The first one: resolve it with a standard reply, edited before sending.
    clerk.click(f"tr[data-ref='{order[0]}'] a")
    clerk.wait_for_selector("[data-testid='next-step']")
    assert clerk.get_attribute("[data-testid='next-item-link']", "data-ref") == order[1]
    clerk.check("[data-testid='step-resolve']")
    clerk.select_option("select[name='step-outcome']", "fixed")
    option = clerk.locator("[data-testid='standard-reply-select-step'] option").first
    clerk.select_option("[data-testid='standard-reply-select-step']",
                        option.get_attribute("value"))
    clerk.click("[data-testid='standard-reply-insert-step']")
    # The resident files in English: the resident's language is offered first.
    expected = option.get_attribute("data-body-en")
    assert expected
    assert clerk.input_value("textarea[name='step-text']") == expected
    clerk.fill("textarea[name='step-text']", expected + " Thank you for telling us.")
    shot(clerk, "workbench-next-step-standard-reply")
    assert clerk.is_checked("#id_step-next_item")  # on by default
    clerk.click("[data-testid='next-step-submit']")

    # Straight on to the next item of the same queue.
    clerk.wait_for_url(re.compile(rf"/staff/requests/{order[1]}/$"))
    clerk.wait_for_selector("[data-testid='next-step']")
    assert clerk.locator("main [data-status].badge-in_progress").count() >= 1
    shot(clerk, "workbench-next-item")
    clerk.set_viewport_size({"width": 390, "height": 844})
    shot(clerk, "workbench-next-item-390")
    clerk.go_back()
    clerk.goto("/staff/queue/")
    shot(clerk, "queue-390")

    # The resident sees the clerk's edited standard reply on the resolved request.
    resident.goto(f"/my/requests/{order[0]}/")
    resident.wait_for_selector("[data-status].badge-resolved, .badge-resolved[data-status]")
    assert resident.is_visible(f"text={expected} Thank you for telling us.")
