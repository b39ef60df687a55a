"""The clerk's and supervisor's API: the department queue and working one request.

Staff see only their departments' requests (`access_request(as_staff=True)`; 404 elsewhere).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.cursors import DEFAULT_LIMIT, decode_cursor, encode_cursor
from core.api.schema import forbidden_response, name_nested_serializers, problems
from core.api.serializers import StrictSerializer
from core.errors import Forbidden, Invalid, NotFound
from core.i18n import localized
from core.roles import roles_for
from core.users import signed_in
from services import services as svc
from services.api.common import (
    PRIORITY_NAMES,
    PRIORITY_VALUES,
    REFERENCE_PARAM,
    CodeNameSerializer,
    code_name,
    conflict_response,
    json_datetime,
)
from services.models import OPEN_STATUSES, Event, Outcome, Precision, ServiceRequest, Status
from services.selectors import (
    QueueFilters,
    access_request,
    actor_kinds,
    events_for_staff,
    queue_counts,
    queue_page_rows,
    routing_explanation,
)
from services.staff_views import staff_view_record
from services.workflow import RESOLUTION_OUTCOMES, allowed_moves

if TYPE_CHECKING:
    from datetime import datetime

    from core.users import AnyUser, User


def _require_staff(user: AnyUser) -> None:
    if not roles_for(user).staff:
        raise Forbidden(_("Only clerks and supervisors have a queue."))


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()


def person(user: User | None) -> dict[str, Any] | None:
    return None if user is None else {"id": user.pk, "display_name": user.display_name}


class QueueItemSerializer(serializers.Serializer):
    reference = serializers.CharField()
    kind = serializers.ChoiceField(choices=["request", "complaint"])
    category = CodeNameSerializer()
    status = serializers.ChoiceField(choices=Status.choices)
    priority = serializers.ChoiceField(choices=list(PRIORITY_NAMES.values()))
    department = CodeNameSerializer(allow_null=True)
    district = CodeNameSerializer(allow_null=True)
    assignee = PersonSerializer(allow_null=True)
    address = serializers.CharField(allow_blank=True)
    location_precision = serializers.ChoiceField(
        choices=Precision.choices,
        help_text="exact: a point the resident placed; address: the gazetteer's point for the "
        "address (or none); district: only the district is known (never a point).",
    )
    description = serializers.CharField(help_text="The first 160 characters.")
    due_at = serializers.DateTimeField(allow_null=True)
    overdue = serializers.BooleanField()
    return_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    version = serializers.IntegerField()


def _code_name_of(row: dict[str, Any], relation: str) -> dict[str, str] | None:
    code = row[f"{relation}__code"]
    if code is None:
        return None
    return {
        "code": code,
        "name": localized(row[f"{relation}__name_en"], row[f"{relation}__name_zh_hans"]),
    }


def queue_item(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One queue row (from `queue_page_rows`), JSON-ready (the shape of QueueItemSerializer)."""
    due_at = row["due_at"]
    assignee_id = row["assignee_id"]
    return {
        "reference": row["reference"],
        "kind": row["kind"],
        "category": _code_name_of(row, "category"),
        "status": row["status"],
        "priority": PRIORITY_NAMES.get(row["priority"], "normal"),
        "department": _code_name_of(row, "department"),
        "district": _code_name_of(row, "district"),
        "assignee": None if assignee_id is None else {
            "id": assignee_id, "display_name": row["assignee__display_name"],
        },
        "address": "" if row["is_private_address"] else row["address"],
        "location_precision": row["location_precision"],
        "description": row["description_start"],
        "due_at": json_datetime(due_at),
        "overdue": bool(due_at and due_at < now and row["status"] in OPEN_STATUSES),
        "return_count": row["return_count"],
        "created_at": json_datetime(row["created_at"]),
        "updated_at": json_datetime(row["updated_at"]),
        "version": row["version"],
    }


class QueueFilterSerializer(StrictSerializer):
    status = serializers.MultipleChoiceField(
        choices=Status.choices, required=False, help_text="Default: all open statuses."
    )
    department = serializers.CharField(max_length=50, required=False)
    category = serializers.CharField(max_length=50, required=False)
    district = serializers.CharField(max_length=50, required=False)
    priority = serializers.ChoiceField(choices=list(PRIORITY_VALUES), required=False)
    overdue = serializers.BooleanField(required=False, allow_null=True, default=None)
    assigned = serializers.ChoiceField(choices=["me", "unassigned"], required=False)
    cursor = serializers.CharField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100)


