"""Routing: which department gets a new or returned request, and why, in words people read.

Order: explicit rules (category × district, by `order`) → the category's default
department → the text classifier (categories with `uses_classifier`) → Triage. A returned
request skips the departments that returned it; after two returns it goes to Triage. A
department with no active staff gets nothing: its work goes to Triage, and the reason says so.
`decide` is pure; `request_route` applies its decision once (idempotent).
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.db.models.functions import Now
from django.utils import timezone

from core.statements import fetch_prepared, server_bound
from outbox.services import outbox_enqueue
from services import classifier, workflow
from services.live import PreparedPush
from services.models import Category, Department, District, Event, Follow, ServiceRequest, Status
from services.reference import Snapshot, reference_snapshot
from services.services import TOPIC_EVENT, event_record

logger = logging.getLogger(__name__)

RULE = "rule"
CATEGORY_DEFAULT = "category_default"
CLASSIFIER = "classifier"
TRIAGE = "triage"

# Why a request went to Triage.
NO_MATCH = "no_match"
LOW_CONFIDENCE = "low_confidence"
RETURNED_TWICE = "returned_twice"
UNSTAFFED = "unstaffed"

MAX_RETURNS_BEFORE_TRIAGE = 2
LANGUAGES = ("en", "zh-hans")


# --- Pure decision ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Named:
    id: int
    code: str
    name_en: str
    name_zh_hans: str = ""

    def name(self, language: str) -> str:
        return (self.name_zh_hans or self.name_en) if language == "zh-hans" else self.name_en


@dataclass(frozen=True)
class Rule:
    id: int
    district_id: int | None  # None: any district
    department: Named


@dataclass(frozen=True)
class Facts:
    """Everything routing looks at, copied out of the database."""

    category: Named
    default_department: Named | None
    uses_classifier: bool
    district: Named | None
    description: str
    return_count: int = 0
    excluded_department_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Decision:
    department: Named
    method: str
    rule_id: int | None = None
    triage_reason: str = ""
    model: dict[str, Any] | None = None
    explanation: dict[str, str] = field(default_factory=dict)
    # The department the request was meant for when it went to Triage for want of staff.
    unstaffed_department: Named | None = None

    def as_data(self, facts: Facts) -> dict[str, Any]:
        """What the `routed` event stores: the full reason for staff, plain words for residents."""
        data: dict[str, Any] = {
            "method": self.method,
            "department": {"id": self.department.id, "code": self.department.code},
            "category": facts.category.code,
            "district": facts.district.code if facts.district else None,
            "return_count": facts.return_count,
            "excluded_department_ids": sorted(facts.excluded_department_ids),
            "explanation": self.explanation,
        }
        if self.rule_id is not None:
            data["rule_id"] = self.rule_id
        if self.triage_reason:
            data["triage_reason"] = self.triage_reason
        if self.model is not None:
            data["model"] = self.model
        if self.unstaffed_department is not None:
            data["unstaffed_department"] = {
                "id": self.unstaffed_department.id,
                "code": self.unstaffed_department.code,
                "name_en": self.unstaffed_department.name_en,
                "name_zh_hans": self.unstaffed_department.name_zh_hans,
            }
        return data


# (label, score, top terms [(term, weight)], model version) or None
Classify = Callable[[str, frozenset[str]], Any]

_TEXT = {
    RULE: {
        "en": "Sent to {department} because you chose '{category}' in {district}.",
        "zh-hans": "已转交{department}，因为您选择了“{category}”，地点在{district}。",
    },
    RULE + "_any": {
        "en": "Sent to {department} because you chose '{category}'.",
        "zh-hans": "已转交{department}，因为您选择了“{category}”。",
    },
    CATEGORY_DEFAULT: {
        "en": "Sent to {department} because you chose '{category}'.",
        "zh-hans": "已转交{department}，因为您选择了“{category}”。",
    },
    CLASSIFIER: {
        "en": "Sent to {department} because your description mentions {terms}.",
        "zh-hans": "已转交{department}，因为您的描述中提到了{terms}。",
    },
    CLASSIFIER + "_noterms": {
        "en": "Sent to {department} because your description is most like its cases.",
        "zh-hans": "已转交{department}，因为您的描述与该部门处理的问题最相似。",
    },
    TRIAGE: {
        "en": "Sent to {department}, where staff will pass it to the right department.",
        "zh-hans": "已转交{department}，工作人员会将其转给负责的部门。",
    },
    UNSTAFFED: {
        "en": "Sent to {department}, because {skipped} has nobody to take it yet; staff will "
        "pass it to the right department.",
        "zh-hans": "已转交{department}，因为{skipped}目前没有工作人员接收；"
        "工作人员会将其转给负责的部门。",
    },
}


def _explain(key: str, **values: Any) -> dict[str, str]:
    texts = {}
    for language in LANGUAGES:
        filled = {k: (v.name(language) if isinstance(v, Named) else v) for k, v in values.items()}
        if "terms" in filled:
            quote = "“{}”" if language == "zh-hans" else "'{}'"
            sep = "、" if language == "zh-hans" else ", "
            filled["terms"] = sep.join(quote.format(t) for t in values["terms"])
        texts[language] = _TEXT[key][language].format(**filled)
    return texts


def decide(
    *,
    facts: Facts,
    rules: Sequence[Rule],
    triage: Named,
    classify: Classify | None,
    departments_by_code: dict[str, Named],
    threshold: float,
    unstaffed_ids: frozenset[int] = frozenset(),
) -> Decision:
    """The routing decision for these facts. Pure: no database, no clock.

    `unstaffed_ids`: departments with no active staff; work chosen for one goes to Triage.
    """
    excluded = facts.excluded_department_ids

    def to_triage(reason: str, model: dict[str, Any] | None = None) -> Decision:
        return Decision(
            department=triage,
            method=TRIAGE,
            triage_reason=reason,
            model=model,
            explanation=_explain(TRIAGE, department=triage),
        )

    def staffed_or_triage(decision: Decision) -> Decision:
        skipped = decision.department
        if skipped.id not in unstaffed_ids or skipped.id == triage.id:
            return decision
        return Decision(
            department=triage,
            method=TRIAGE,
            rule_id=decision.rule_id,
            triage_reason=UNSTAFFED,
            model=decision.model,
            explanation=_explain(UNSTAFFED, department=triage, skipped=skipped),
            unstaffed_department=skipped,
        )

    if facts.return_count >= MAX_RETURNS_BEFORE_TRIAGE:
        return to_triage(RETURNED_TWICE)

    district_id = facts.district.id if facts.district else None
    for rule in rules:
        if rule.department.id in excluded:
            continue
        if rule.district_id is not None and rule.district_id != district_id:
            continue
        if rule.district_id is not None and facts.district is not None:
            text = _explain(
                RULE, department=rule.department, category=facts.category, district=facts.district
            )
        else:
            text = _explain(RULE + "_any", department=rule.department, category=facts.category)
        return staffed_or_triage(
            Decision(department=rule.department, method=RULE, rule_id=rule.id, explanation=text)
        )

    default = facts.default_department
    if default is not None and default.id not in excluded:
        return staffed_or_triage(Decision(
            department=default,
            method=CATEGORY_DEFAULT,
            explanation=_explain(CATEGORY_DEFAULT, department=default, category=facts.category),
        ))

    if facts.uses_classifier and classify is not None:
        allowed = frozenset(
            code
            for code, dept in departments_by_code.items()
            if dept.id not in excluded and dept.id != triage.id
        )
        prediction = classify(facts.description, allowed) if allowed else None
        if prediction is not None:
            terms = [term for term, _ in prediction.top_terms]
            model = {
                "version": prediction.model_version,
                "label": prediction.label,
                "score": prediction.score,
                "threshold": threshold,
                "top_terms": [[term, weight] for term, weight in prediction.top_terms],
            }
            if prediction.score < threshold:
                return to_triage(LOW_CONFIDENCE, model)
            department = departments_by_code[prediction.label]
            key = CLASSIFIER if terms else CLASSIFIER + "_noterms"
            return staffed_or_triage(Decision(
                department=department,
                method=CLASSIFIER,
                model=model,
                explanation=_explain(key, department=department, terms=terms[:3]),
            ))

    return to_triage(NO_MATCH)


# --- Applying it -----------------------------------------------------------------------------


def _named(obj: Category | Department | District) -> Named:
    return Named(id=obj.pk, code=obj.code, name_en=obj.name_en, name_zh_hans=obj.name_zh_hans)


def _excluded_department_ids(request: ServiceRequest) -> frozenset[int]:
    """Departments that returned this request (from its `returned` events)."""
    if request.status != Status.RETURNED and not request.return_count:
        return frozenset()  # never returned: no need to read its events
    ids = set(
        Event.objects.filter(
            request=request, type=Event.Type.RETURNED, actor_department__isnull=False
        ).values_list("actor_department_id", flat=True)
    )
    if request.status == Status.RETURNED and request.department_id:
        ids.add(request.department_id)  # returned by someone not a member (e.g. an admin)
    return frozenset(ids)


def _classify(text: str, allowed: frozenset[str]) -> Any:
    return classifier.classify(text, allowed=allowed)


def facts_for(request: ServiceRequest, reference: Snapshot | None = None) -> Facts:
    """The routing facts of `request`; its category and district come from the reference
    data when given (no query), else from the request's relations."""
    category = district = None
    if reference is not None:
        category = reference.categories_by_id.get(request.category_id)
        district = reference.districts_by_id.get(request.district_id or 0)
    category = category or request.category
    if request.district_id and district is None:
        district = request.district
    default = category.department if category.department_id else None
    return Facts(
        category=_named(category),
        default_department=_named(default) if default and default.is_active else None,
        uses_classifier=category.uses_classifier,
        district=_named(district) if district is not None else None,
        description=request.description,
        return_count=request.return_count,
        excluded_department_ids=_excluded_department_ids(request),
    )


