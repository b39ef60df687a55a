"""The satisfaction survey: after a request is closed, its reporter is asked once to rate how
it was handled, only if they consented (purpose `satisfaction-survey`, asked at the moment of
sending through `consent.policy.permits`)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from consent import policy
from core import city
from services.models import ServiceRequest, Status, SurveyInvitation

logger = logging.getLogger(__name__)

# Requests closed within this many days are asked about (an older one is not asked any more).
SURVEY_WINDOW_DAYS = 14


def survey_message(*, request: ServiceRequest) -> tuple[str, str]:
    """Subject and body, in the reporter's language."""
    reporter = request.reporter
    language = getattr(reporter, "preferred_language", "en") or "en"
    with translation.override(language if language in ("en", "zh-hans") else "en"):
        words = {
            "ref": request.reference,
            "category": request.category.name,
            "url": city.portal_url(f"/my/requests/{request.reference}/"),
            "city": city.city_name(translation.get_language()),
        }
        subject = gettext("[%(ref)s] How did we do?") % words
        body = "\n".join([
            gettext("Your request %(ref)s (%(category)s) is closed.") % words,
            gettext("Please tell us how it was handled: one question, a rating from 1 to 5, "
                    "at %(url)s") % words,
            "",
            gettext("You get this because you agreed to satisfaction surveys. You can withdraw "
                    "that at any time under “My data”."),
            "",
            words["city"],
        ]) + "\n"
    return subject, body


def surveys_send(*, now: datetime | None = None, limit: int = 500) -> int:
    """Invite the reporters of recently closed, unrated requests who consent to the survey.
    Once per request; safe to run twice. Returns how many were sent."""
    now = now or timezone.now()
    candidates = list(
        ServiceRequest.objects.filter(
            status=Status.CLOSED, rating=None, reporter__isnull=False,
            closed_at__gte=now - timedelta(days=SURVEY_WINDOW_DAYS),
        )
        .exclude(pk__in=SurveyInvitation.objects.values("request_id"))
        .select_related("reporter", "category")
        .order_by("closed_at", "id")[:limit]
    )
    sent = 0
    for sr in candidates:
        reporter = sr.reporter
        if reporter is None or not reporter.is_active or not reporter.email:
            continue
        if not policy.permits(subject=reporter, purpose=policy.PURPOSE_SURVEY):
            continue  # refusal counted by the gate, nothing stored
        subject, body = survey_message(request=sr)
        with transaction.atomic():
            _, created = SurveyInvitation.objects.get_or_create(
                request=sr, defaults={"sent_at": now}
            )
            if not created:
                continue
            # Inside the transaction: a failed send leaves no mark, and the next run retries.
            send_mail(subject=subject, message=body, from_email=settings.DEFAULT_FROM_EMAIL,
                      recipient_list=[reporter.email], fail_silently=False)
        sent += 1
    if sent:
        logger.info("satisfaction surveys sent", extra={"count": sent})
    return sent