class QueueSearchSerializer(QueueFilterSerializer):
    q = serializers.CharField(
        max_length=100, required=False,
        help_text="Text search (reference, description, a non-private address). In the body, "
        "never in the URL: search terms are personal data and URLs end up in access logs.",
    )


class QueueOutputSerializer(serializers.Serializer):
    results = QueueItemSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


def _queue_response(request: Request, f: dict[str, Any]) -> Response:
    filters = QueueFilters(
        statuses=sorted(f.get("status", [])),
        department=f.get("department", ""),
        category=f.get("category", ""),
        district=f.get("district", ""),
        priority=PRIORITY_VALUES[f["priority"]] if f.get("priority") else None,
        overdue=f.get("overdue"),
        assigned=f.get("assigned", ""),
        q=f.get("q", ""),
    )
    after = decode_cursor(f.get("cursor"), ("int", "datetime?", "int"))
    rows, more = queue_page_rows(
        user=request.user,
        filters=filters,
        after=(after[0], after[1], after[2]) if after else None,
        limit=f.get("limit", DEFAULT_LIMIT),
    )
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor([last["priority"], last["due_at"], last["id"]])
    now = timezone.now()
    # Plain rows built JSON-ready: model instances and the serializer machinery would cost
    # more than the query (bench/queue.py).
    return Response({"results": [queue_item(r, now) for r in rows], "next_cursor": next_cursor})


class QueueApi(APIView):
    FilterSerializer = QueueFilterSerializer
    OutputSerializer = QueueOutputSerializer

    @extend_schema(
        operation_id="queue_list",
        summary="My departments' work: priority (highest first), then deadline; keyset pages",
        description="Filters in the query string; text search only by POST (queue_search).",
        parameters=[QueueFilterSerializer],
        responses={200: QueueOutputSerializer, **problems(400, 401), **forbidden_response()},
    )
    def get(self, request: Request) -> Response:
        _require_staff(request.user)
        if "q" in request.query_params:
            raise Invalid(
                _("Search text goes in the body of POST /api/v1/queue, never in the URL."),
                errors={"q": [_("Send the search by POST.")]},
            )
        params = QueueFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        return _queue_response(request, params.validated_data)

    @extend_schema(
        operation_id="queue_search",
        summary="The queue with a text search: the same filters and pages, in a JSON body",
        request=QueueSearchSerializer,
        responses={200: QueueOutputSerializer, **problems(400, 401), **forbidden_response()},
    )
    def post(self, request: Request) -> Response:
        _require_staff(request.user)
        params = QueueSearchSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        return _queue_response(request, params.validated_data)


class QueueCountsApi(APIView):
    class FilterSerializer(StrictSerializer):
        department = serializers.CharField(max_length=50, required=False)

    class OutputSerializer(serializers.Serializer):
        total = serializers.IntegerField()
        overdue = serializers.IntegerField()
        unassigned = serializers.IntegerField()
        by_status = serializers.DictField(child=serializers.IntegerField())

    @extend_schema(
        operation_id="queue_counts",
        summary="Counts of open work per status, overdue and unassigned (one light query)",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer, **problems(400, 401), **forbidden_response()},
    )
    def get(self, request: Request) -> Response:
        _require_staff(request.user)
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        counts = queue_counts(
            user=request.user, department=params.validated_data.get("department", "")
        )
        return Response(self.OutputSerializer(counts).data)


# --- One request, staff view ----------------------------------------------------------------


class StaffActorSerializer(serializers.Serializer):
    role = serializers.CharField()
    department = CodeNameSerializer(allow_null=True)
    display_name = serializers.CharField(
        allow_null=True, help_text="Staff colleagues only; residents are never named here."
    )


class StaffEventSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=Event.Type.choices)
    visibility = serializers.ChoiceField(choices=Event.Visibility.choices)
    created_at = serializers.DateTimeField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    text = serializers.CharField()
    details = serializers.DictField(help_text="Structured data: routing reason, outcome …")
    actor = StaffActorSerializer()
    version = serializers.IntegerField()


def staff_event_data(event: Event) -> dict[str, Any]:
    staff_actor = event.actor_role in ("clerk", "supervisor", "staff")
    return {
        "type": event.type,
        "visibility": event.visibility,
        "created_at": event.created_at,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "text": event.text,
        "details": event.data or {},
        "actor": {
            "role": event.actor_role or "system",
            "department": code_name(event.actor_department),
            "display_name": (
                event.actor.display_name if staff_actor and event.actor is not None else None
            ),
        },
        "version": event.version,
    }


