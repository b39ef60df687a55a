"""Retention runs for every purpose of the register with its own period; each run is logged
with every purpose's period and what it applied to."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from consent.demo import PURPOSES
from consent.models import LogEntry
from consent.rights.retention import PURPOSE_DATA, apply_retention
from consent.services import purpose_upsert
from services.models import ServiceRequest, Status, SurveyInvitation
from tests.rights.conftest import file_request

pytestmark = pytest.mark.usefixtures("register")

SURVEY_DAYS = 365  # the seeded register's value for satisfaction-survey


def _invited(resident, streetlight, days_ago: int) -> SurveyInvitation:
    sr = file_request(resident, streetlight, description="Lamp out.")
    ServiceRequest.objects.filter(pk=sr.pk).update(status=Status.CLOSED,
                                                   closed_at=timezone.now())
    return SurveyInvitation.objects.create(
        request=sr, sent_at=timezone.now() - timedelta(days=days_ago))


def _log_body(summary) -> dict:
    return json.loads(LogEntry.objects.get(index=summary.run.log_entry_id).entry)["body"]


def test_every_purpose_of_the_register_is_in_the_run_with_its_own_period():
    summary = apply_retention()

    body = _log_body(summary)
    assert body["retention_days"] == {code: days for code, *_, days, _t, _a in PURPOSES}
    assert set(body["applied_to"]) == {code for code, *_ in PURPOSES}


def test_survey_invitations_past_the_survey_period_are_deleted(resident, streetlight):
    old = _invited(resident, streetlight, SURVEY_DAYS + 1)
    recent = _invited(resident, streetlight, SURVEY_DAYS - 1)

    summary = apply_retention()

    assert summary.counts["survey_invitations_deleted"] == 1
    assert list(SurveyInvitation.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not SurveyInvitation.objects.filter(pk=old.pk).exists()
    assert ServiceRequest.objects.count() == 2  # the requests are service delivery's


def test_the_survey_period_is_read_from_the_register(resident, streetlight):
    _invited(resident, streetlight, 40)
    purpose_upsert(code="satisfaction-survey", **_fields("satisfaction-survey",
                                                          retention_days=30))

    assert apply_retention().counts["survey_invitations_deleted"] == 1


def test_a_dry_run_counts_the_survey_invitations_and_deletes_none(resident, streetlight):
    _invited(resident, streetlight, SURVEY_DAYS + 1)

    summary = apply_retention(dry_run=True)

    assert summary.counts["survey_invitations_deleted"] == 1
    assert SurveyInvitation.objects.count() == 1


@pytest.mark.parametrize("code", [c for c, what in PURPOSE_DATA.items()
                                  if what == "nothing_stored"])
def test_a_purpose_whose_data_is_not_stored_is_logged_as_such(code):
    assert _log_body(apply_retention())["applied_to"][code] == "nothing_stored"


def test_a_purpose_a_city_adds_without_data_of_ours_is_logged_as_unknown():
    purpose_upsert(code="newsletter", title_en="Newsletter", description_en="News.",
                   dpv_purpose="https://w3id.org/dpv#Marketing", legal_basis="consent",
                   data_categories=["email"], retention_days=10,
                   retention_end_action="delete", requires_consent=True)

    body = _log_body(apply_retention())

    assert body["applied_to"]["newsletter"] == "unknown"
    assert body["retention_days"]["newsletter"] == 10


def _fields(code: str, **override) -> dict:
    (c, ten, tzh, den, dzh, dpv, basis, ref, cats, _d, recips, days, trigger, action) = next(
        p for p in PURPOSES if p[0] == code)
    fields = {"title_en": ten, "title_zh_hans": tzh, "description_en": den,
              "description_zh_hans": dzh, "dpv_purpose": dpv, "legal_basis": basis,
              "legal_reference": ref, "data_categories": cats, "recipients": recips,
              "retention_days": days, "retention_trigger": trigger,
              "retention_end_action": action, "requires_consent": basis == "consent"}
    fields.update(override)
    return fields
