"""Counter intake: a clerk files a request for a walk-in resident (channel `counter`), with
their account or without one, records the consents asked on the spot (method `counter`), and
the resident gets the reference on a printed receipt and, given an address, by e-mail.

It spans both apps (a request, an account, consent records), hence it lives beside the other
data-subject services in consent.rights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from consent.models import Method, Purpose
from consent.services import consent_decide
from core import city
from core.errors import Conflict, Invalid, NotFound
from core.security_log import security_event
from outbox.services import outbox_enqueue
from services import services as request_services
from services.models import Category, Channel, ServiceRequest

if TYPE_CHECKING:
    from core.users import User

# Outbox topic (consent/rights/tasks.py registers its publisher): {"request_id"}.
TOPIC_COUNTER_RECEIPT = "request.counter_receipt"

LANGUAGES = ("en", "zh-hans")
CONSENT_CHOICES = ("give", "refuse")


@dataclass
class CounterResident:
    """Who walked in: an existing account (`email` is its login) or contact details given on
    the spot (all optional; without an e-mail address none are kept)."""

    has_account: bool = False
    email: str = ""
    name: str = ""
    phone: str = ""
    language: str = "en"


@dataclass
class CounterIntake:
    request: ServiceRequest
    reporter: User | None  # the account the request is filed under
    account_created: bool
    consents: dict[str, str] = field(default_factory=dict)  # purpose code → give | refuse
    emailed: bool = False


def _find_account(email: str) -> User | None:
    return get_user_model().objects.filter(email__iexact=email.strip(), is_active=True).first()


def _resolve_resident(who: CounterResident) -> tuple[Any, bool]:
    """The reporter (None for an anonymous walk-in) and whether it must be created."""
    email = who.email.strip()
    if who.has_account:
        if not email:
            message = gettext("Give the resident's login e-mail address.")
            raise Invalid(message, errors={"email": [message]})
        user = _find_account(email)
        if user is None:
            message = gettext("No account has this e-mail address.")
            raise Invalid(message, errors={"email": [message]})
        return user, False
    if not email:
        if who.name.strip() or who.phone.strip():
            message = gettext(
                "Without an e-mail address no contact details are kept: leave the name and "
                "phone empty, or add an e-mail address."
            )
            raise Invalid(message, errors={"email": [message]})
        return None, False
    if _find_account(email) is not None or EmailAddress.objects.filter(
        email__iexact=email
    ).exists():
        message = gettext("An account has this e-mail address: choose “has an account”.")
        raise Invalid(message, errors={"email": [message]})
    return None, True


def _counter_account(who: CounterResident) -> Any:
    """An account holding what the resident gave at the counter: no password (they set one
    with "Forgot password?" to use it online), the address not yet confirmed."""
    user = get_user_model().objects.create_user(
        email=who.email.strip(),
        password=None,
        display_name=who.name.strip()[:100],
        phone=who.phone.strip()[:32],
        preferred_language=who.language if who.language in LANGUAGES else "en",
    )
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)
    return user


def counter_consent_purposes() -> list[Purpose]:
    """What the clerk asks about: active consent-based purposes that have a notice."""
    return list(
        Purpose.objects.filter(is_active=True, requires_consent=True, notices__isnull=False)
        .distinct()
        .order_by("code")
    )


def _clean_consents(consents: dict[str, tuple[str, int]] | None) -> dict[str, tuple[str, int]]:
    errors: dict[str, list[str]] = {}
    out: dict[str, tuple[str, int]] = {}
    for code, (decision, version) in (consents or {}).items():
        if not decision:
            continue  # not asked
        if decision not in CONSENT_CHOICES:
            errors[f"consent_{code}"] = [gettext("Use give or refuse.")]
            continue
        out[code] = (decision, version)
    if errors:
        raise Invalid(gettext("Some answers are not valid."), errors=errors)
    return out


def counter_request_file(
    *,
    clerk: User,
    resident: CounterResident,
    category: Category,
    description: str,
    lat: float | None = None,
    lon: float | None = None,
    address: str = "",
    district: str = "",
    attribute_values: dict | None = None,
    is_private_address: bool = False,
    is_public: bool = False,
    consents: dict[str, tuple[str, int]] | None = None,
) -> CounterIntake:
    """File the request, create the account a resident without one gave an e-mail address
    for, record each consent decision (method `counter`, the clerk as recorder) and queue the
    receipt e-mail: all or nothing (bad input changes nothing)."""
    decisions = _clean_consents(consents)
    with transaction.atomic():
        reporter, create = _resolve_resident(resident)
        if decisions and reporter is None and not create:
            message = gettext(
                "Consent is recorded for a person: add their e-mail address or account."
            )
            raise Invalid(message, errors={"email": [message]})
        if create:
            reporter = _counter_account(resident)
        sr, _created = request_services.request_file(
            reporter=reporter,
            category=category.code,
            description=description,
            lat=lat,
            lon=lon,
            address=address,
            district=district,
            attribute_values=attribute_values,
            channel=Channel.COUNTER,
            is_public=is_public,
            is_private_address=is_private_address,
        )
        recorded: dict[str, str] = {}
        for code, (decision, version) in decisions.items():
            try:
                consent_decide(
                    subject=reporter, purpose_code=code, decision=decision,
                    notice_version=version, language=reporter.preferred_language,
                    method=Method.COUNTER, recorded_by=clerk,
                )
            except (NotFound, Conflict, Invalid) as error:
                raise Invalid(error.detail, errors={f"consent_{code}": [error.detail]}) from error
            recorded[code] = decision
        emailed = bool(reporter is not None and reporter.email)
        if emailed:
            outbox_enqueue(topic=TOPIC_COUNTER_RECEIPT, payload={"request_id": sr.pk})
    security_event("request.filed_at_counter", user_id=clerk.pk, reference=sr.reference,
                   account_created=create, consents=len(recorded))
    return CounterIntake(request=sr, reporter=reporter, account_created=create,
                         consents=recorded, emailed=emailed)


# --- The receipt e-mail ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptMessage:
    subject: str
    body: str
    language: str


def counter_receipt_message(*, request: ServiceRequest) -> ReceiptMessage:
    """The e-mail with the reference, in the resident's language."""
    reporter = request.reporter
    language = getattr(reporter, "preferred_language", "en") or "en"
    language = language if language in LANGUAGES else "en"
    with translation.override(language):
        filed = timezone.localtime(request.created_at).date()
        words = {
            "ref": request.reference,
            "city": city.city_name(language),
            "category": request.category.name,
            "date": filed.isoformat(),
            "url": city.portal_url(f"/requests/{request.reference}/"),
        }
        subject = gettext("[%(ref)s] Your request was received at the service counter") % words
        greeting = (
            gettext("Hello %(name)s,") % {"name": reporter.display_name}
            if reporter is not None and reporter.display_name else gettext("Hello,")
        )
        lines = [
            greeting,
            "",
            gettext("the service counter of %(city)s received your request on %(date)s.")
            % words,
            "",
            gettext("Reference: %(ref)s") % words,
            gettext("About: %(category)s") % words,
            "",
            gettext("Give this reference when you call or visit us."),
            gettext("To follow it online, sign in with this e-mail address: %(url)s") % words,
        ]
        if reporter is not None and not reporter.has_usable_password():
            lines.append(gettext(
                "You have no password yet: choose “Forgot password?” on the sign-in "
                "page to set one."
            ))
        lines += ["", city.city_name(language)]
    return ReceiptMessage(subject=subject, body="\n".join(lines) + "\n", language=language)


def counter_receipt_send(*, request_id: int) -> bool:
    """Send the receipt e-mail (the task's body); False when there is no one to send it to."""
    sr = (
        ServiceRequest.objects.select_related("reporter", "category")
        .filter(pk=request_id, channel=Channel.COUNTER)
        .first()
    )
    if sr is None or sr.reporter is None or not sr.reporter.email or not sr.reporter.is_active:
        return False
    message = counter_receipt_message(request=sr)
    send_mail(
        subject=message.subject,
        message=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[sr.reporter.email],
        fail_silently=False,
    )
    return True

