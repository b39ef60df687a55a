"""The portal's pages: who may open which, forms that keep what was typed, once-only submits."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from services import services as request_services
from services.models import Category, Event, ServiceRequest, Status
from services.routing import request_route
from tests.factories import CategoryFactory, DistrictFactory, ServiceRequestFactory
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        mfa_login(client, user)
    return client


@pytest.fixture
def pothole(roads):
    return CategoryFactory(
        code="pothole",
        name_en="Pothole",
        department=roads,
        attributes=[
            {
                "code": "size",
                "datatype": "singlevaluelist",
                "required": True,
                "description": "How big is it?",
                "values": [{"key": "small", "name": "Small"}, {"key": "large", "name": "Large"}],
            }
        ],
    )


@pytest.fixture
def filed(resident, pothole, triage, django_capture_on_commit_callbacks):
    """A pothole report, routed to Roads by the real (eager) routing task."""
    # Routed by the routing service itself (not through Celery): with REDIS_URL set the task
    # would go to a broker with no worker in this test.
    with django_capture_on_commit_callbacks(execute=False):
        sr = request_services.request_submit(
            reporter=resident,
            category=pothole,
            description="A deep hole on Main Street.",
            address="Main Street 1",
            attribute_values={"size": "large"},
        )
    request_route(request_id=sr.pk)
    sr.refresh_from_db()
    assert sr.department == pothole.department
    return sr


# --- Role matrix: every page checks the role on the server --------------------------------

PAGES = {
    "home": ("portal:home", ()),
    "statistics": ("portal:statistics", ()),
    "report": ("portal:request-new", ()),
    "my-requests": ("portal:my-requests", ()),
    "queue": ("portal:queue", ()),
    "team": ("portal:team", ()),
    "register": ("portal:register", ()),
    "my-data": ("portal:my-data", ()),
    "dpo": ("portal:dpo", ()),
}

# role → page → expected status (302 = sent to the login page)
MATRIX = {
    "anonymous": {"home": 200, "statistics": 200, "report": 302, "my-requests": 302,
                  "queue": 302, "team": 302, "register": 200, "my-data": 302, "dpo": 302},
    "resident": {"home": 200, "statistics": 200, "report": 200, "my-requests": 200,
                 "queue": 403, "team": 403, "register": 200, "my-data": 200, "dpo": 403},
    "clerk_roads": {"home": 200, "statistics": 200, "report": 200, "my-requests": 200,
                    "queue": 200, "team": 403, "register": 200, "my-data": 200, "dpo": 403},
    "supervisor_roads": {"home": 200, "statistics": 200, "report": 200, "my-requests": 200,
                         "queue": 200, "team": 200, "register": 200, "my-data": 200,
                         "dpo": 403},
    "data_officer": {"home": 200, "statistics": 200, "report": 200, "my-requests": 200,
                     "queue": 403, "team": 403, "register": 200, "my-data": 200, "dpo": 200},
}


@pytest.mark.parametrize(
    ("role", "page"), [(r, p) for r, pages in MATRIX.items() for p in pages]
)
def test_each_page_answers_each_role_as_the_matrix_says(request, role, page):
    user = None if role == "anonymous" else request.getfixturevalue(role)
    name, args = PAGES[page]
    response = browser(user).get(reverse(name, args=args))
    assert response.status_code == MATRIX[role][page]
    if response.status_code == 302:
        assert response["Location"].startswith(reverse("account_login"))


def test_navigation_shows_only_links_the_viewer_may_follow(resident, clerk_roads):
    resident_page = browser(resident).get("/").content.decode()
    assert reverse("portal:my-requests") in resident_page
    assert reverse("portal:queue") not in resident_page
    clerk_page = browser(clerk_roads).get("/").content.decode()
    assert reverse("portal:queue") in clerk_page
    assert reverse("portal:team") not in clerk_page


def test_unverified_account_is_not_a_resident_and_cannot_file(db):
    from tests.factories import UserFactory

    unverified = UserFactory(verified=False)
    assert browser(unverified).get(reverse("portal:request-new")).status_code == 403


def test_pages_declare_their_language_and_switch_to_chinese(resident):
    client = browser(resident)
    assert '<html lang="en">' in client.get("/").content.decode()
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    page = client.get("/").content.decode()
    assert '<html lang="zh-hans">' in page
    assert "市民服务中心" in page


def test_pages_use_no_inline_script_or_style(resident, filed):
    page = browser(resident).get(reverse("portal:request-new")).content.decode()
    assert "<script>" not in page
    assert " style=" not in page
    assert "<style" not in page
    assert re.search(r'<script src="/static/portal/js/portal.js" defer>', page)


# --- Filing a request ----------------------------------------------------------------------


def _form_token(page: str) -> str:
    match = re.search(r'name="form_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_resident_files_a_request_and_lands_on_its_page(resident, pothole):
    client = browser(resident)
    token = _form_token(client.get(reverse("portal:request-new")).content.decode())
    response = client.post(
        reverse("portal:request-new"),
        {
            "form_token": token,
            "category": "pothole",
            "description": "Deep hole by the school gate.",
            "address": "School Road 3",
            "attr__pothole__size": "small",
        },
    )
    sr = ServiceRequest.objects.get(reporter=resident)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:request-detail", args=[sr.reference])
    assert sr.attribute_values == {"size": "small"}
    detail = client.get(response["Location"]).content.decode()
    assert sr.reference in detail
    assert "Deep hole by the school gate." in detail


def test_a_double_submitted_form_files_one_request(resident, pothole):
    client = browser(resident)
    token = _form_token(client.get(reverse("portal:request-new")).content.decode())
    data = {"form_token": token, "category": "pothole", "description": "Hole.",
            "address": "Elm 1", "attr__pothole__size": "small"}
    first = client.post(reverse("portal:request-new"), data)
    second = client.post(reverse("portal:request-new"), data)
    assert ServiceRequest.objects.filter(reporter=resident).count() == 1
    assert first["Location"] == second["Location"]



def test_a_complaint_in_the_form_cannot_point_at_another_residents_request(
    resident, other_resident, filed, roads
):
    CategoryFactory(code="conduct", kind=Category.Kind.COMPLAINT, department=roads)
    other = ServiceRequestFactory(reporter=other_resident, category=filed.category)
    response = browser(resident).post(
        reverse("portal:request-new"),
        {"category": "conduct", "description": "Rude clerk.", "address": "Town hall",
         "related_request": other.reference},
    )
    assert response.status_code == 400
    assert 'id="id_related_request_errors"' in response.content.decode()
    assert not ServiceRequest.objects.filter(reporter=resident, kind="complaint").exists()

def test_invalid_request_form_shows_field_errors_and_keeps_what_was_typed(resident, pothole):
    client = browser(resident)
    response = client.post(
        reverse("portal:request-new"),
        {"category": "pothole", "description": "My typed description", "address": ""},
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "My typed description" in page
    assert 'aria-invalid="true"' in page
    assert "Give a location" in page or "This field is required" in page
    assert not ServiceRequest.objects.exists()


def test_missing_required_attribute_is_shown_on_that_field(resident, pothole):
    response = browser(resident).post(
        reverse("portal:request-new"),
        {"category": "pothole", "description": "Hole", "address": "Elm 2"},
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_attr__pothole__size_errors"' in page
    assert not ServiceRequest.objects.exists()


def test_district_alone_is_enough_as_a_location(resident, roads):
    district = DistrictFactory(code="north", name_en="North")
    category = CategoryFactory(code="streetlight", department=roads)
    browser(resident).post(
        reverse("portal:request-new"),
        {"category": category.code, "description": "Dark lamp", "district": "north"},
    )
    sr = ServiceRequest.objects.get()
    assert sr.district == district


def test_inactive_category_cannot_be_chosen(resident, roads):
    CategoryFactory(code="gone", department=roads, is_active=False)
    response = browser(resident).post(
        reverse("portal:request-new"), {"category": "gone", "description": "x", "address": "y"}
    )
    assert response.status_code == 400
    assert not ServiceRequest.objects.exists()


# --- The resident's request page -----------------------------------------------------------


def test_other_resident_gets_404_for_a_request_page(other_resident, filed):
    response = browser(other_resident).get(reverse("portal:request-detail", args=[filed.reference]))
    assert response.status_code == 404


def test_resident_comments_on_their_request(resident, filed):
    client = browser(resident)
    url = reverse("portal:request-comment", args=[filed.reference])
    response = client.post(url, {"text": "It got bigger after the rain."})
    assert response.status_code == 302
    assert filed.events.filter(type=Event.Type.COMMENT_BY_RESIDENT).count() == 1


def test_empty_comment_is_refused_with_a_field_error(resident, filed):
    response = browser(resident).post(
        reverse("portal:request-comment", args=[filed.reference]), {"text": "  "}
    )
    assert response.status_code == 400
    assert not filed.events.filter(type=Event.Type.COMMENT_BY_RESIDENT).exists()


def test_withdraw_button_appears_only_while_allowed_and_works(resident, filed):
    client = browser(resident)
    page = client.get(reverse("portal:request-detail", args=[filed.reference])).content.decode()
    assert reverse("portal:request-withdraw", args=[filed.reference]) in page
    client.post(reverse("portal:request-withdraw", args=[filed.reference]))
    filed.refresh_from_db()
    assert filed.status == Status.WITHDRAWN
    page = client.get(reverse("portal:request-detail", args=[filed.reference])).content.decode()
    assert reverse("portal:request-withdraw", args=[filed.reference]) not in page


def test_resident_page_never_shows_internal_notes(resident, clerk_roads, filed):
    filed.refresh_from_db()
    request_services.request_note(request=filed, actor=clerk_roads, text="Caller sounded upset")
    page = browser(resident).get(
        reverse("portal:request-detail", args=[filed.reference])
    ).content.decode()
    assert "Caller sounded upset" not in page


def test_versions_endpoint_lists_only_my_requests(resident, other_resident, filed, pothole):
    ServiceRequestFactory(reporter=other_resident, category=pothole)
    body = browser(resident).get(reverse("portal:my-request-versions")).json()
    assert list(body["requests"]) == [filed.reference]


# --- Staff ---------------------------------------------------------------------------------


def test_clerk_of_another_department_gets_404_for_the_workbench(clerk_parks, filed):
    response = browser(clerk_parks).get(reverse("portal:workbench", args=[filed.reference]))
    assert response.status_code == 404


def test_workbench_offers_only_the_allowed_moves(clerk_roads, filed):
    page = browser(clerk_roads).get(
        reverse("portal:workbench", args=[filed.reference])
    ).content.decode()
    moves = set(re.findall(r'data-move="([a-z_]+)"', page))
    assert moves == {"start", "resolve", "reject", "return", "duplicate"}


def test_clerk_starts_and_resolves_from_the_workbench(clerk_roads, filed):
    client = browser(clerk_roads)
    url = reverse("portal:wb-transition", args=[filed.reference])
    client.post(url, {"to_status": "in_progress"})
    response = client.post(
        url, {"to_status": "resolved", "text": "Filled the hole.", "outcome": "fixed"}
    )
    filed.refresh_from_db()
    assert response.status_code == 302
    assert filed.status == Status.RESOLVED
    assert filed.outcome == "fixed"


def test_resolving_without_a_reply_shows_the_error_and_changes_nothing(clerk_roads, filed):
    ServiceRequest.objects.filter(pk=filed.pk).update(status=Status.IN_PROGRESS)
    response = browser(clerk_roads).post(
        reverse("portal:wb-transition", args=[filed.reference]),
        {"to_status": "resolved", "text": "", "outcome": "fixed"},
    )
    filed.refresh_from_db()
    assert response.status_code == 400
    assert filed.status == Status.IN_PROGRESS


def test_a_move_not_in_the_table_is_refused_with_a_message(clerk_roads, filed):
    response = browser(clerk_roads).post(
        reverse("portal:wb-transition", args=[filed.reference]), {"to_status": "closed"},
        follow=True,
    )
    filed.refresh_from_db()
    assert filed.status == Status.ROUTED
    assert "cannot become" in response.content.decode()


def test_clerk_reply_reaches_the_residents_timeline(resident, clerk_roads, filed):
    browser(clerk_roads).post(
        reverse("portal:wb-reply", args=[filed.reference]), {"reply-text": "On our list."}
    )
    page = browser(resident).get(
        reverse("portal:request-detail", args=[filed.reference])
    ).content.decode()
    assert "On our list." in page


def test_queue_shows_only_the_clerks_departments(clerk_roads, roads, parks):
    mine = ServiceRequestFactory(category=CategoryFactory(department=roads))
    theirs = ServiceRequestFactory(category=CategoryFactory(department=parks))
    page = browser(clerk_roads).get(reverse("portal:queue")).content.decode()
    assert mine.reference in page
    assert theirs.reference not in page


def test_queue_page_renders_with_the_same_number_of_queries_for_10_and_50_items(
    clerk_roads, roads
):
    category = CategoryFactory(department=roads)
    client = browser(clerk_roads)
    ServiceRequestFactory.create_batch(10, category=category)
    client.get(reverse("portal:queue"))  # warm caches (session, content types)
    with CaptureQueriesContext(connection) as ten:
        assert client.get(reverse("portal:queue")).status_code == 200
    ServiceRequestFactory.create_batch(40, category=category)
    with CaptureQueriesContext(connection) as fifty:
        page = client.get(reverse("portal:queue")).content.decode()
    assert page.count("data-ref=") == 50
    assert len(fifty) == len(ten)


def test_supervisor_team_page_shows_workload_and_overdue(supervisor_roads, roads):
    from datetime import timedelta

    from django.utils import timezone

    late = ServiceRequestFactory(
        category=CategoryFactory(department=roads),
        due_at=timezone.now() - timedelta(hours=1),
        status=Status.IN_PROGRESS,
    )
    page = browser(supervisor_roads).get(reverse("portal:team")).content.decode()
    assert late.reference in page


# --- Public statistics -----------------------------------------------------------------------


def test_statistics_suppress_groups_under_five(roads):
    small = CategoryFactory(code="small", name_en="Rare thing", department=roads)
    big = CategoryFactory(code="big", name_en="Common thing", department=roads)
    ServiceRequestFactory.create_batch(3, category=small)
    ServiceRequestFactory.create_batch(7, category=big)
    # A third group: the rare one's hidden 3 cannot be worked out as "all requests − 7".
    ServiceRequestFactory.create_batch(6, category=CategoryFactory(department=roads))
    page = browser().get(reverse("portal:statistics")).content.decode()
    rare = page[page.index("Rare thing"):][:400]
    assert "fewer than 5" in rare
    assert re.search(r"Common thing</th>\s*<td class=\"num\">7</td>", page)


def test_statistics_page_draws_svg_charts_without_script(roads):
    ServiceRequestFactory.create_batch(6, category=CategoryFactory(department=roads))
    page = browser().get(reverse("portal:statistics")).content.decode()
    assert page.count('<svg class="chart" role="img"') == 4
    assert Category.objects.exists()


def test_resident_confirms_a_resolution_and_then_rates_it(resident, clerk_roads, filed):
    url = reverse("portal:wb-transition", args=[filed.reference])
    staff = browser(clerk_roads)
    staff.post(url, {"to_status": "in_progress"})
    staff.post(url, {"to_status": "resolved", "text": "Done.", "outcome": "fixed"})
    client = browser(resident)
    page = client.get(reverse("portal:request-detail", args=[filed.reference])).content.decode()
    assert reverse("portal:request-confirm", args=[filed.reference]) in page
    assert reverse("portal:request-reopen", args=[filed.reference]) in page
    client.post(reverse("portal:request-confirm", args=[filed.reference]))
    filed.refresh_from_db()
    assert filed.status == Status.CLOSED
    client.post(reverse("portal:request-rate", args=[filed.reference]), {"rating": "4"})
    filed.refresh_from_db()
    assert filed.rating == 4


def test_resident_reopens_a_resolution_with_a_reason(resident, clerk_roads, filed):
    url = reverse("portal:wb-transition", args=[filed.reference])
    staff = browser(clerk_roads)
    staff.post(url, {"to_status": "in_progress"})
    staff.post(url, {"to_status": "resolved", "text": "Done.", "outcome": "fixed"})
    browser(resident).post(
        reverse("portal:request-reopen", args=[filed.reference]), {"text": "Still a hole."}
    )
    filed.refresh_from_db()
    assert filed.status == Status.REOPENED


def test_a_neighbour_follows_an_open_request_and_can_read_its_page(other_resident, filed):
    client = browser(other_resident)
    response = client.post(reverse("portal:request-follow", args=[filed.reference]))
    assert response.status_code == 302
    assert filed.followers.filter(user=other_resident).exists()
    page = client.get(response["Location"]).content.decode()
    assert filed.reference in page
    assert reverse("portal:request-withdraw", args=[filed.reference]) not in page


def test_a_request_at_a_private_address_cannot_be_followed(other_resident, filed):
    ServiceRequest.objects.filter(pk=filed.pk).update(is_private_address=True)
    response = browser(other_resident).post(
        reverse("portal:request-follow", args=[filed.reference])
    )
    assert response.status_code == 404
    assert not filed.followers.exists()
