"""The satisfaction survey is real processing behind the consent gate: the reporter of a closed
request is asked once, only while they consent to `satisfaction-survey`."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from consent.demo import seed_register
from consent.models import Notice, RefusalCount
from consent.services import consent_decide
from services.models import ServiceRequest, Status, SurveyInvitation
from services.surveys import surveys_send
from tests.factories import ServiceRequestFactory

pytestmark = pytest.mark.django_db

SURVEY = "satisfaction-survey"


@pytest.fixture
def closed_request(resident, roads):
    seed_register()
    return ServiceRequestFactory(reporter=resident, status=Status.CLOSED,
                                 closed_at=timezone.now(), category__department=roads)


def _decide(user, decision: str) -> None:
    version = Notice.objects.filter(purpose__code=SURVEY).order_by("-version").first().version
    consent_decide(subject=user, purpose_code=SURVEY, decision=decision, notice_version=version)


def test_a_consenting_reporter_of_a_closed_request_is_asked_once(closed_request, resident):
    _decide(resident, "give")

    assert surveys_send() == 1
    assert surveys_send() == 0

    assert [m.to for m in mail.outbox] == [[resident.email]]
    assert closed_request.reference in mail.outbox[0].subject
    assert f"/my/requests/{closed_request.reference}/" in mail.outbox[0].body
    assert SurveyInvitation.objects.filter(request=closed_request).count() == 1


def test_a_reporter_without_consent_is_not_asked_and_nothing_is_stored(closed_request):
    assert surveys_send() == 0

    assert mail.outbox == []
    assert not SurveyInvitation.objects.exists()
    assert RefusalCount.objects.get(purpose_code=SURVEY).reason == "no_consent"


def test_a_withdrawn_consent_stops_the_survey(closed_request, resident):
    _decide(resident, "give")
    _decide(resident, "withdraw")

    assert surveys_send() == 0
    assert mail.outbox == []


@pytest.mark.parametrize("change", [{"rating": 4}, {"status": Status.RESOLVED}],
                         ids=["already-rated", "not-closed"])
def test_only_closed_unrated_requests_are_asked_about(closed_request, resident, change):
    _decide(resident, "give")
    ServiceRequest.objects.filter(pk=closed_request.pk).update(**change)

    assert surveys_send() == 0


def test_the_survey_speaks_the_reporters_language(closed_request, resident):
    resident.preferred_language = "zh-hans"
    resident.save()
    _decide(resident, "give")

    surveys_send()

    assert "您" in mail.outbox[0].body