class MoveSerializer(serializers.Serializer):
    move = serializers.CharField()
    to_status = serializers.ChoiceField(choices=Status.choices)
    needs_text = serializers.BooleanField()
    needs_outcome = serializers.BooleanField()


class StaffDetailSerializer(serializers.Serializer):
    reference = serializers.CharField()
    kind = serializers.ChoiceField(choices=["request", "complaint"])
    category = CodeNameSerializer()
    status = serializers.ChoiceField(choices=Status.choices)
    outcome = serializers.CharField(allow_blank=True)
    priority = serializers.ChoiceField(choices=list(PRIORITY_NAMES.values()))
    description = serializers.CharField()
    attribute_values = serializers.DictField()
    lat = serializers.FloatField(allow_null=True)
    lon = serializers.FloatField(allow_null=True)
    address = serializers.CharField(allow_blank=True)
    is_private_address = serializers.BooleanField(
        help_text=(
            "A home address: lat, lon and address are withheld here and shown only through "
            "POST …/reveal (logged, visible to the resident)."
        )
    )
    location_precision = serializers.ChoiceField(
        choices=Precision.choices,
        help_text="exact: a point the resident placed; address: the gazetteer's point for the "
        "address (or none); district: only the district is known (never a point).",
    )
    street = serializers.CharField(allow_blank=True)
    district = CodeNameSerializer(allow_null=True)
    department = CodeNameSerializer(allow_null=True)
    assignee = PersonSerializer(allow_null=True)
    channel = serializers.CharField()
    has_reporter = serializers.BooleanField(
        help_text="False after the reporter erased their account."
    )
    related_request = serializers.CharField(allow_null=True)
    duplicate_of = serializers.CharField(allow_null=True)
    duplicates = serializers.ListField(child=serializers.CharField())
    followers = serializers.IntegerField()
    rating = serializers.IntegerField(allow_null=True)
    feedback = serializers.CharField(allow_blank=True)
    return_count = serializers.IntegerField()
    due_at = serializers.DateTimeField(allow_null=True)
    sla_breached_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    routed_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField()
    routing = serializers.DictField(
        allow_null=True, help_text="Why it was routed here (data of the latest routed event)."
    )
    allowed_moves = MoveSerializer(many=True)
    outcomes = serializers.ListField(child=serializers.ChoiceField(choices=Outcome.choices))
    photo_count = serializers.IntegerField(
        help_text="Photos are shown through POST …/reveal (logged, visible to the resident)."
    )
    events = StaffEventSerializer(many=True)


def staff_detail_data(user: AnyUser, r: ServiceRequest) -> dict[str, Any]:
    events = events_for_staff(request=r)
    kinds = actor_kinds(user=user, request=r)
    refs = dict(
        ServiceRequest.objects.filter(
            pk__in=[pk for pk in (r.related_request_id, r.duplicate_of_id) if pk]
        ).values_list("pk", "reference")
    )
    return {
        "reference": r.reference,
        "kind": r.kind,
        "category": code_name(r.category),
        "status": r.status,
        "outcome": r.outcome,
        "priority": PRIORITY_NAMES.get(r.priority, "normal"),
        "description": r.description,
        "attribute_values": r.attribute_values,
        "lat": None if r.is_private_address else r.lat,
        "lon": None if r.is_private_address else r.lon,
        "address": "" if r.is_private_address else r.address,
        "is_private_address": r.is_private_address,
        "location_precision": r.location_precision,
        "street": "" if r.is_private_address else r.street,
        "district": code_name(r.district),
        "department": code_name(r.department),
        "assignee": person(r.assignee),
        "channel": r.channel,
        "has_reporter": r.reporter_id is not None,
        "related_request": refs.get(r.related_request_id or 0),
        "duplicate_of": refs.get(r.duplicate_of_id or 0),
        "duplicates": list(r.duplicates.order_by("id").values_list("reference", flat=True)),
        "followers": r.followers.count(),
        "rating": r.rating,
        "feedback": r.feedback,
        "return_count": r.return_count,
        "due_at": r.due_at,
        "sla_breached_at": r.sla_breached_at,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "routed_at": r.routed_at,
        "resolved_at": r.resolved_at,
        "closed_at": r.closed_at,
        "version": r.version,
        "routing": routing_explanation(events=events),
        "allowed_moves": [
            {
                "move": m.name,
                "to_status": m.target,
                "needs_text": m.needs_text,
                "needs_outcome": m.needs_outcome,
            }
            for m in allowed_moves(source=r.status, actor_kinds=kinds)
        ],
        "outcomes": list(RESOLUTION_OUTCOMES),
        "photo_count": r.attachments.count(),
        "events": [staff_event_data(e) for e in events],
    }