def request_decide(
    request: ServiceRequest, reference: Snapshot | None = None
) -> tuple[Facts, Decision] | None:
    """The facts and decision for this request as it is now; None without a Triage department.

    Departments, rules, the category and the district come from the per-process reference
    data (services.reference): deciding reads no table but the request's own events (only
    for a returned request)."""
    reference = reference or reference_snapshot()
    triage = next((d for d in reference.departments if d.is_triage), None)
    if triage is None:
        return None
    facts = facts_for(request, reference)
    rules = [
        Rule(id=r.pk, district_id=r.district_id, department=_named(r.department))
        for r in reference.rules.get(request.category_id, ())
        if r.district_id is None or r.district_id == request.district_id
    ]
    departments = {d.code: _named(d) for d in reference.departments if not d.is_triage}
    return facts, decide(
        facts=facts,
        rules=rules,
        triage=_named(triage),
        classify=_classify if facts.uses_classifier else None,
        departments_by_code=departments,
        threshold=settings.CIVICDESK["ROUTER_CONFIDENCE_THRESHOLD"],
        unstaffed_ids=reference.unstaffed_ids,
    )


def _push_annotations(request_ref: str) -> dict[str, Any]:
    """Whether anyone follows the request and its last public version (the push's gap check),
    `request_ref` naming the request's id in the outer query."""
    return {
        "has_followers": Exists(Follow.objects.filter(request_id=OuterRef(request_ref))),
        "last_public_version": Subquery(
            Event.objects.filter(
                request_id=OuterRef(request_ref), visibility=Event.Visibility.PUBLIC
            )
            .order_by("-version")
            .values("version")[:1]
        ),
    }


