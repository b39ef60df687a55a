"""Data officer pages added for issue #8: consent rates over time, access-log filters, and
recording a data-subject request made at the counter."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from consent.demo import seed_register
from consent.models import ConsentEvent, Purpose
from consent.rights import services as rights_services
from consent.rights.models import AccessEvent, DataSubjectRequest
from consent.services import consent_decide, current_notice
from portal.views.consent_rates import Point, bucket_starts, line_chart
from services import services as request_services
from services.routing import request_route
from tests.factories import CategoryFactory, UserFactory
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db

SMS = "status-notifications-sms"


def browser(user=None) -> Client:
    client = Client()
    if user is not None:
        mfa_login(client, user)
    return client


def _decide(n: int, decision: str, purpose: str = SMS) -> None:
    notice = current_notice(Purpose.objects.get(code=purpose))
    for _i in range(n):
        consent_decide(
            subject=UserFactory(), purpose_code=purpose, decision=decision,
            notice_version=notice.version,
        )


# --- Consent rates over time ------------------------------------------------------------------


def test_consent_rate_chart_draws_a_point_per_notice_version_from_the_aggregates(data_officer):
    seed_register()
    _decide(4, "give")
    _decide(2, "refuse")
    page = browser(data_officer).get(reverse("portal:dpo-consent-rates")).content.decode()
    section = page[page.index(f'data-rate-chart="{SMS}"'):]
    section = section[: section.index("</section>")]
    assert re.search(r'<g class="series-1" data-version="\d+">', section)
    assert 'data-rate="67"' in section  # 4 of 6 decisions gave consent


def test_consent_rate_point_with_fewer_than_five_decisions_is_suppressed(data_officer):
    seed_register()
    _decide(3, "give")
    _decide(1, "refuse")
    page = browser(data_officer).get(reverse("portal:dpo-consent-rates")).content.decode()
    section = page[page.index(f'data-rate-chart="{SMS}"'):]
    section = section[: section.index("</section>")]
    assert "data-rate=" not in section
    assert "data-suppressed" in section
    assert ">3</td>" not in section


def test_consent_rate_filter_by_purpose_shows_only_that_purpose(data_officer):
    seed_register()
    client = browser(data_officer)
    page = client.get(reverse("portal:dpo-consent-rates"), {"purpose": SMS}).content.decode()
    assert page.count("data-rate-chart=") == 1


def test_consent_rate_filter_with_an_end_before_the_start_shows_a_field_error(data_officer):
    seed_register()
    response = browser(data_officer).get(
        reverse("portal:dpo-consent-rates"), {"since": "2026-05-01", "until": "2026-04-01"}
    )
    assert response.status_code == 200
    assert 'id="id_until_errors"' in response.content.decode()


def test_consent_rates_count_the_same_events_as_the_aggregates_api(data_officer, api):
    seed_register()
    _decide(5, "give")
    api.force_authenticate(data_officer)
    body = api.get(reverse("api:officer-consent-aggregates"), {"purpose": SMS}).json()
    given = sum(r["given"] for r in body["by_day"])
    page = browser(data_officer).get(
        reverse("portal:dpo-consent-rates"), {"purpose": SMS}
    ).content.decode()
    assert given == ConsentEvent.objects.filter(purpose__code=SMS).count() == 5
    assert f'<td class="num">{given}</td>' in page


def test_line_chart_breaks_the_line_where_a_week_is_suppressed():
    weeks = bucket_starts(date(2026, 1, 5), date(2026, 1, 25), "week")
    points = {
        weeks[0]: Point(weeks[0], given=5, refused=5),
        weeks[1]: Point(weeks[1], given=1, refused=1),
        weeks[2]: Point(weeks[2], given=9, refused=1),
    }
    chart = line_chart({1: points}, weeks)
    segments = chart["series"][0]["segments"]
    assert [[d["rate"] for d in s["dots"]] for s in segments] == [[50], [90]]


def test_month_buckets_start_on_the_first_of_each_month():
    assert bucket_starts(date(2026, 1, 20), date(2026, 3, 2), "month") == [
        date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)
    ]


# --- Access log filters ------------------------------------------------------------------------


@pytest.fixture
def revealed(resident, clerk_roads, clerk_parks, roads, parks, triage,
             django_capture_on_commit_callbacks):
    """One reveal by a Roads clerk and one by a Parks clerk, each on their own request."""
    seed_register()
    made = []
    for clerk, department, code in ((clerk_roads, roads, "pothole"), (clerk_parks, parks, "tree")):
        category = CategoryFactory(code=code, department=department)
        with django_capture_on_commit_callbacks(execute=False):
            sr = request_services.request_submit(
                reporter=resident, category=category, description="Here", address="Elm 3"
            )
        request_route(request_id=sr.pk)
        rights_services.contact_details_reveal(
            actor=clerk, reference=sr.reference, fields=["phone"], purpose="service-delivery",
            reason="contact_resident",
        )
        made.append(sr.reference)
    return made


def test_access_log_filters_by_staff_account(revealed, clerk_roads, data_officer):
    page = browser(data_officer).get(
        reverse("portal:dpo-access-log"), {"actor": clerk_roads.pk}
    ).content.decode()
    assert revealed[0] in page
    assert revealed[1] not in page


def test_access_log_filters_by_time_range(revealed, data_officer):
    later = (timezone.localtime() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page = browser(data_officer).get(
        reverse("portal:dpo-access-log"), {"since": later}
    ).content.decode()
    assert revealed[0] not in page
    assert "No access events match." in page


def test_access_log_filters_by_department(revealed, data_officer, parks):
    page = browser(data_officer).get(
        reverse("portal:dpo-access-log"), {"department": parks.code}
    ).content.decode()
    assert revealed[1] in page
    assert revealed[0] not in page


def test_access_log_rejects_a_bad_actor_number_on_its_field(data_officer):
    response = browser(data_officer).get(reverse("portal:dpo-access-log"), {"actor": "abc"})
    assert response.status_code == 200
    assert 'id="id_actor_errors"' in response.content.decode()


def test_access_log_refuses_an_end_before_the_start_on_the_until_field(data_officer):
    response = browser(data_officer).get(
        reverse("portal:dpo-access-log"),
        {"since": "2026-11-30T10:00", "until": "2026-11-30T09:00"},
    )
    assert 'id="id_until_errors"' in response.content.decode()


def test_access_log_rows_link_to_the_actor_filter(revealed, clerk_roads, data_officer):
    page = browser(data_officer).get(reverse("portal:dpo-access-log")).content.decode()
    assert f'href="?actor={clerk_roads.pk}"' in page
    assert AccessEvent.objects.count() == 2


def test_access_log_export_links_carry_the_current_filters(revealed, data_officer, parks):
    page = browser(data_officer).get(
        reverse("portal:dpo-access-log"), {"department": parks.code}
    ).content.decode()
    export = reverse("api:officer-access-export")
    assert f'href="{export}?department={parks.code}&amp;output=csv"' in page
    assert f'href="{export}?department={parks.code}&amp;output=json"' in page


def test_the_export_link_downloads_with_the_portal_session(revealed, data_officer):
    response = browser(data_officer).get(reverse("api:officer-access-export"), {"output": "csv"})
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode().count("\n") == 3  # header + 2 rows


# --- Data-subject requests at the counter -----------------------------------------------------


def _counter_form(client: Client) -> str:
    page = client.get(reverse("portal:counter-dsr")).content.decode()
    match = re.search(r'name="form_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_data_officer_records_a_counter_request_for_a_resident(resident, data_officer):
    client = browser(data_officer)
    token = _counter_form(client)
    response = client.post(
        reverse("portal:counter-dsr"),
        {"form_token": token, "kind": "export", "subject_email": resident.email},
        follow=True,
    )
    dsr = DataSubjectRequest.objects.get()
    assert (dsr.subject, dsr.channel, dsr.recorded_by) == (resident, "counter", data_officer)
    assert dsr.reference in response.content.decode()


def test_clerk_at_the_counter_records_a_request_and_sees_its_reference(resident, clerk_roads):
    client = browser(clerk_roads)
    token = _counter_form(client)
    response = client.post(
        reverse("portal:counter-dsr"),
        {"form_token": token, "kind": "erasure", "subject_email": resident.email},
        follow=True,
    )
    dsr = DataSubjectRequest.objects.get()
    assert dsr.recorded_by == clerk_roads
    assert dsr.reference in response.content.decode()


def test_counter_request_for_an_unknown_email_shows_the_error_and_keeps_the_input(data_officer):
    client = browser(data_officer)
    response = client.post(
        reverse("portal:counter-dsr"),
        {"form_token": _counter_form(client), "kind": "access",
         "subject_email": "nobody@example.org", "outcome": "Asked at desk 3"},
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_subject_email_errors"' in page
    assert 'value="nobody@example.org"' in page
    assert "Asked at desk 3" in page
    assert not DataSubjectRequest.objects.exists()


def test_counter_request_without_a_kind_shows_a_field_error(data_officer):
    client = browser(data_officer)
    response = client.post(
        reverse("portal:counter-dsr"), {"form_token": _counter_form(client)}
    )
    assert response.status_code == 400
    assert 'id="id_kind_errors"' in response.content.decode()
    assert not DataSubjectRequest.objects.exists()


def test_a_double_submitted_counter_request_is_recorded_once(resident, data_officer):
    client = browser(data_officer)
    data = {"form_token": _counter_form(client), "kind": "export",
            "subject_email": resident.email}
    first = client.post(reverse("portal:counter-dsr"), data)
    second = client.post(reverse("portal:counter-dsr"), data)
    assert first.status_code == second.status_code == 302
    assert DataSubjectRequest.objects.count() == 1


def test_residents_cannot_record_counter_requests(resident):
    response = browser(resident).post(reverse("portal:counter-dsr"), {"kind": "export"})
    assert response.status_code == 403
    assert not DataSubjectRequest.objects.exists()
