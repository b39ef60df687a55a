"""FixMyStreet as our Open311 client: its requests replayed as its perllib/Open311.pm sends
them (parameter names, attribute[...] encoding, update polling, posted updates), and the
extended statuses it reads back, checked through its own state map."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - parses only our own responses
from datetime import timedelta
from io import StringIO
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.utils import timezone

from services import services as svc
from services.models import Category, Event, Outcome, ServiceRequest, Status
from services.open311.models import ApiKey, Open311UpdateReceipt
from services.open311.services import api_key_issue
from tests.factories import CategoryFactory, ServiceRequestFactory
from tests.open311.conftest import parse

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _eager_tasks():
    from portal.celery import app

    old = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = old


def fms_state(status: str, extended_statuses: bool = True) -> str:
    """FixMyStreet's Open311->map_state: what a report becomes when it reads `status`."""
    incoming = status.lower().replace("_", " ")
    state_map = {
        "fixed": "fixed - council",
        "not councils responsibility": "not responsible",
        "no further action": "unable to fix",
        "open": "confirmed",
        "closed": "closed" if extended_statuses else "fixed - council",
    }
    return state_map.get(incoming, incoming)


def form_post(api, path: str, params: dict):
    """A POST as FixMyStreet's LWP sends it: application/x-www-form-urlencoded."""
    return api.generic(
        "POST", path, urlencode(params), content_type="application/x-www-form-urlencoded"
    )


def fms_report_params(client_app, **extra) -> dict:
    """_populate_service_request_params for a UK cobrand (extended description, attributes)."""
    return {
        "api_key": client_app.raw,
        "jurisdiction_id": "civicdesk.city",
        "service_code": "pothole",
        "description": "title: Deep pothole\n\ndetail: By the bus stop, 30 cm deep\n\n"
        "url: https://fixmystreet.example/report/4821\n\nSubmitted via FixMyStreet\n",
        "first_name": "Li",
        "last_name": "Wei",
        "email": "li@example.org",
        "lat": "39.051200",
        "long": "116.056800",
        "attribute[fixmystreet_id]": "4821",
        "attribute[title]": "Deep pothole",
        "attribute[report_url]": "https://fixmystreet.example/report/4821",
        "attribute[uprn]": "100023336956",
        "attribute[easting]": "530375",
        "attribute[northing]": "179645",
        **extra,
    }


def fms_files(api, client_app, django_capture_on_commit_callbacks, **extra) -> ServiceRequest:
    """FixMyStreet's send_service_request: POST requests.xml, read request[0]/service_request_id."""
    with django_capture_on_commit_callbacks(execute=True):
        response = form_post(
            api, "/open311/v2/requests.xml", fms_report_params(client_app, **extra)
        )
    assert response.status_code == 200, response.content
    root = ET.fromstring(response.content)  # noqa: S314 - our own output
    reference = root.find("request/service_request_id").text
    return ServiceRequest.objects.get(reference=reference)