def staff_detail_response(user: AnyUser, reference: str, code: int = 200) -> Response:
    fresh = access_request(user=user, reference=reference, as_staff=True)
    return Response(StaffDetailSerializer(staff_detail_data(user, fresh)).data, status=code)


STAFF_MOVE_RESPONSES = {
    200: StaffDetailSerializer,
    **problems(400, 401, 404),
    **forbidden_response(),
    **conflict_response(),
}


class StaffRequestDetailApi(APIView):
    @extend_schema(
        operation_id="staff_requests_retrieve",
        summary="A request of my department: all events, internal notes, routing explanation",
        parameters=[REFERENCE_PARAM],
        responses={200: StaffDetailSerializer, **problems(401, 404)},
    )
    def get(self, request: Request, reference: str) -> Response:
        sr = access_request(user=request.user, reference=reference, as_staff=True)
        # The detail carries the resident's description and place: a recorded look.
        staff_view_record(actor=signed_in(request.user), request=sr)
        return Response(StaffDetailSerializer(staff_detail_data(request.user, sr)).data)


def staff_target(
    request: Request, reference: str, input_serializer: type[serializers.Serializer] | None = None
) -> tuple[ServiceRequest, dict[str, Any]]:
    """A staff move's body, validated (400 with field errors), and its request, which must be
    one of the caller's departments' (404 elsewhere): checked in that order."""
    data: dict[str, Any] = {}
    if input_serializer is not None:
        serializer = input_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
    return access_request(user=request.user, reference=reference, as_staff=True), data


class AssignApi(APIView):
    class InputSerializer(StrictSerializer):
        assignee_id = serializers.IntegerField(
            required=False,
            allow_null=True,
            help_text="Omit (or null) to take it yourself; supervisors may name a clerk.",
        )

    @extend_schema(
        operation_id="staff_requests_assign",
        summary="Take a request (clerk) or assign it to a clerk of the department (supervisor)",
        parameters=[REFERENCE_PARAM],
        request=InputSerializer,
        responses=STAFF_MOVE_RESPONSES,
    )
    def post(self, request: Request, reference: str) -> Response:
        target, data = staff_target(request, reference, self.InputSerializer)
        assignee = None
        assignee_id = data.get("assignee_id")
        if assignee_id is not None:
            assignee = get_user_model().objects.filter(pk=assignee_id, is_active=True).first()
            if assignee is None:
                raise Invalid(
                    _("Choose a clerk of this department."),
                    errors={"assignee_id": [_("Choose a clerk of this department.")]},
                )
        svc.request_assign(request=target, actor=signed_in(request.user), assignee=assignee)
        return staff_detail_response(request.user, reference)


class UnassignApi(APIView):
    @extend_schema(
        operation_id="staff_requests_unassign",
        summary="Put a request back in the department's pool (its assignee, or a supervisor)",
        parameters=[REFERENCE_PARAM],
        request=None,
        responses=STAFF_MOVE_RESPONSES,
    )
    def post(self, request: Request, reference: str) -> Response:
        target, _data = staff_target(request, reference)
        svc.request_unassign(request=target, actor=signed_in(request.user))
        return staff_detail_response(request.user, reference)


class PriorityApi(APIView):
    class InputSerializer(StrictSerializer):
        priority = serializers.ChoiceField(choices=list(PRIORITY_VALUES))
        reason = serializers.CharField(max_length=5000, help_text="Why; kept on the timeline.")

    @extend_schema(
        operation_id="staff_requests_priority",
        summary="Raise or lower an open request's priority, with a reason (internal)",
        parameters=[REFERENCE_PARAM],
        request=InputSerializer,
        responses=STAFF_MOVE_RESPONSES,
    )
    def post(self, request: Request, reference: str) -> Response:
        target, data = staff_target(request, reference, self.InputSerializer)
        svc.request_set_priority(
            request=target,
            actor=signed_in(request.user),
            priority=PRIORITY_VALUES[data["priority"]],
            reason=data["reason"],
        )
        return staff_detail_response(request.user, reference)


