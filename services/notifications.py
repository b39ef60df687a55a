"""Notifications to residents (public changes of their requests) and supervisors (SLA).

One small channel interface: email now (Django mail, templates in the recipient's language);
SMS later, only where `consent.policy.permits` says yes at the moment of sending.
`notifications_for_event` says what to send for one event (one `Notification` per recipient
and channel); the `deliver_event` task (after commit, through the outbox) queues one
`send_notification` task for each, and `notification_deliver` (that task's body) renders and
sends once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.module_loading import import_string

from consent import policy
from core import city
from services.models import Category, Department, DepartmentMembership, Event, Follow
from services.notification_texts import FOLLOWER, FOOTER, REPORTER, TEXTS, event_kind

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from core.users import User

logger = logging.getLogger(__name__)

LANGUAGES = ("en", "zh-hans")
SENT_MARK_SECONDS = 14 * 24 * 3600

# Events a resident hears about: public changes made by someone else.
RESIDENT_EVENTS = frozenset(
    {
        Event.Type.ROUTED,
        Event.Type.STATUS_CHANGED,
        Event.Type.PUBLIC_REPLY,
        Event.Type.MARKED_DUPLICATE,
        Event.Type.REOPENED,  # followers hear that the reporter reopened it
    }
)
SUPERVISOR_EVENTS = frozenset({Event.Type.SLA_BREACHED})

STATUS_WORDS = {
    "en": {
        "submitted": "received",
        "routed": "sent to a department",
        "in_progress": "being worked on",
        "resolved": "resolved",
        "closed": "closed",
        "rejected": "rejected",
        "reopened": "reopened",
        "returned": "being re-routed",
        "withdrawn": "withdrawn",
    },
    "zh-hans": {
        "submitted": "已受理",
        "routed": "已转交部门",
        "in_progress": "处理中",
        "resolved": "已解决",
        "closed": "已关闭",
        "rejected": "未予受理",
        "reopened": "已重新打开",
        "returned": "重新分派中",
        "withdrawn": "已撤回",
    },
}
PRIORITY_WORDS = {
    "en": {1: "low", 2: "normal", 3: "high", 4: "urgent"},
    "zh-hans": {1: "低", 2: "普通", 3: "高", 4: "紧急"},
}


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    language: str


class NotificationChannel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def purpose(self) -> str | None:
        """The consent purpose this channel needs; None: none (public task)."""

    def available_for(self, user: User) -> bool: ...

    def deliver(self, *, user: User, message: Message) -> None: ...


class EmailChannel:
    name = "email"
    purpose: str | None = None  # status emails are part of delivering the service (public task)

    def available_for(self, user: User) -> bool:
        return bool(user.is_active and user.email)

    def deliver(self, *, user: User, message: Message) -> None:
        send_mail(
            subject=message.subject,
            message=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[user.email],
            fail_silently=False,
        )


class SmsChannel:
    """Text messages through the gateway in settings.CIVICDESK["SMS_BACKEND"] (none yet)."""

    name = "sms"

    @property
    def purpose(self) -> str:
        return policy.PURPOSE_SMS

    def available_for(self, user: User) -> bool:
        return bool(user.is_active and user.phone and settings.CIVICDESK.get("SMS_BACKEND"))

    def deliver(self, *, user: User, message: Message) -> None:
        send = import_string(settings.CIVICDESK["SMS_BACKEND"])
        send(to=user.phone, text=message.subject)


CHANNELS: dict[str, NotificationChannel] = {"email": EmailChannel(), "sms": SmsChannel()}


def channel_permits(*, channel: NotificationChannel, user: User) -> bool:
    """Consent-gated channels ask consent.policy (the one upward edge from services)."""
    if channel.purpose is None:
        return True
    return bool(policy.permits(subject=user, purpose=channel.purpose).allowed)


def _language(user: User) -> str:
    language = getattr(user, "preferred_language", "en") or "en"
    return language if language in LANGUAGES else "en"


def _name(obj: Category | Department | None, language: str) -> str:
    if obj is None:
        return ""
    translated: str = getattr(obj, "name_zh_hans", None) or ""
    if language == "zh-hans" and translated:
        return translated
    return str(obj.name_en)


def portal_url(path: str) -> str:
    return city.portal_url(path)


def render_message(*, template: str, context: dict[str, Any], language: str) -> Message:
    """Subject and body from services/email/<language>/<template>{_subject,}.txt."""
    context = {**context, "language": language}
    subject = render_to_string(f"services/email/{language}/{template}_subject.txt", context)
    body = render_to_string(f"services/email/{language}/{template}.txt", context)
    return Message(subject=" ".join(subject.split()), body=body.strip() + "\n", language=language)


def event_message(*, event: Event, user: User) -> Message:
    """The message about this event for this person: what the event did (its type, to-status,
    outcome, actor), in their language, worded for the reporter or for a follower."""
    language = _language(user)
    request = event.request
    if event.type == Event.Type.SLA_BREACHED:
        context = {
            "reference": request.reference,
            "category": _name(request.category, language),
            "department": _name(request.department, language),
            "status": STATUS_WORDS[language].get(request.status, request.status),
            "url": portal_url(f"/requests/{request.reference}/"),
            "due_at": timezone.localtime(request.due_at) if request.due_at else None,
            "priority": PRIORITY_WORDS[language].get(request.priority, ""),
        }
        return render_message(template="sla_breached", context=context, language=language)
    return _resident_message(event=event, user=user, language=language)


def _resident_message(*, event: Event, user: User, language: str) -> Message:
    kind = event_kind(event) or "updated"
    audience = REPORTER if user.pk == event.request.reporter_id else FOLLOWER
    entry = TEXTS[language][kind]
    footer = FOOTER[language]
    request = event.request
    # The department that acted: the event's own (a reply after a reassignment keeps the
    # department that wrote it), else the request's.
    department = event.actor_department or request.department
    words = {
        "department": _name(department, language) or footer["department"],
        "original": str((event.data or {}).get("original", "")),
        "days": int(settings.CIVICDESK.get("AUTO_CLOSE_DAYS", 7)),
    }
    text_label = (entry.get("text") or {}).get(audience)
    text = event.text
    if event.type == Event.Type.ROUTED:
        text = (event.data.get("explanation") or {}).get(language) or event.text
    url = portal_url(f"/requests/{request.reference}/")
    context = {
        "subject": f"[{request.reference}] " + entry["subject"].format(**words),
        "headline": entry[audience].format(**words),
        "category": _name(request.category, language),
        "reference": request.reference,
        "text_label": text_label or "",
        "text": text if text_label else "",
        "next_step": entry.get("next", "").format(**words) if audience == REPORTER else "",
        "see": footer["see"].format(url=url),
        "signature": footer["signature"].format(city=city.city_name(language)),
        "why": footer[audience],
    }
    return render_message(template="request_update", context=context, language=language)


def recipients_for(event: Event) -> list[Any]:
    """Who hears of this event: the reporter and the followers of a public change (never the
    person who made it); the department's supervisors of a breach."""
    request = event.request
    if event.type in RESIDENT_EVENTS and event.visibility == Event.Visibility.PUBLIC:
        people = [request.reporter] if request.reporter is not None else []
        # An event loaded for its push (live.event_for_delivery) knows whether anyone
        # follows the request: no query when nobody does (a duplicate's are the original's).
        nobody = getattr(event, "has_followers", True) is False
        if not nobody or event.type == Event.Type.MARKED_DUPLICATE:
            people += [
                follow.user
                for follow in _follows_at(event)
                .exclude(user_id=request.reporter_id or 0)
                .select_related("user")
                .order_by("user_id")
            ]
        return [
            person for person in people
            if person.pk != event.actor_id and wants_update(person=person, event=event)
        ]
    if event.type in SUPERVISOR_EVENTS and request.department_id:
        supervisors = list(supervisors_of(department_id=request.department_id))
        # A department without a supervisor: Triage's supervisors hear of it instead (they
        # can move the request), rather than nobody.
        return supervisors or list(triage_supervisors())
    return []


def wants_update(*, person: User, event: Event) -> bool:
    """The person's own choice (profile: e-mails about my requests): every public update,
    only outcomes (resolved, closed, not accepted, merged), or none."""
    choice = getattr(person, "email_updates", "all")
    if choice == "off":
        return False
    if choice == "outcomes":
        return event_kind(event).startswith(("resolved", "closed", "rejected", "duplicate"))
    return True


def _follows_at(event: Event) -> Any:
    """The followers of the event's request when it happened. Marking a duplicate moves them
    to the original in the same transaction: they are the original's follows created then."""
    follows = Follow.objects.filter(user__is_active=True)
    original = (event.data or {}).get("original")
    if event.type == Event.Type.MARKED_DUPLICATE and original:
        window = (event.created_at, event.created_at + timedelta(minutes=1))
        moved = follows.filter(request__reference=original, created_at__range=window)
        return moved | follows.filter(request_id=event.request_id)
    return follows.filter(request_id=event.request_id)


def triage_supervisors() -> Any:
    """The active supervisors of the active Triage department(s)."""
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            memberships__department__is_triage=True,
            memberships__department__is_active=True,
            memberships__role=DepartmentMembership.Role.SUPERVISOR,
        )
        .distinct()
    )


def supervisors_of(*, department_id: int) -> QuerySet[User]:
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            memberships__department_id=department_id,
            memberships__role=DepartmentMembership.Role.SUPERVISOR,
        )
        .distinct()
    )


@dataclass(frozen=True)
class Notification:
    """One message to send: an event's news to one user over one channel."""

    event_id: int
    user_id: int
    channel: str
    # The recipient as already loaded, for sending at once in a worker (not part of equality).
    user: User | None = field(default=None, compare=False, repr=False)


def notifications_for_event(
    *, event_id: int | None = None, event: Event | None = None
) -> list[Notification]:
    """What to send for one event: one notification per recipient and available channel.

    Sends nothing itself: the caller (services.tasks) sends each at once or queues a delivery
    task for it, and each delivery remembers that it was sent, so a second round sends nothing
    twice. Pass `event` when it is loaded already (the live push loaded it).
    """
    if event is None and event_id is not None:
        event = (
            Event.objects.select_related("request", "request__reporter")
            .filter(pk=event_id)
            .first()
        )
    if event is None or event.type not in RESIDENT_EVENTS | SUPERVISOR_EVENTS:
        return []
    return [
        Notification(event_id=event.pk, user_id=user.pk, channel=channel.name, user=user)
        for user in recipients_for(event)
        for channel in CHANNELS.values()
        if channel.available_for(user)
    ]


def notification_send_now(*, event: Event, notification: Notification) -> bool:
    """Send one notification in this process (a worker already). False if it failed: the
    caller then queues its delivery task, which retries with backoff."""
    try:
        if notification.user is None:  # notifications_for_event always sets it
            raise LookupError("notification without its recipient")
        _deliver_once(event=event, user=notification.user,
                      transport=CHANNELS[notification.channel])
    except Exception:  # noqa: BLE001 - the task retries it with backoff
        logger.warning(
            "notification not sent inline; queued",
            extra={"event_id": event.pk, "channel": notification.channel},
            exc_info=True,
        )
        return False
    return True


def _sent_key(event_id: int, user_id: int, channel: str) -> str:
    return f"civicdesk:notified:{event_id}:{user_id}:{channel}"


def notification_deliver(*, event_id: int, user_id: int, channel: str) -> bool:
    """Send one event's notification to one user over one channel, at most once.

    Delivery errors propagate (the task retries with backoff); the state change that caused
    the notification was committed long before and is never affected.
    """
    transport = CHANNELS.get(channel)
    event = (
        Event.objects.select_related(
            "request", "request__category", "request__department", "request__reporter"
        )
        .filter(pk=event_id)
        .first()
    )
    user = get_user_model().objects.filter(pk=user_id).first()
    if transport is None or event is None or user is None or not transport.available_for(user):
        return False
    if user not in recipients_for(event):
        return False  # e.g. no longer a supervisor of that department
    return _deliver_once(event=event, user=user, transport=transport)


def _deliver_once(*, event: Event, user: User, transport: NotificationChannel) -> bool:
    """Send to a current recipient, unless it was sent already or consent says no."""
    key = _sent_key(event.pk, user.pk, transport.name)
    if cache.get(key):
        return False
    if not channel_permits(channel=transport, user=user):
        return False
    transport.deliver(user=user, message=event_message(event=event, user=user))
    cache.set(key, 1, SENT_MARK_SECONDS)
    logger.info(
        "notification sent",
        extra={"event_id": event.pk, "channel": transport.name, "event_type": event.type},
    )
    return True


def digest_message(*, user: User, departments: list[dict[str, Any]]) -> Message:
    language = _language(user)
    for entry in departments:
        entry["name"] = _name(entry["department"], language)
        for item in entry["overdue"]:
            item["priority_word"] = PRIORITY_WORDS[language].get(item["priority"], "")
            item["status_word"] = STATUS_WORDS[language].get(item["status"], item["status"])
            item["due_local"] = timezone.localtime(item["due_at"])
    return render_message(
        template="supervisor_digest",
        context={"departments": departments, "date": timezone.localdate()},
        language=language,
    )