def fms_polls(api, client_app, **window) -> list[dict]:
    """get_service_request_updates: GET servicerequestupdates.xml with api_key and the window."""
    now = timezone.now()
    params = {
        "api_key": client_app.raw,
        "jurisdiction_id": "civicdesk.city",
        "start_date": window.get("start", now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_date": window.get("end", now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    response = api.get("/open311/v2/servicerequestupdates.xml", params)
    assert response.status_code == 200, response.content
    root, data = parse(response)
    assert root == "service_request_updates"
    return data


def statuses_for(updates: list[dict], request: ServiceRequest) -> list[str]:
    return [u["status"] for u in updates if u["service_request_id"] == request.reference]


def test_a_fixmystreet_report_with_attributes_the_service_does_not_define_is_filed(
    api, client_app, pothole, triage, django_capture_on_commit_callbacks
):
    request = fms_files(api, client_app, django_capture_on_commit_callbacks)
    assert request.status == Status.ROUTED
    assert request.attribute_values["uprn"] == "100023336956"
    assert request.attribute_values["fixmystreet_id"] == "4821"
    assert request.description.startswith("title: Deep pothole")


def test_a_fixmystreet_report_still_has_the_service_required_attributes_checked(
    api, client_app, streetlight
):
    params = fms_report_params(client_app, service_code="streetlight")
    response = form_post(api, "/open311/v2/requests.xml", params)
    assert response.status_code == 400
    _, errors = parse(response)
    assert errors == [{"code": "400", "description": "attribute[pole]: This field is required."}]
    assert not ServiceRequest.objects.exists()


def test_extra_attributes_are_shown_to_staff_and_never_in_a_public_get(
    api, client_app, pothole, roads, triage, clerk_roads, client_for,
    django_capture_on_commit_callbacks,
):
    request = fms_files(api, client_app, django_capture_on_commit_callbacks)
    page = client_for(clerk_roads).get(f"/api/v1/staff/requests/{request.reference}")
    assert page.json()["attribute_values"]["uprn"] == "100023336956"
    public = api.get(f"/open311/v2/requests/{request.reference}.json")
    assert "100023336956" not in public.content.decode()


def test_an_in_progress_request_reads_as_in_progress_in_fixmystreet(
    api, client_app, pothole, roads, triage, clerk_roads, django_capture_on_commit_callbacks
):
    request = fms_files(api, client_app, django_capture_on_commit_callbacks)
    svc.request_transition(request=request, actor=clerk_roads, to_status=Status.IN_PROGRESS)
    updates = fms_polls(api, client_app)
    assert statuses_for(updates, request) == ["open", "in_progress"]
    assert fms_state(updates[-1]["status"]) == "in progress"


@pytest.mark.parametrize(
    ("outcome", "status", "state"),
    [
        (Outcome.FIXED, "fixed", "fixed - council"),
        (Outcome.NOT_CITY_RESPONSIBILITY, "not_councils_responsibility", "not responsible"),
        (Outcome.NO_ACTION_NEEDED, "no_further_action", "unable to fix"),
        (Outcome.COULD_NOT_FIX, "no_further_action", "unable to fix"),
        (Outcome.DUPLICATE, "duplicate", "duplicate"),
    ],
)
def test_a_resolution_reads_as_its_outcome_in_fixmystreet(
    outcome, status, state,
    api, client_app, pothole, roads, triage, clerk_roads, django_capture_on_commit_callbacks,
):
    request = fms_files(api, client_app, django_capture_on_commit_callbacks)
    svc.request_transition(request=request, actor=clerk_roads, to_status=Status.IN_PROGRESS)
    svc.request_transition(request=request, actor=clerk_roads, to_status=Status.RESOLVED,
                           outcome=outcome, text="Done as follows.")
    last = [u for u in fms_polls(api, client_app)
            if u["service_request_id"] == request.reference][-1]
    assert (last["status"], last["external_status_code"]) == (status, "resolved")
    assert last["description"] == "Done as follows."
    assert fms_state(last["status"]) == state


def test_a_rejected_request_reads_as_not_the_councils_responsibility_not_fixed(
    api, client_app, pothole, roads, triage, clerk_roads, django_capture_on_commit_callbacks
):
    request = fms_files(api, client_app, django_capture_on_commit_callbacks)
    svc.request_transition(request=request, actor=clerk_roads, to_status=Status.REJECTED,
                           text="This is a private road, not ours.")
    last = fms_polls(api, client_app)[-1]
    assert (last["status"], last["external_status_code"]) == (
        "not_councils_responsibility", "rejected"
    )
    assert fms_state(last["status"]) == "not responsible"
    # The spec's own request list stays at open/closed.
    _, data = parse(api.get(f"/open311/v2/requests/{request.reference}.xml"))
    assert data[0]["status"] == "closed"


def test_a_duplicate_reads_as_duplicate(
    api, client_app, pothole, roads, triage, clerk_roads, django_capture_on_commit_callbacks
):
    original = fms_files(api, client_app, django_capture_on_commit_callbacks)
    copy = fms_files(api, client_app, django_capture_on_commit_callbacks)
    svc.request_mark_duplicate(request=copy, actor=clerk_roads, original=original)
    assert statuses_for(fms_polls(api, client_app), copy) == ["open", "duplicate"]


def test_a_fixed_request_stays_fixed_when_it_is_closed_and_reads_closed_without_an_outcome(
    api, client_app, pothole, roads, triage, clerk_roads, supervisor_roads,
    django_capture_on_commit_callbacks,
):
    request = fms_files(api, client_app, django_capture_on_commit_callbacks)
    svc.request_transition(request=request, actor=clerk_roads, to_status=Status.IN_PROGRESS)
    svc.request_transition(request=request, actor=clerk_roads, to_status=Status.RESOLVED,
                           outcome=Outcome.FIXED, text="Filled.")
    svc.request_transition(request=request, actor=supervisor_roads, to_status=Status.CLOSED)
    assert statuses_for(fms_polls(api, client_app), request) == [
        "open", "in_progress", "fixed", "fixed"
    ]


def test_a_reopened_request_reads_open_again_and_its_earlier_updates_keep_their_status(
    api, resident, roads, triage, clerk_roads, client_app, django_capture_on_commit_callbacks
):
    category = CategoryFactory(code="bench", department=roads)
    with django_capture_on_commit_callbacks(execute=True):
        request = svc.request_submit(reporter=resident, category=category,
                                     description="Broken bench", lat=39.05, lon=116.05)
    svc.request_transition(request=request, actor=clerk_roads, to_status=Status.IN_PROGRESS)
    svc.request_transition(request=request, actor=clerk_roads, to_status=Status.RESOLVED,
                           outcome=Outcome.FIXED, text="New slats.")
    svc.request_reopen(request=request, actor=resident, reason="Still broken")
    assert statuses_for(fms_polls(api, client_app), request) == [
        "open", "in_progress", "fixed", "open"
    ]


def test_a_withdrawn_request_reads_closed(
    api, resident, roads, triage, client_app, django_capture_on_commit_callbacks
):
    category = CategoryFactory(code="bench", department=roads)
    with django_capture_on_commit_callbacks(execute=True):
        request = svc.request_submit(reporter=resident, category=category,
                                     description="Broken bench", lat=39.05, lon=116.05)
    svc.request_withdraw(request=request, actor=resident)
    assert statuses_for(fms_polls(api, client_app), request) == ["open", "closed"]


# --- FixMyStreet posting its residents' updates -------------------------------------------


def fms_update_params(client_app, request, comment_id: int = 901, **extra) -> dict:
    """_populate_service_request_update_params (extended statuses off: OPEN/CLOSED)."""
    return {
        "api_key": client_app.raw,
        "jurisdiction_id": "civicdesk.city",
        "updated_datetime": "2026-12-03T10:15:00+08:00",
        "service_request_id": request.reference,
        "status": "OPEN",
        "description": "Still there this morning, and a cyclist fell.",
        "first_name": "Wang",
        "last_name": "Fang",
        "email": "wang@example.org",
        "update_id": str(comment_id),
        **extra,
    }


def test_a_fixmystreet_update_becomes_a_comment_the_clerk_sees(
    api, client_app, pothole, roads, triage, clerk_roads, client_for,
    django_capture_on_commit_callbacks,
):
    request = fms_files(api, client_app, django_capture_on_commit_callbacks)
    response = form_post(api, "/open311/v2/servicerequestupdates.xml",
                         fms_update_params(client_app, request))
    assert response.status_code == 200, response.content
    root = ET.fromstring(response.content)  # noqa: S314 - our own output
    update_id = root.find("request_update/update_id").text  # what FixMyStreet reads back
    event = Event.objects.get(pk=int(update_id))
    detail = client_for(clerk_roads).get(f"/api/v1/staff/requests/{request.reference}").json()
    comment = detail["events"][-1]
    assert comment["type"] == Event.Type.COMMENT_BY_RESIDENT
    assert comment["text"] == "Still there this morning, and a cyclist fell."
    assert comment["actor"]["role"] == "open311"
    assert event.request_id == request.pk
    assert "wang@example.org" not in str(event.data)  # the poster's contact is not kept


def test_posting_the_same_fixmystreet_update_twice_records_it_once(
    api, client_app, pothole, triage, django_capture_on_commit_callbacks
):
    request = fms_files(api, client_app, django_capture_on_commit_callbacks)
    first = form_post(api, "/open311/v2/servicerequestupdates.json",
                      fms_update_params(client_app, request))
    again = form_post(api, "/open311/v2/servicerequestupdates.json",
                      fms_update_params(client_app, request))
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert Event.objects.filter(request=request, type=Event.Type.COMMENT_BY_RESIDENT).count() == 1
    assert Open311UpdateReceipt.objects.count() == 1


def test_a_fixmystreet_update_is_not_echoed_back_in_the_update_feed(
    api, client_app, pothole, triage, django_capture_on_commit_callbacks
):
    request = fms_files(api, client_app, django_capture_on_commit_callbacks)
    form_post(api, "/open311/v2/servicerequestupdates.xml", fms_update_params(client_app, request))
    texts = [u["description"] for u in fms_polls(api, client_app)]
    assert "Still there this morning, and a cyclist fell." not in texts


def test_a_fixmystreet_update_does_not_move_the_workflow(
    api, client_app, pothole, triage, django_capture_on_commit_callbacks
):
    request = fms_files(api, client_app, django_capture_on_commit_callbacks)
    response = form_post(api, "/open311/v2/servicerequestupdates.xml",
                         fms_update_params(client_app, request, status="FIXED"))
    assert response.status_code == 200
    request.refresh_from_db()
    assert request.status == Status.ROUTED
    assert Event.objects.filter(request=request).last().data["client_status"] == "FIXED"


def test_posting_an_update_needs_a_valid_api_key(
    api, client_app, pothole, triage, django_capture_on_commit_callbacks
):
    request = fms_files(api, client_app, django_capture_on_commit_callbacks)
    params = fms_update_params(client_app, request)
    for key in ("", "o311_not-a-key"):
        response = form_post(api, "/open311/v2/servicerequestupdates.xml",
                             {**params, "api_key": key})
        assert response.status_code == 403
    assert not Event.objects.filter(type=Event.Type.COMMENT_BY_RESIDENT).exists()


def test_another_client_app_cannot_post_updates_to_a_request_it_did_not_file(
    api, client_app, pothole, triage, django_capture_on_commit_callbacks
):
    request = fms_files(api, client_app, django_capture_on_commit_callbacks)
    _other, other_raw = api_key_issue(name="Another app")
    response = form_post(api, "/open311/v2/servicerequestupdates.xml",
                         {**fms_update_params(client_app, request), "api_key": other_raw})
    assert response.status_code == 403
    assert not Event.objects.filter(type=Event.Type.COMMENT_BY_RESIDENT).exists()


def test_an_update_for_an_unknown_or_hidden_request_is_a_404(
    api, client_app, complaint_category, django_capture_on_commit_callbacks
):
    hidden = svc.request_submit(reporter=None, category=complaint_category,
                                description="Rude clerk", lat=39.05, lon=116.05)
    for reference in ("CD-NOTHERE", hidden.reference):
        params = fms_update_params(client_app, hidden, service_request_id=reference)
        response = form_post(api, "/open311/v2/servicerequestupdates.xml", params)
        assert response.status_code == 404


def test_an_update_id_reused_for_another_request_is_refused(
    api, client_app, pothole, triage, django_capture_on_commit_callbacks
):
    first = fms_files(api, client_app, django_capture_on_commit_callbacks)
    second = fms_files(api, client_app, django_capture_on_commit_callbacks)
    form_post(api, "/open311/v2/servicerequestupdates.xml", fms_update_params(client_app, first))
    response = form_post(api, "/open311/v2/servicerequestupdates.json",
                         fms_update_params(client_app, second))
    assert response.status_code == 400
    assert response.json()[0]["description"].startswith("update_id:")
    assert not Event.objects.filter(request=second, type=Event.Type.COMMENT_BY_RESIDENT).exists()


def test_an_update_without_text_or_photo_is_refused(
    api, client_app, pothole, triage, django_capture_on_commit_callbacks
):
    request = fms_files(api, client_app, django_capture_on_commit_callbacks)
    response = form_post(api, "/open311/v2/servicerequestupdates.json",
                         fms_update_params(client_app, request, description=""))
    assert response.status_code == 400
    assert response.json() == [
        {"code": 400, "description": "description: Send a description or a media_url."}
    ]


# --- Paging, changeset, CORS, discovery, updated_datetime, keys ----------------------------


def test_more_than_1000_requests_are_read_page_by_page(api, pothole):
    now = timezone.now()
    ServiceRequest.objects.bulk_create(
        ServiceRequestFactory.build(category=pothole, reporter=None, department=None,
                                    created_at=now - timedelta(seconds=i))
        for i in range(1001)
    )
    first = api.get("/open311/v2/requests.json")
    assert len(first.json()) == 1000
    assert 'rel="next"' in first["Link"]
    next_url = first["Link"].split(">")[0].lstrip("<")
    second = api.get(next_url)
    assert len(second.json()) == 1
    assert "Link" not in second
    seen = {r["service_request_id"] for r in first.json() + second.json()}
    assert len(seen) == 1001


def test_the_update_feed_pages_with_page_and_page_size(api, client_app, pothole):
    requests = [svc.request_submit(reporter=None, category=pothole, description=f"Hole {i}",
                                   lat=39.05, lon=116.05) for i in range(3)]
    for request in requests:
        svc.event_record(request=request, type=Event.Type.PUBLIC_REPLY, text="Booked.")
    first = api.get("/open311/v2/servicerequestupdates.json", {"page_size": 2})
    second = api.get("/open311/v2/servicerequestupdates.json", {"page_size": 2, "page": 2})
    assert len(first.json()) == 2
    assert 'page=2' in first["Link"]
    assert len(second.json()) == 1
    assert "Link" not in second
    ids = [u["update_id"] for u in first.json() + second.json()]
    assert len(set(ids)) == 3


def test_a_page_size_over_1000_is_refused(api):
    response = api.get("/open311/v2/requests.json", {"page_size": 1001})
    assert response.status_code == 400
    assert response.json()[0]["description"].startswith("page_size:")


def test_the_discovery_changeset_moves_when_a_service_is_edited(api, pothole):
    Category.objects.update(updated_at=timezone.now() - timedelta(days=400))
    before = api.get("/open311/discovery.json").json()["changeset"]
    pothole.name_en = "Pothole or sunken road"
    pothole.save()
    after = api.get("/open311/discovery.json").json()
    assert after["changeset"] > before
    assert after["endpoints"][0]["changeset"] == after["changeset"]


def test_discovery_is_also_under_v2(api, pothole):
    for fmt in ("json", "xml"):
        classic = api.get(f"/open311/discovery.{fmt}")
        under_v2 = api.get(f"/open311/v2/discovery.{fmt}")
        assert under_v2.status_code == 200
        assert parse(under_v2) == parse(classic)


def test_public_gets_allow_any_origin_and_posts_do_not(api, client_app, pothole):
    for path in ("/open311/discovery.json", "/open311/v2/services.xml",
                 "/open311/v2/requests.json", "/open311/v2/requests/CD-NOTHERE.json"):
        response = api.get(path, HTTP_ORIGIN="https://map.example")
        assert response["Access-Control-Allow-Origin"] == "*"
    posted = form_post(api, "/open311/v2/requests.json",
                       {"api_key": client_app.raw, "service_code": "pothole",
                        "lat": "39.05", "long": "116.05"})
    assert posted.status_code == 200
    assert "Access-Control-Allow-Origin" not in posted


def test_rating_a_closed_request_later_does_not_move_its_updated_datetime(
    api, resident, roads, triage, clerk_roads, supervisor_roads,
    django_capture_on_commit_callbacks,
):
    category = CategoryFactory(code="bench", department=roads)
    with django_capture_on_commit_callbacks(execute=True):
        request = svc.request_submit(reporter=resident, category=category,
                                     description="Broken bench", lat=39.05, lon=116.05)
    svc.request_transition(request=request, actor=clerk_roads, to_status=Status.IN_PROGRESS)
    svc.request_transition(request=request, actor=clerk_roads, to_status=Status.RESOLVED,
                           outcome=Outcome.FIXED, text="New slats.")
    svc.request_confirm(request=request, actor=resident)
    # Make any later write land on a later second, so a moving clock would show.
    Event.objects.filter(request=request).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    closed_at = api.get(f"/open311/v2/requests/{request.reference}.json").json()[0]
    svc.request_rate(request=request, actor=resident, rating=4, feedback="Quick")
    svc.request_note(request=request, actor=clerk_roads, text="Survey sent")
    later = api.get(f"/open311/v2/requests/{request.reference}.json").json()[0]
    assert later["updated_datetime"] == closed_at["updated_datetime"]
    assert later["status"] == "closed"


def test_open311_key_issue_prints_a_key_that_files_and_revoke_stops_it(api, pothole):
    out = StringIO()
    call_command("open311_key", "issue", "FixMyStreet Xiong'an", "--rate", "30", stdout=out)
    raw_key = next(line for line in out.getvalue().splitlines() if line.startswith("o311_"))
    api_key = ApiKey.objects.get()
    assert (api_key.name, api_key.rate_limit_per_minute) == ("FixMyStreet Xiong'an", 30)
    assert raw_key not in str(ApiKey.objects.values().get())  # only the hash is stored
    params = {"api_key": raw_key, "service_code": "pothole", "lat": "39.05", "long": "116.05"}
    assert form_post(api, "/open311/v2/requests.json", params).status_code == 200

    call_command("open311_key", "revoke", raw_key[:9], stdout=StringIO())
    assert form_post(api, "/open311/v2/requests.json", params).status_code == 403


def test_open311_key_revoke_of_an_unknown_key_fails_and_changes_nothing(client_app):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("open311_key", "revoke", "o311_nope", stdout=StringIO())
    client_app.refresh_from_db()
    assert client_app.is_active
