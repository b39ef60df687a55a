"""Each e-mail says what the event did (not the request's current status), in the recipient's
language, worded for the reporter or for a follower. Every case drives the real service that
makes the change and renders the message that would be sent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from services import services
from services.models import Follow, Outcome, ServiceRequest, Status
from services.notifications import notification_deliver
from services.routing import request_route
from tests.factories import CategoryFactory, ServiceRequestFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(roads, clerk_roads, triage):
    category = CategoryFactory(code="pothole", name_en="Pothole", name_zh_hans="路面坑洞",
                               department=roads)
    reporter, follower = UserFactory(), UserFactory()
    return {"category": category, "clerk": clerk_roads, "reporter": reporter,
            "follower": follower, "roads": roads}


def _request(people, status, **fields):
    fields.setdefault("department", people["roads"])
    request = ServiceRequestFactory(category=people["category"], status=status,
                                    reporter=people["reporter"], **fields)
    Follow.objects.create(user=people["follower"], request=request)
    return request


def _resolve(outcome, text):
    def make(people):
        request = _request(people, Status.IN_PROGRESS)
        services.request_transition(request=request, actor=people["clerk"],
                                    to_status=Status.RESOLVED, outcome=outcome, text=text)
        return request
    return make


def _routed(people):
    request = _request(people, Status.SUBMITTED, department=None)
    request_route(request_id=request.pk)
    return request


def _started(people):
    request = _request(people, Status.ROUTED)
    services.request_transition(request=request, actor=people["clerk"],
                                to_status=Status.IN_PROGRESS)
    return request


def _resumed(people):
    request = _request(people, Status.REOPENED)
    services.request_transition(request=request, actor=people["clerk"],
                                to_status=Status.IN_PROGRESS)
    return request


def _replied(people):
    request = _request(people, Status.ROUTED)
    services.request_reply(request=request, actor=people["clerk"], text="We come on Tuesday.")
    return request


def _rejected(people):
    request = _request(people, Status.ROUTED)
    services.request_transition(request=request, actor=people["clerk"],
                                to_status=Status.REJECTED, text="This is a private road.")
    return request


def _reopened(people):
    request = _request(people, Status.RESOLVED, resolved_at=timezone.now(),
                       outcome=Outcome.FIXED)
    services.request_reopen(request=request, actor=people["reporter"], reason="Still dark.")
    return request


def _confirmed(people):
    request = _request(people, Status.RESOLVED, resolved_at=timezone.now(),
                       outcome=Outcome.FIXED)
    services.request_confirm(request=request, actor=people["reporter"])
    return request


def _auto_closed(people):
    request = _request(people, Status.RESOLVED, outcome=Outcome.FIXED,
                       resolved_at=timezone.now() - timedelta(days=30))
    assert services.requests_auto_close() == 1
    return request


def _withdrawn(people):
    request = _request(people, Status.ROUTED)
    services.request_withdraw(request=request, actor=people["reporter"])
    return request


def _duplicate(people):
    original = ServiceRequestFactory(category=people["category"], department=people["roads"],
                                     status=Status.IN_PROGRESS, reporter=UserFactory())
    request = _request(people, Status.IN_PROGRESS)
    services.request_mark_duplicate(request=request, actor=people["clerk"], original=original)
    people["original"] = original.reference
    return request


# scenario → {language: (subject after "[ref] ", reporter's headline, follower's headline,
#                        a line of the body only the reporter gets / None)}
# A headline of None: that person made the change and hears nothing.
CASES = {
    "routed": (_routed, {
        "en": ("Sent to Roads", "Your request is now with Roads.",
               "The request you follow is now with Roads.", "Why this department:"),
        "zh-hans": ("已转交道路", "您的诉求已转交道路处理。", "您关注的诉求已转交道路处理。",
                    "转交原因："),
    }),
    "work_started": (_started, {
        "en": ("Roads started work", "Roads has started working on your request.",
               "Roads has started working on the request you follow.", None),
        "zh-hans": ("道路已开始处理", "道路已开始处理您的诉求。", "道路已开始处理您关注的诉求。",
                    None),
    }),
    "work_resumed": (_resumed, {
        "en": ("Work resumed after the reopening",
               "Roads is working on your reopened request again.",
               "Roads is working on the reopened request again.", None),
        "zh-hans": ("重新打开后已恢复处理", "道路已重新处理您重新打开的诉求。",
                    "道路已重新处理这条重新打开的诉求。", None),
    }),
    "public_reply": (_replied, {
        "en": ("Roads replied", "Roads replied to your request.",
               "Roads replied on the request you follow.", None),
        "zh-hans": ("道路已回复", "道路回复了您的诉求。", "道路回复了您关注的诉求。", None),
    }),
    "fixed": (_resolve(Outcome.FIXED, "New lamp fitted."), {
        "en": ("Fixed", "Roads says the problem you reported is fixed.",
               "Roads says the problem is fixed.", "Is it really fixed? Confirm it, or reopen"),
        "zh-hans": ("已修复", "道路表示您反映的问题已修复。", "道路表示该问题已修复。",
                    "问题真的解决了吗？"),
    }),
    "could_not_fix": (_resolve(Outcome.COULD_NOT_FIX, "The pipe is under a building."), {
        "en": ("Could not be fixed", "Roads could not fix the problem you reported.",
               "Roads could not fix the problem.", "If you disagree, reopen the request"),
        "zh-hans": ("未能修复", "道路未能修复您反映的问题。", "道路未能修复该问题。",
                    "如有异议，请在 7 天内重新打开诉求"),
    }),
    "not_city_responsibility": (
        _resolve(Outcome.NOT_CITY_RESPONSIBILITY, "Ask the property manager."), {
            "en": ("Not the city's responsibility",
                   "Roads found that the problem you reported is not the city's responsibility.",
                   "Roads found that the problem is not the city's responsibility.",
                   "If you disagree, reopen the request"),
            "zh-hans": ("不属于市政职责", "道路认定您反映的问题不属于市政职责范围。",
                        "道路认定该问题不属于市政职责范围。", "如有异议"),
        }),
    "no_action_needed": (_resolve(Outcome.NO_ACTION_NEEDED, "It is a planned closure."), {
        "en": ("No action needed", "Roads found that no action is needed on your request.",
               "Roads found that no action is needed.", "If you disagree"),
        "zh-hans": ("无需处理", "道路认定您的诉求无需采取行动。", "道路认定该诉求无需采取行动。",
                    "如有异议"),
    }),
    "rejected": (_rejected, {
        "en": ("Not accepted", "Roads did not accept your request.",
               "Roads did not accept the request you follow.", None),
        "zh-hans": ("未予受理", "道路未受理您的诉求。", "道路未受理您关注的诉求。", None),
    }),
    "reopened": (_reopened, {
        "en": ("Reopened", None, "The person who reported it says the problem is not solved; "
               "the request is open again.", None),
        "zh-hans": ("已重新打开", None, "反映人表示问题尚未解决，该诉求已重新打开。", None),
    }),
    "closed_confirmed": (_confirmed, {
        "en": ("Closed: confirmed by the reporter", None,
               "The person who reported it confirmed the resolution; the request is closed.",
               None),
        "zh-hans": ("已关闭：反映人已确认", None, "反映人已确认处理结果，该诉求已关闭。", None),
    }),
    "closed_auto": (_auto_closed, {
        "en": ("Closed", "Your request was closed: it was resolved 7 days ago and not reopened.",
               "The request was closed: it was resolved 7 days ago and not reopened.", None),
        "zh-hans": ("已关闭", "您的诉求已于办结 7 天后自动关闭（期间未重新打开）。",
                    "该诉求已于办结 7 天后自动关闭（期间未重新打开）。", None),
    }),
    "withdrawn": (_withdrawn, {
        "en": ("Withdrawn", None, "The person who reported it withdrew the request; nothing "
               "more will happen on it.", None),
        "zh-hans": ("已撤回", None, "反映人已撤回该诉求，此后不会再有处理。", None),
    }),
    "duplicate": (_duplicate, {
        "en": ("Merged into {original}",
               "Your request reports the same problem as {original}, so it was closed; you now "
               "follow {original} and hear about its progress.",
               "The request you follow reports the same problem as {original}, so it was "
               "closed; you now follow {original}.", None),
        "zh-hans": ("已并入 {original}",
                    "您的诉求与 {original} 反映的是同一问题，已关闭；您现在关注 {original}，"
                    "会收到它的进展。",
                    "您关注的诉求与 {original} 反映的是同一问题，已关闭；您现在关注 {original}。",
                    None),
    }),
}

WHY = {
    ("reporter", "en"): "You receive this because you filed this request.",
    ("follower", "en"): "You receive this because you follow this request",
    ("reporter", "zh-hans"): "您收到此邮件是因为您提交了该诉求。",
    ("follower", "zh-hans"): "您收到此邮件是因为您关注了该诉求",
}


def _last_public_event(request: ServiceRequest):
    return request.events.filter(visibility="public").order_by("-id").first()


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("audience", ["reporter", "follower"])
@pytest.mark.parametrize("case", list(CASES))
def test_the_email_says_what_the_event_did_for_each_audience_and_language(
    people, case, audience, language, settings
):
    settings.CIVICDESK = {**settings.CIVICDESK, "AUTO_CLOSE_DAYS": 7}
    make, texts = CASES[case]
    subject, reporter_line, follower_line, reporter_only = texts[language]
    person = people[audience]
    person.preferred_language = language
    person.save()
    request = make(people)
    event = _last_public_event(request)
    headline = reporter_line if audience == "reporter" else follower_line

    sent = notification_deliver(event_id=event.pk, user_id=person.pk, channel="email")

    if headline is None:  # their own action
        assert (sent, mail.outbox) == (False, [])
        return
    words = {"original": people.get("original", "")}
    [message] = mail.outbox
    assert message.subject == f"[{request.reference}] " + subject.format(**words)
    assert headline.format(**words) in message.body
    assert WHY[audience, language] in message.body
    if reporter_only is not None:
        assert (reporter_only in message.body) == (audience == "reporter")


def test_a_follower_never_gets_the_reporters_own_words(people):
    request = _reopened(people)
    event = _last_public_event(request)

    notification_deliver(event_id=event.pk, user_id=people["follower"].pk, channel="email")

    assert "Still dark." not in mail.outbox[0].body


def test_a_reply_is_announced_as_a_reply_whatever_the_request_status(people):
    request = _request(people, Status.IN_PROGRESS)
    event = services.request_reply(request=request, actor=people["clerk"], text="On Tuesday.")
    services.request_transition(request=request, actor=people["clerk"],
                                to_status=Status.RESOLVED, outcome=Outcome.FIXED, text="Done.")

    notification_deliver(event_id=event.pk, user_id=people["reporter"].pk, channel="email")

    [message] = mail.outbox
    assert message.subject == f"[{request.reference}] Roads replied"
    assert "On Tuesday." in message.body
    assert "fixed" not in message.body.lower()