def _lock(
    request_id: int, announce_event_id: int | None
) -> tuple[ServiceRequest | None, Event | None]:
    """The request, locked, with its reporter and the push annotations, in one statement; with
    `announce_event_id`, its first event (`submitted`) comes along in the same statement."""
    if announce_event_id is not None:
        found = _lock_with_first_event(request_id, announce_event_id)
        if found is not None:
            return found
    alone = (
        ServiceRequest.objects.select_for_update(of=("self",))
        .select_related("reporter")
        .annotate(**_push_annotations("pk"))
        .filter(pk=request_id)
        .first()
    )
    return alone, None


def _aliases() -> tuple[tuple[str, Any], ...]:
    return (("e", Event), ("r", ServiceRequest), ("u", get_user_model()))


@functools.cache
def _first_event_sql(vendor: str, for_update: bool) -> str:
    """The routing task's one statement, written out once (the ORM would compile this join,
    its two subqueries and the lock on every report: a third of the task's Python time) and
    prepared once per connection (`core.statements`: planning it cost as much as running
    it)."""
    q = connection.ops.quote_name
    columns = ", ".join(
        f"{alias}.{q(str(f.column))}"
        for alias, model in _aliases()
        for f in model._meta.concrete_fields
    )
    event, request, user = (q(m._meta.db_table) for _, m in _aliases())
    follow = q(Follow._meta.db_table)
    # Only our own table and column names go into the text; values are parameters.
    sql = (
        f"SELECT {columns}, "  # noqa: S608
        f"EXISTS (SELECT 1 FROM {follow} f WHERE f.{q('request_id')} = r.{q('id')}), "
        f"(SELECT x.{q('version')} FROM {event} x WHERE x.{q('request_id')} = r.{q('id')} "
        f"AND x.{q('visibility')} = %s ORDER BY x.{q('version')} DESC LIMIT 1) "
        f"FROM {event} e INNER JOIN {request} r ON r.{q('id')} = e.{q('request_id')} "
        f"LEFT OUTER JOIN {user} u ON u.{q('id')} = r.{q('reporter_id')} "
        f"WHERE e.{q('id')} = %s AND e.{q('request_id')} = %s AND e.{q('version')} = 1"
    )
    return sql + (" FOR UPDATE OF r" if for_update else "")


