"""Clerk speed (issue 20, item 6): the workbench's one "Next step" control, standard replies,
the next item after a step, bulk actions, saved filters and the queue's map."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from services.models import Event, SavedQueueFilter, ServiceRequest, StandardReply, Status
from tests.factories import (
    CategoryFactory,
    MembershipFactory,
    ServiceRequestFactory,
    UserFactory,
    enroll_totp,
)
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    mfa_login(client, user)
    return client


@pytest.fixture
def pothole(roads):
    return CategoryFactory(department=roads)


def routed(category, **kwargs) -> ServiceRequest:
    return ServiceRequestFactory(
        category=category, department=category.department, status=Status.ROUTED, **kwargs
    )


def in_progress(category, **kwargs) -> ServiceRequest:
    return ServiceRequestFactory(
        category=category, department=category.department, status=Status.IN_PROGRESS, **kwargs
    )


def page_of(client: Client, sr: ServiceRequest) -> str:
    return client.get(reverse("portal:workbench", args=[sr.reference])).content.decode()


def step(client: Client, sr: ServiceRequest, **fields) -> object:
    data = {f"step-{k}": v for k, v in fields.items()}
    return client.post(reverse("portal:wb-step", args=[sr.reference]), data)


# --- One "Next step" control ----------------------------------------------------------------


def test_the_workbench_offers_the_allowed_steps_in_one_control(clerk_roads, pothole):
    sr = in_progress(pothole)
    page = page_of(browser(clerk_roads), sr)
    assert page.count("data-next-step") == 1
    steps = re.findall(r'name="step-step" value="([a-z_]+)"', page)
    assert steps == ["resolve", "reject", "return", "duplicate"]


def test_the_workbench_no_longer_shows_a_form_for_every_move(clerk_roads, pothole):
    sr = routed(pothole)
    page = page_of(browser(clerk_roads), sr)
    assert reverse("portal:wb-transition", args=[sr.reference]) not in page
    assert reverse("portal:wb-duplicate", args=[sr.reference]) not in page


def test_each_steps_fields_are_marked_for_that_step_only(clerk_roads, pothole):
    page = page_of(browser(clerk_roads), routed(pothole))
    sections = re.split(r'(?=<div class="step-fields")', page)
    owner = {
        field: re.search(r'data-step-fields="([a-z ]*)"', next(s for s in sections if field in s))
        for field in ('id="id_step-outcome"', 'id="id_step-original"', 'id="id_step-text"')
    }
    assert owner['id="id_step-outcome"'].group(1) == "resolve"
    assert owner['id="id_step-original"'].group(1) == "duplicate"
    texted = owner['id="id_step-text"']
    assert set(texted.group(1).split()) == {"resolve", "reject", "return", "duplicate"}


def test_contact_details_and_the_internal_note_stay_on_the_workbench(clerk_roads, pothole):
    sr = routed(pothole)
    page = page_of(browser(clerk_roads), sr)
    assert reverse("portal:wb-reveal", args=[sr.reference]) in page
    assert reverse("portal:wb-note", args=[sr.reference]) in page


def test_a_clerk_resolves_a_routed_request_with_the_next_step_control(clerk_roads, pothole):
    sr = routed(pothole)
    response = step(browser(clerk_roads), sr, step="resolve", outcome="fixed",
                    text="Filled today.", version=sr.version)
    assert response.status_code == 302
    sr.refresh_from_db()
    assert (sr.status, sr.outcome) == (Status.RESOLVED, "fixed")


def test_a_step_without_its_reply_shows_the_error_and_changes_nothing(clerk_roads, pothole):
    sr = routed(pothole)
    response = step(browser(clerk_roads), sr, step="reject", text="", version=sr.version)
    assert response.status_code == 400
    assert 'id="id_step-text_errors"' in response.content.decode()
    sr.refresh_from_db()
    assert sr.status == Status.ROUTED


def test_a_step_the_workflow_does_not_allow_the_clerk_changes_nothing(clerk_roads, pothole):
    sr = routed(pothole)
    response = step(browser(clerk_roads), sr, step="close", version=sr.version)
    assert response.status_code == 302
    sr.refresh_from_db()
    assert sr.status == Status.ROUTED


def test_a_step_on_a_request_changed_meanwhile_is_refused(clerk_roads, pothole):
    sr = routed(pothole)
    response = step(browser(clerk_roads), sr, step="start", version=sr.version - 1 or 99)
    assert response.status_code == 302
    sr.refresh_from_db()
    assert sr.status == Status.ROUTED


def test_a_clerk_of_another_department_cannot_take_a_step(clerk_parks, pothole):
    sr = routed(pothole)
    response = step(browser(clerk_parks), sr, step="start", version=sr.version)
    assert response.status_code == 404
    sr.refresh_from_db()
    assert sr.status == Status.ROUTED


def test_marking_a_duplicate_is_a_step_of_the_same_control(clerk_roads, pothole):
    original, sr = routed(pothole), routed(pothole)
    response = step(browser(clerk_roads), sr, step="duplicate", original=original.reference,
                    version=sr.version)
    assert response.status_code == 302
    sr.refresh_from_db()
    assert (sr.status, sr.outcome) == (Status.CLOSED, "duplicate")


def test_a_duplicate_of_an_unknown_request_is_a_field_error(clerk_roads, pothole):
    sr = routed(pothole)
    response = step(browser(clerk_roads), sr, step="duplicate", original="CD-NOPE000",
                    version=sr.version)
    assert response.status_code == 400
    assert 'id="id_step-original_errors"' in response.content.decode()


# --- Next item -------------------------------------------------------------------------------


def test_after_a_step_the_clerk_goes_to_the_next_item_of_their_queue(clerk_roads, pothole):
    first, second = routed(pothole, priority=4), routed(pothole, priority=2)
    client = browser(clerk_roads)
    client.get(reverse("portal:queue"))
    response = step(client, first, step="start", version=first.version, next_item="on")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:workbench", args=[second.reference])


def test_the_next_item_follows_the_clerks_current_queue_filter(clerk_roads, pothole, roads):
    other = CategoryFactory(department=roads)
    first = routed(pothole, priority=4)
    routed(other, priority=3)
    third = routed(pothole, priority=1)
    client = browser(clerk_roads)
    client.get(reverse("portal:queue"), {"category": pothole.code})
    response = step(client, first, step="start", version=first.version, next_item="on")
    assert response["Location"] == reverse("portal:workbench", args=[third.reference])


def test_with_next_item_unticked_the_clerk_stays_on_the_request(clerk_roads, pothole):
    first, _second = routed(pothole, priority=4), routed(pothole, priority=2)
    response = step(browser(clerk_roads), first, step="start", version=first.version)
    assert response["Location"] == reverse("portal:workbench", args=[first.reference])


def test_next_item_is_ticked_by_default(clerk_roads, pothole):
    page = page_of(browser(clerk_roads), routed(pothole))
    assert re.search(r'<input type="checkbox" name="step-next_item"[^>]* checked', page)


def test_the_workbench_offers_a_link_to_the_next_item(clerk_roads, pothole):
    first, second = routed(pothole, priority=4), routed(pothole, priority=2)
    page = page_of(browser(clerk_roads), first)
    assert f'data-testid="next-item-link" data-ref="{second.reference}"' in page


# --- Standard replies ----------------------------------------------------------------------


def reply(department, **kwargs) -> StandardReply:
    values = {"title_en": "Filled", "title_zh_hans": "已填补", "body_en": "We filled it.",
              "body_zh_hans": "我们已经填补了。"}
    return StandardReply.objects.create(department=department, **{**values, **kwargs})


def test_the_workbench_offers_the_departments_active_standard_replies(
    clerk_roads, pothole, roads, parks
):
    mine = reply(roads)
    retired = reply(roads, title_en="Old", is_active=False)
    theirs = reply(parks, title_en="Parks")
    page = page_of(browser(clerk_roads), routed(pothole))
    offered = set(re.findall(r'<option value="(\d+)" data-body-en=', page))
    assert str(mine.pk) in offered
    assert {str(retired.pk), str(theirs.pk)}.isdisjoint(offered)


def test_a_standard_reply_carries_both_languages_for_the_insert_button(
    clerk_roads, pothole, roads
):
    reply(roads)
    page = page_of(browser(clerk_roads), routed(pothole))
    assert 'data-body-en="We filled it." data-body-zh-hans="我们已经填补了。"' in page


def test_insert_without_javascript_puts_the_text_in_the_residents_language(
    clerk_roads, pothole, roads
):
    chosen = reply(roads)
    resident = UserFactory(preferred_language="zh-hans")
    sr = routed(pothole, reporter=resident)
    page = browser(clerk_roads).get(
        reverse("portal:workbench", args=[sr.reference]),
        {"standard_reply": chosen.pk, "lang": "zh-hans", "into": "step"},
    ).content.decode()
    assert re.search(r'<textarea name="step-text"[^>]*>\s*我们已经填补了。</textarea>', page)
    assert re.search(r'value="resolve" id="step-resolve"[^>]* checked', page)
    assert '<option value="zh-hans">' in page


def test_a_standard_reply_of_another_department_is_not_inserted(
    clerk_roads, pothole, parks
):
    theirs = reply(parks, body_en="Parks only text.")
    sr = routed(pothole)
    page = browser(clerk_roads).get(
        reverse("portal:workbench", args=[sr.reference]),
        {"standard_reply": theirs.pk, "lang": "en", "into": "reply"},
    ).content.decode()
    assert "Parks only text." not in page


def test_the_inserted_text_is_sent_as_edited(clerk_roads, pothole, roads):
    reply(roads)
    sr = routed(pothole)
    step(browser(clerk_roads), sr, step="resolve", outcome="fixed",
         text="We filled it. Thanks, Ms Li!", version=sr.version)
    event = Event.objects.get(request=sr, to_status=Status.RESOLVED)
    assert event.text == "We filled it. Thanks, Ms Li!"


@pytest.fixture
def admin_client():
    client = Client()
    admin = UserFactory(is_staff=True, is_superuser=True)
    enroll_totp(admin)
    mfa_login(client, admin)
    return client


def test_an_administrator_adds_a_standard_reply_in_the_admin(admin_client, roads):
    response = admin_client.post("/admin/services/standardreply/add/", {
        "department": roads.pk, "title_en": "Scheduled", "title_zh_hans": "已安排",
        "body_en": "We scheduled the repair.", "body_zh_hans": "我们已安排维修。",
        "order": "10", "is_active": "on",
    })
    assert response.status_code == 302
    assert StandardReply.objects.get(title_en="Scheduled").body_zh_hans == "我们已安排维修。"


def test_a_standard_reply_without_its_english_text_is_refused_in_the_admin(admin_client, roads):
    response = admin_client.post("/admin/services/standardreply/add/", {
        "department": roads.pk, "title_en": "Scheduled", "body_en": "", "order": "10",
    })
    assert response.status_code == 200
    assert not StandardReply.objects.exists()


# --- Bulk actions --------------------------------------------------------------------------


def bulk(client: Client, items: list, **fields) -> object:
    return client.post(reverse("portal:queue-bulk"), {"items": items, **fields})


def item(sr: ServiceRequest) -> str:
    return f"{sr.reference}@{sr.version}"


def test_a_clerk_bulk_starts_three_items(clerk_roads, pothole):
    rows = [routed(pothole) for _ in range(3)]
    client = browser(clerk_roads)
    response = bulk(client, [item(r) for r in rows], action="start")
    assert response.status_code == 302
    assert {r.status for r in ServiceRequest.objects.filter(pk__in=[r.pk for r in rows])} == {
        Status.IN_PROGRESS
    }
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="bulk-result" data-done="3" data-skipped="0"' in page
    assert "3 done" in page


def test_bulk_skips_an_item_someone_changed_and_does_the_rest(clerk_roads, pothole):
    rows = [routed(pothole) for _ in range(4)]
    items = [item(r) for r in rows]
    ServiceRequest.objects.filter(pk=rows[0].pk).update(version=rows[0].version + 1)
    client = browser(clerk_roads)
    response = bulk(client, items, action="start")
    page = client.get(response["Location"]).content.decode()
    assert "3 done, 1 skipped: changed by someone else" in page
    rows[0].refresh_from_db()
    assert rows[0].status == Status.ROUTED
    assert ServiceRequest.objects.filter(status=Status.IN_PROGRESS).count() == 3


def test_bulk_never_touches_an_item_of_another_department(clerk_parks, pothole):
    sr = routed(pothole)
    client = browser(clerk_parks)
    response = bulk(client, [item(sr)], action="start")
    page = client.get(response["Location"]).content.decode()
    assert f'data-skipped-ref="{sr.reference}" data-reason="not_found"' in page
    sr.refresh_from_db()
    assert sr.status == Status.ROUTED


def test_bulk_skips_an_item_whose_status_does_not_allow_the_action(clerk_roads, pothole):
    sr = in_progress(pothole)
    client = browser(clerk_roads)
    response = bulk(client, [item(sr)], action="start")
    page = client.get(response["Location"]).content.decode()
    assert f'data-skipped-ref="{sr.reference}" data-reason="not_possible"' in page


def test_bulk_resolve_records_the_outcome_and_the_reply(clerk_roads, pothole):
    rows = [routed(pothole), in_progress(pothole)]
    bulk(browser(clerk_roads), [item(r) for r in rows], action="resolve", outcome="fixed",
         text="Repaired this week.")
    for row in rows:
        row.refresh_from_db()
        assert (row.status, row.outcome) == (Status.RESOLVED, "fixed")


def test_bulk_resolve_without_an_outcome_is_a_field_error_and_changes_nothing(
    clerk_roads, pothole
):
    sr = routed(pothole)
    response = bulk(browser(clerk_roads), [item(sr)], action="resolve", text="Done.")
    assert response.status_code == 400
    assert 'id="id_outcome_errors"' in response.content.decode()
    sr.refresh_from_db()
    assert sr.status == Status.ROUTED


@pytest.mark.parametrize("items", [["nonsense"], ["CD-ZZZ@x"], ["CD-1234567@" + "9" * 30], []])
def test_bulk_with_bad_items_answers_without_a_server_error(clerk_roads, items):
    response = bulk(browser(clerk_roads), items, action="start")
    assert response.status_code in (302, 400)


def test_bulk_with_an_unknown_action_is_a_field_error(clerk_roads, pothole):
    sr = routed(pothole)
    response = bulk(browser(clerk_roads), [item(sr)], action="delete")
    assert response.status_code == 400
    sr.refresh_from_db()
    assert sr.status == Status.ROUTED


def test_a_clerk_bulk_assigns_items_to_themselves(clerk_roads, pothole):
    rows = [routed(pothole) for _ in range(2)]
    bulk(browser(clerk_roads), [item(r) for r in rows], action="assign", assignee="me")
    assert set(
        ServiceRequest.objects.filter(pk__in=[r.pk for r in rows]).values_list(
            "assignee_id", flat=True)
    ) == {clerk_roads.pk}


def test_a_supervisor_bulk_assigns_items_to_a_clerk_of_the_department(
    supervisor_roads, clerk_roads, pothole
):
    rows = [routed(pothole) for _ in range(2)]
    bulk(browser(supervisor_roads), [item(r) for r in rows], action="assign",
         assignee=str(clerk_roads.pk))
    assert set(
        ServiceRequest.objects.filter(pk__in=[r.pk for r in rows]).values_list(
            "assignee_id", flat=True)
    ) == {clerk_roads.pk}


def test_a_clerk_cannot_bulk_assign_to_a_colleague(clerk_roads, roads, pothole):
    colleague = MembershipFactory(department=roads).user
    sr = routed(pothole)
    response = bulk(browser(clerk_roads), [item(sr)], action="assign",
                    assignee=str(colleague.pk))
    assert response.status_code == 400
    sr.refresh_from_db()
    assert sr.assignee_id is None


def test_the_queue_lets_the_clerk_select_items_for_bulk_actions(clerk_roads, pothole):
    sr = routed(pothole)
    page = browser(clerk_roads).get(reverse("portal:queue")).content.decode()
    assert (f'<input type="checkbox" form="bulk-form" name="items" value="{item(sr)}"'
            in page)


# --- Saved filters -------------------------------------------------------------------------


def save_filter(client: Client, name: str, query: str = "") -> object:
    return client.post(reverse("portal:queue-filter-save"), {"name": name, "query": query})


def test_a_clerk_saves_the_current_filter_and_sees_it_listed(clerk_roads, pothole):
    client = browser(clerk_roads)
    response = save_filter(client, "Urgent potholes", f"category={pothole.code}&priority=4")
    assert response.status_code == 302
    saved = SavedQueueFilter.objects.get(user=clerk_roads)
    assert saved.filters == {"category": pothole.code, "priority": "4"}
    page = client.get(reverse("portal:queue")).content.decode()
    assert f'<a href="?saved={saved.pk}"' in page
    assert "Urgent potholes" in page


def test_a_saved_filter_keeps_the_search_text_out_of_the_url(clerk_roads, pothole):
    wanted = routed(pothole, description="Broken kerb by the market hall.")
    routed(pothole, description="Something else entirely.")
    client = browser(clerk_roads)
    filtered = client.post(reverse("portal:queue"), {"q": "kerb"})
    query = filtered["Location"].split("?", 1)[1]
    response = save_filter(client, "Kerbs", query)
    assert "kerb" not in response["Location"]
    page = client.get(response["Location"]).content.decode()
    assert re.findall(r'<tr data-ref="([^"]+)"', page) == [wanted.reference]


def test_another_clerk_cannot_use_a_saved_filter(clerk_roads, roads):
    saved = SavedQueueFilter.objects.create(user=clerk_roads, name="Mine", filters={})
    colleague = MembershipFactory(department=roads).user
    client = browser(colleague)
    assert client.get(reverse("portal:queue"), {"saved": saved.pk}).status_code == 404
    assert "Mine" not in client.get(reverse("portal:queue")).content.decode()


def test_another_clerk_cannot_delete_a_saved_filter(clerk_roads, roads):
    saved = SavedQueueFilter.objects.create(user=clerk_roads, name="Mine", filters={})
    colleague = MembershipFactory(department=roads).user
    response = browser(colleague).post(reverse("portal:queue-filter-delete", args=[saved.pk]))
    assert response.status_code == 404
    assert SavedQueueFilter.objects.filter(pk=saved.pk).exists()


def test_a_clerk_deletes_their_saved_filter(clerk_roads):
    saved = SavedQueueFilter.objects.create(user=clerk_roads, name="Mine", filters={})
    response = browser(clerk_roads).post(reverse("portal:queue-filter-delete", args=[saved.pk]))
    assert response.status_code == 302
    assert not SavedQueueFilter.objects.filter(pk=saved.pk).exists()


def test_saving_a_filter_without_a_name_is_a_field_error(clerk_roads):
    response = save_filter(browser(clerk_roads), "")
    assert response.status_code == 400
    assert 'id="id_name_errors"' in response.content.decode()
    assert not SavedQueueFilter.objects.exists()


def test_saving_under_an_existing_name_replaces_that_filter(clerk_roads):
    client = browser(clerk_roads)
    save_filter(client, "Mine", "priority=4")
    save_filter(client, "Mine", "priority=2")
    assert list(SavedQueueFilter.objects.values_list("filters", flat=True)) == [
        {"priority": "2"}
    ]


# --- Queue map -----------------------------------------------------------------------------

TILES = "https://tiles.example.city/{z}/{x}/{y}.png"


def test_the_queue_shows_its_items_on_a_map_when_tiles_are_configured(
    settings, clerk_roads, pothole
):
    settings.CIVICDESK = {**settings.CIVICDESK, "MAP_TILE_URL": TILES}
    sr = routed(pothole, lat=39.05, lon=116.05)
    page = browser(clerk_roads).get(reverse("portal:queue")).content.decode()
    assert 'data-testid="queue-map"' in page
    assert f'href="{reverse("portal:workbench", args=[sr.reference])}" data-map-report' in page


def test_the_queue_has_no_map_without_a_tile_server(settings, clerk_roads, pothole):
    settings.CIVICDESK = {**settings.CIVICDESK, "MAP_TILE_URL": ""}
    routed(pothole, lat=39.05, lon=116.05)
    page = browser(clerk_roads).get(reverse("portal:queue")).content.decode()
    assert "data-map" not in page
    assert "map.js" not in page


def test_the_queue_map_leaves_out_a_private_address(settings, clerk_roads, pothole):
    settings.CIVICDESK = {**settings.CIVICDESK, "MAP_TILE_URL": TILES}
    routed(pothole, lat=39.05, lon=116.05)
    private = routed(pothole, lat=39.06, lon=116.06, is_private_address=True)
    page = browser(clerk_roads).get(reverse("portal:queue")).content.decode()
    assert f'{reverse("portal:workbench", args=[private.reference])}" data-map-report' not in page


# --- Cost ------------------------------------------------------------------------------------


def test_the_queue_page_costs_the_same_queries_for_more_items(
    settings, clerk_roads, pothole, roads
):
    settings.CIVICDESK = {**settings.CIVICDESK, "MAP_TILE_URL": TILES}
    reply(roads)
    client = browser(clerk_roads)
    SavedQueueFilter.objects.create(user=clerk_roads, name="Mine", filters={})

    def cost() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("portal:queue")).status_code == 200
        return len(queries)

    for _ in range(3):
        routed(pothole)
    client.get(reverse("portal:queue"))  # the session's current queue is stored once
    few = cost()
    for _ in range(12):
        routed(pothole)
    assert cost() == few


@pytest.mark.parametrize("fields", [
    {"step": "nonsense"},
    {"step": "start", "version": "abc"},
    {"step": "resolve", "outcome": "made-up", "text": "Done."},
    {},
])
def test_bad_next_step_input_is_a_form_error_not_a_server_error(clerk_roads, pothole, fields):
    sr = routed(pothole)
    response = step(browser(clerk_roads), sr, **fields)
    assert response.status_code == 400
    sr.refresh_from_db()
    assert sr.status == Status.ROUTED


def test_a_double_sent_reply_is_recorded_once(clerk_roads, pothole):
    sr = routed(pothole)
    client = browser(clerk_roads)
    page = page_of(client, sr)
    form = page[page.index("data-reply-form"):]
    token = re.search(r'name="form_token" value="([^"]+)"', form).group(1)
    for _ in range(2):
        client.post(reverse("portal:wb-reply", args=[sr.reference]),
                    {"form_token": token, "reply-text": "On our list."})
    assert Event.objects.filter(request=sr, type=Event.Type.PUBLIC_REPLY).count() == 1


def test_bulk_assign_skips_an_item_someone_changed(clerk_roads, pothole):
    sr = routed(pothole)
    stale = item(sr)
    ServiceRequest.objects.filter(pk=sr.pk).update(version=sr.version + 1)
    client = browser(clerk_roads)
    response = bulk(client, [stale], action="assign", assignee="me")
    page = client.get(response["Location"]).content.decode()
    assert f'data-skipped-ref="{sr.reference}" data-reason="changed"' in page
    sr.refresh_from_db()
    assert sr.assignee_id is None