class TransitionApi(APIView):
    class InputSerializer(StrictSerializer):
        to_status = serializers.ChoiceField(choices=Status.choices)
        text = serializers.CharField(
            max_length=5000,
            required=False,
            allow_blank=True,
            help_text="Public reply (resolve) or reason (reject, return); required for those.",
        )
        outcome = serializers.ChoiceField(
            choices=[(o.value, o.label) for o in RESOLUTION_OUTCOMES],
            required=False,
            help_text="Required when resolving.",
        )
        expected_version = serializers.IntegerField(
            required=False, help_text="Refuse (409) if the request changed since this version."
        )

    @extend_schema(
        operation_id="staff_requests_transition",
        summary="Move a request along the workflow (start, resolve, reject, close …)",
        parameters=[REFERENCE_PARAM],
        request=InputSerializer,
        responses=STAFF_MOVE_RESPONSES,
    )
    def post(self, request: Request, reference: str) -> Response:
        target, data = staff_target(request, reference, self.InputSerializer)
        svc.request_transition(
            request=target,
            actor=signed_in(request.user),
            to_status=data["to_status"],
            text=data.get("text", ""),
            outcome=data.get("outcome", ""),
            expected_version=data.get("expected_version"),
        )
        return staff_detail_response(request.user, reference)


class TextInputSerializer(StrictSerializer):
    text = serializers.CharField(max_length=5000)


class ReplyApi(APIView):
    @extend_schema(
        operation_id="staff_requests_reply",
        summary="Answer the resident publicly",
        parameters=[REFERENCE_PARAM],
        request=TextInputSerializer,
        responses={
            201: StaffEventSerializer,
            **problems(400, 401, 404),
            **forbidden_response(),
        },
    )
    def post(self, request: Request, reference: str) -> Response:
        target, data = staff_target(request, reference, TextInputSerializer)
        event = svc.request_reply(
            request=target, actor=signed_in(request.user), text=data["text"]
        )
        return Response(StaffEventSerializer(staff_event_data(event)).data, status=201)


class NoteApi(APIView):
    @extend_schema(
        operation_id="staff_requests_note",
        summary="Write an internal note (never shown to the resident)",
        parameters=[REFERENCE_PARAM],
        request=TextInputSerializer,
        responses={
            201: StaffEventSerializer,
            **problems(400, 401, 404),
            **forbidden_response(),
        },
    )
    def post(self, request: Request, reference: str) -> Response:
        target, data = staff_target(request, reference, TextInputSerializer)
        event = svc.request_note(
            request=target, actor=signed_in(request.user), text=data["text"]
        )
        return Response(StaffEventSerializer(staff_event_data(event)).data, status=201)


class ReturnApi(APIView):
    class InputSerializer(StrictSerializer):
        reason = serializers.CharField(max_length=5000)

    @extend_schema(
        operation_id="staff_requests_return",
        summary="Send back for re-routing (wrong department), with a reason",
        parameters=[REFERENCE_PARAM],
        request=InputSerializer,
        responses={
            200: OpenApiResponse(
                StaffDetailSerializer, description="Returned; you may no longer see it"
            ),
            **problems(400, 401, 404),
            **forbidden_response(),
            **conflict_response(),
        },
    )
    def post(self, request: Request, reference: str) -> Response:
        target, data = staff_target(request, reference, self.InputSerializer)
        svc.request_return(
            request=target, actor=signed_in(request.user), reason=data["reason"]
        )
        # Routing may already have moved it elsewhere (eager mode): answer with what we did.
        target.refresh_from_db()
        return Response(StaffDetailSerializer(staff_detail_data(request.user, target)).data)


class DuplicateApi(APIView):
    class InputSerializer(StrictSerializer):
        original = serializers.CharField(max_length=16, help_text="Reference of the original.")
        text = serializers.CharField(max_length=5000, required=False, allow_blank=True)

    @extend_schema(
        operation_id="staff_requests_mark_duplicate",
        summary="Close as a duplicate of another request; its followers move to the original",
        parameters=[REFERENCE_PARAM],
        request=InputSerializer,
        responses=STAFF_MOVE_RESPONSES,
    )
    def post(self, request: Request, reference: str) -> Response:
        target, data = staff_target(request, reference, self.InputSerializer)
        try:
            original = access_request(
                user=request.user, reference=data["original"].upper(), as_staff=True
            )
        except NotFound:
            raise Invalid(
                _("No such request in your departments."),
                errors={"original": [_("No such request in your departments.")]},
            ) from None
        svc.request_mark_duplicate(
            request=target, actor=signed_in(request.user),
            original=original, text=data.get("text", "")
        )
        return staff_detail_response(request.user, reference)


name_nested_serializers(globals())
