"""The data officer's access-log export: streamed CSV or JSON, the list's filters, pseudonyms."""

from __future__ import annotations

import csv
import io
import json

import pytest

from consent import pseudonyms
from consent.rights import selectors
from consent.rights.models import AccessEvent
from tests.rights.test_reveal import reveal

pytestmark = pytest.mark.usefixtures("register")

URL = "/api/v1/officer/access-events/export"


def _body(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def two_reveals(client_for, clerk_lighting, li_request):
    clerk = client_for(clerk_lighting)
    for fields in (["phone"], ["email"]):
        reveal(clerk, li_request.reference, fields=fields, purpose="service-delivery")


def test_csv_export_has_a_header_and_one_line_per_access_event(
    two_reveals, client_for, data_officer, resident
):
    response = client_for(data_officer).get(URL, {"output": "csv"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="access-events.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert [r["fields"] for r in rows] == ["email", "phone"]  # newest first
    assert {r["subject_pseudonym"] for r in rows} == {pseudonyms.pseudonym_for(resident)}


def test_json_export_carries_no_contact_details(two_reveals, client_for, data_officer, resident):
    body = _body(client_for(data_officer).get(URL, {"output": "json"}))

    rows = json.loads(body)
    assert len(rows) == 2
    assert resident.email not in body
    assert resident.phone not in body


def test_export_applies_the_same_filters_as_the_list(two_reveals, client_for, data_officer):
    body = _body(client_for(data_officer).get(URL, {"output": "json", "department": "roads"}))

    assert json.loads(body) == []


def test_export_with_a_bad_filter_is_400_with_the_field(client_for, data_officer):
    response = client_for(data_officer).get(URL, {"output": "xml"})

    assert response.status_code == 400
    assert "output" in response.json()["errors"]


@pytest.mark.parametrize("who", ["resident", "clerk_lighting"])
def test_only_data_officers_export_the_access_log(request, client_for, who):
    assert client_for(request.getfixturevalue(who)).get(URL).status_code == 403


def test_rows_are_read_a_chunk_at_a_time(two_reveals, django_assert_num_queries):
    qs = selectors.officer_access_events()

    # Per chunk of one: the events, then their actors' day counts; then one empty read.
    with django_assert_num_queries(5):
        rows = list(selectors.iter_officer_access_rows(qs, chunk=1))

    assert len(rows) == AccessEvent.objects.count() == 2