def _from_row(model: Any, alias: str, values: Sequence[Any]) -> Any:
    """A model instance from its columns as the database returned them (converted as the ORM
    converts them: JSON, datetimes on SQLite, …)."""
    fields = model._meta.concrete_fields
    converted = []
    for f, value in zip(fields, values, strict=True):
        col = f.get_col(alias)
        for convert in connection.ops.get_db_converters(col) + f.get_db_converters(connection):
            value = convert(value, col, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


def _lock_with_first_event(
    request_id: int, event_id: int
) -> tuple[ServiceRequest, Event] | None:
    """The request locked, with its reporter, its first event and the push annotations."""
    features = connection.features
    sql = _first_event_sql(
        connection.vendor, features.has_select_for_update and features.has_select_for_update_of
    )
    rows = fetch_prepared(sql, [Event.Visibility.PUBLIC, event_id, request_id])
    if not rows:
        return None
    row = rows[0]
    sizes = [len(m._meta.concrete_fields) for _, m in _aliases()]
    event = _from_row(Event, "e", row[: sizes[0]])
    request = _from_row(ServiceRequest, "r", row[sizes[0] : sizes[0] + sizes[1]])
    user_values = row[sizes[0] + sizes[1] : sum(sizes)]
    request.reporter = (
        _from_row(get_user_model(), "u", user_values) if user_values[0] is not None else None
    )
    request.has_followers = bool(row[-2])  # type: ignore[attr-defined]
    request.last_public_version = row[-1]  # type: ignore[attr-defined]
    event.request = request
    return request, event


def _announced(event: Event, request: ServiceRequest) -> Event:
    """The request's first event, to push before the `routed` one, seen as the request was
    before routing (as a push before routing would have shown it)."""
    event.request = copy.copy(request)  # its own state: the routing below changes `request`
    event.previous_public_version = 0  # type: ignore[attr-defined]  # the first event
    event.has_followers = request.has_followers  # type: ignore[attr-defined]
    return event


def request_route(
    *, request_id: int, announce_event_id: int | None = None, push: PreparedPush | None = None
) -> Event | None:
    """Route a submitted or returned request once; anything else is a no-op (returns None).

    The row is locked for the whole decision, so two workers handed the same message
    produce one `routed` event. The `routed` event's outbox row carries the event, ready to
    push (`push`, built here if not given): a worker handles it right after commit without
    loading it again. `announce_event_id`: the request's `submitted` event, pushed first in
    the same round (`push.sent` says whether that happened; a no-op pushes nothing).
    """
    reference = reference_snapshot()
    if not classifier.model_is_loaded() and any(
        c.uses_classifier for c in reference.categories.values()
    ):
        # Load (or, the first time, train) it before taking the row lock. A worker loads it
        # at start (tasks.load_router_model); this is for other callers.
        classifier.current_model()
    with transaction.atomic(), server_bound():  # the writes prepared; hooks run after
        request, first = _lock(request_id, announce_event_id)
        if request is None:
            return None
        move = workflow.find_move(source=request.status, target=Status.ROUTED)
        if move is None or workflow.SYSTEM not in move.actors:
            return None  # already routed (or withdrawn, closed…): nothing to do
        decided = request_decide(request, reference)
        if decided is None:
            logger.error(
                "no active Triage department; request left unrouted",
                extra={"request_id": request.pk},
            )
            return None
        facts, decision = decided
        category = reference.categories_by_id.get(request.category_id)
        if category is not None:
            request.category = category
        announced = _announced(first, request) if first is not None else None
        source = request.status
        request.status = Status.ROUTED
        department = reference.departments_by_id.get(decision.department.id)
        if department is not None:
            request.department = department
        request.department_id = decision.department.id
        request.routed_at = Now()  # the database clock, like the latency benchmark reads
        request.assignee = None
        language = getattr(request.reporter, "preferred_language", "en") or "en"
        event = event_record(
            changes={
                "status": request.status,
                "department_id": request.department_id,
                "routed_at": request.routed_at,
                "assignee": None,
            },
            request=request,
            type=Event.Type.ROUTED,
            actor=None,
            visibility=Event.Visibility.PUBLIC,
            from_status=source,
            to_status=Status.ROUTED,
            text=decision.explanation.get(language, decision.explanation.get("en", "")),
            data=decision.as_data(facts),
            publish=False,
        )
        event.has_followers = request.has_followers  # type: ignore[attr-defined]
        event.previous_public_version = request.last_public_version  # type: ignore[attr-defined]
        push = push if push is not None else PreparedPush(events=[])
        push.events = [e for e in (announced, event) if e is not None]
        outbox_enqueue(topic=TOPIC_EVENT, payload={"event_id": event.pk}, prepared=push)
        return event


def requests_awaiting_routing(*, older_than_seconds: int = 30, limit: int = 500) -> list[int]:
    """Ids of requests still waiting for routing well after they were filed or returned.

    The outbox guarantees the routing task was *published*; a broker that loses it after
    acknowledging the publish (Redis killed between AOF syncs) would leave the request
    stranded. This sweep finds such requests so the task can be published again — routing
    is idempotent, so a request routed meanwhile is left as it is.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        ServiceRequest.objects.filter(
            status__in=(Status.SUBMITTED, Status.RETURNED), updated_at__lt=cutoff
        )
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )
