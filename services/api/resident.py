"""The resident's API: file requests, list and follow them, comment, add photos, answer.

Object access only through `access_request`: other people's requests are 404, not 403.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.http import FileResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from core.api.authentication import SessionTokenAuthentication
from core.api.cursors import DEFAULT_LIMIT, decode_cursor, encode_cursor
from core.api.schema import forbidden_response, name_nested_serializers, problems
from core.api.serializers import StrictSerializer
from core.errors import Forbidden, Invalid
from core.i18n import age_text
from core.users import signed_in
from services import services as svc
from services.api.common import (
    PRIORITY_NAMES,
    REFERENCE_PARAM,
    AttachmentOutputSerializer,
    CodeNameSerializer,
    PublicEventSerializer,
    attachment_data,
    code_name,
    conflict_response,
    json_datetime,
    public_event_data,
)
from services.attachments import photos_prepare
from services.gazetteer import location_resolve
from services.models import Category, Channel, Event, Follow, Precision, ServiceRequest, Status
from services.selectors import (
    NearbyCandidate,
    access_attachment,
    access_follow_target,
    access_request,
    access_request_to_follow,
    actor_kinds,
    district_by_code,
    events_for_resident,
    requests_nearby,
    requests_of_resident,
    requests_of_resident_page,
)
from services.workflow import allowed_moves

if TYPE_CHECKING:
    from datetime import datetime

    from core.users import AnyUser

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "Up to 100 printable ASCII characters. A retry with the same key and body returns the "
        "first request (200); the same key with another body is refused (422)."
    ),
)
MAX_IDEMPOTENCY_KEY = 100
# Events that carry the reporter's own words or photos: not shown to followers.
OWNER_ONLY_EVENTS = frozenset({Event.Type.COMMENT_BY_RESIDENT, Event.Type.ATTACHMENT_ADDED})


class AttributesField(serializers.JSONField):
    """An object of attribute values; in multipart forms it arrives as a JSON string."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                raise serializers.ValidationError(_("Give a JSON object.")) from None
        if not isinstance(data, dict):
            raise serializers.ValidationError(_("Give a JSON object."))
        return data


# --- Output ----------------------------------------------------------------------------------


class RequestSummarySerializer(serializers.Serializer):
    reference = serializers.CharField()
    kind = serializers.ChoiceField(choices=["request", "complaint"])
    category = CodeNameSerializer()
    status = serializers.ChoiceField(choices=Status.choices)
    outcome = serializers.CharField(allow_blank=True)
    description = serializers.CharField(help_text="The first 200 characters.")
    address = serializers.CharField(allow_blank=True)
    location_precision = serializers.ChoiceField(
        choices=Precision.choices,
        help_text="exact: a point the resident placed; address: the gazetteer's point for the "
        "address (or none); district: only the district is known (never a point).",
    )
    district = CodeNameSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    version = serializers.IntegerField()


def summary_data(r: ServiceRequest) -> dict[str, Any]:
    return {
        "reference": r.reference,
        "kind": r.kind,
        "category": code_name(r.category),
        "status": r.status,
        "outcome": r.outcome,
        "description": r.description[:200],
        "address": r.address,
        "location_precision": r.location_precision,
        "district": code_name(r.district),
        "created_at": json_datetime(r.created_at),
        "updated_at": json_datetime(r.updated_at),
        "version": r.version,
    }


class RequestDetailSerializer(serializers.Serializer):
    reference = serializers.CharField()
    kind = serializers.ChoiceField(choices=["request", "complaint"])
    category = CodeNameSerializer()
    status = serializers.ChoiceField(choices=Status.choices)
    outcome = serializers.CharField(allow_blank=True)
    is_owner = serializers.BooleanField(
        help_text=(
            "False for a follower (or staff), who sees progress but not the reporter's text, "
            "position or photos."
        )
    )
    is_following = serializers.BooleanField()
    description = serializers.CharField(allow_blank=True)
    attribute_values = serializers.DictField()
    lat = serializers.FloatField(allow_null=True)
    lon = serializers.FloatField(allow_null=True)
    address = serializers.CharField(allow_blank=True)
    location_precision = serializers.ChoiceField(
        choices=Precision.choices,
        help_text="exact: a point the resident placed; address: the gazetteer's point for the "
        "address (or none); district: only the district is known (never a point).",
    )
    street = serializers.CharField(allow_blank=True)
    district = CodeNameSerializer(allow_null=True)
    department = CodeNameSerializer(allow_null=True)
    priority = serializers.ChoiceField(choices=list(PRIORITY_NAMES.values()))
    channel = serializers.ChoiceField(choices=Channel.choices)
    is_public = serializers.BooleanField()
    related_request = serializers.CharField(allow_null=True)
    duplicate_of = serializers.CharField(allow_null=True)
    rating = serializers.IntegerField(allow_null=True)
    feedback = serializers.CharField(allow_blank=True)
    due_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    routed_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField()
    allowed_actions = serializers.ListField(
        child=serializers.CharField(),
        help_text="What the caller may do now: withdraw, confirm, reopen, rate, comment …",
    )
    attachments = AttachmentOutputSerializer(many=True)
    events = PublicEventSerializer(many=True)


def _resident_actions(user: AnyUser, r: ServiceRequest, owner: bool) -> list[str]:
    if not owner:
        return []
    kinds = actor_kinds(user=user, request=r) & {"resident"}
    names = {m.name for m in allowed_moves(source=r.status, actor_kinds=kinds)}
    actions: list[str] = [a for a in ("withdraw", "reopen") if a in names]
    if "close" in names:
        actions.insert(0, "confirm")
    if "reopen" in names:
        actions.append("not_fixed")
    if r.status == Status.CLOSED and r.rating is None:
        actions.append("rate")
    actions += ["comment", "attach"]
    return actions


def detail_data(
    user: AnyUser,
    r: ServiceRequest,
    *,
    new: bool = False,
    related: ServiceRequest | None = None,
) -> dict[str, Any]:
    """The resident's view: public events only, staff as role/department, no staff names.

    `new=True` for a request the caller has just filed: what we already know (owner, no
    followers, no photos unless stored) is not queried again.
    """
    # Only the reporter sees their own text, position and photos here. Followers see the
    # progress; staff use the staff view, where exact positions and photos are revealed
    # through the logged reveal endpoint (consent.rights), never in passing.
    owner = new or r.reporter_id == user.pk
    written = getattr(r, "new_events", None) if new else None
    if written is not None:  # what the filing itself wrote (services.request_submit)
        events = [e for e in written if e.visibility == Event.Visibility.PUBLIC]
    else:
        events = events_for_resident(request=r)
    if not owner:
        events = [e for e in events if e.type not in OWNER_ONLY_EVENTS]
    has_photos = not new or any(e.type == Event.Type.ATTACHMENT_ADDED for e in events)
    attachments = list(r.attachments.all()) if owner and has_photos else []
    if new:
        related_reference = related.reference if related else None
    elif owner and r.related_request_id:
        related_reference = (
            ServiceRequest.objects.filter(pk=r.related_request_id)
            .values_list("reference", flat=True)
            .first()
        )
    else:
        related_reference = None
    return {
        "reference": r.reference,
        "kind": r.kind,
        "category": code_name(r.category),
        "status": r.status,
        "outcome": r.outcome,
        "is_owner": owner,
        "is_following": (
            not new and user.is_authenticated
            and Follow.objects.filter(user=user, request=r).exists()
        ),
        "description": r.description if owner or r.is_public else "",
        "attribute_values": r.attribute_values if owner else {},
        "lat": r.lat if owner else None,
        "lon": r.lon if owner else None,
        "address": r.address if owner else "",
        "location_precision": r.location_precision,
        "street": r.street if owner else "",
        "district": code_name(r.district),
        "department": code_name(r.department),
        "priority": PRIORITY_NAMES.get(r.priority, "normal"),
        "channel": r.channel,
        "is_public": r.is_public,
        "related_request": related_reference,
        "duplicate_of": (
            ServiceRequest.objects.filter(pk=r.duplicate_of_id)
            .values_list("reference", flat=True)
            .first()
            if r.duplicate_of_id
            else None
        ),
        "rating": r.rating if owner else None,
        "feedback": r.feedback if owner else "",
        "due_at": r.due_at,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "routed_at": r.routed_at,
        "resolved_at": r.resolved_at,
        "closed_at": r.closed_at,
        "version": r.version,
        "allowed_actions": _resident_actions(user, r, r.reporter_id == user.pk),
        "attachments": [attachment_data(r, a) for a in attachments],
        "events": [public_event_data(e) for e in events],
    }


_DETAIL_DATETIMES = ("due_at", "created_at", "updated_at", "routed_at", "resolved_at", "closed_at")


def detail_json(data: dict[str, Any]) -> dict[str, Any]:
    """`detail_data` as RequestDetailSerializer renders it (its values are JSON-ready but for
    the datetimes), without the serializer machinery (~1 ms a call; tests check the two
    agree)."""
    out = {**data, **{key: json_datetime(data[key]) for key in _DETAIL_DATETIMES}}
    out["attachments"] = [
        {**a, "created_at": json_datetime(a["created_at"])} for a in data["attachments"]
    ]
    out["events"] = [{**e, "created_at": json_datetime(e["created_at"])} for e in data["events"]]
    return out


def detail_response(user: AnyUser, reference: str, code: int = 200, **headers: str) -> Response:
    fresh = access_request(user=user, reference=reference)
    return Response(
        RequestDetailSerializer(detail_data(user, fresh)).data, status=code, headers=headers
    )


# --- Collection: list mine, file new ----------------------------------------------------------


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
        message = _("Use 1–100 printable ASCII characters.")
        raise Invalid(message, errors={"Idempotency-Key": [message]})
    return key


class RequestCollectionApi(APIView):
    """GET: the caller's own requests. POST: file a request or complaint."""

    throttle_scope = "submit"

    class FilterSerializer(StrictSerializer):
        status = serializers.MultipleChoiceField(choices=Status.choices, required=False)
        kind = serializers.ChoiceField(choices=["request", "complaint"], required=False)
        updated_since = serializers.DateTimeField(required=False)
        cursor = serializers.CharField(required=False)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=100)

    class ListOutputSerializer(serializers.Serializer):
        results = RequestSummarySerializer(many=True)
        next_cursor = serializers.CharField(allow_null=True)

    class InputSerializer(StrictSerializer):
        category = serializers.CharField(max_length=50, help_text="Category code.")
        description = serializers.CharField(max_length=5000)
        lat = serializers.FloatField(min_value=-90, max_value=90, required=False, allow_null=True)
        lon = serializers.FloatField(
            min_value=-180, max_value=180, required=False, allow_null=True
        )
        address = serializers.CharField(
            max_length=300, required=False, allow_blank=True,
            help_text="Geocoded through the city's address gazetteer when it knows the address "
            "(precision `address`); a point given with it stays the place (precision `exact`).",
        )
        district = serializers.CharField(
            max_length=50, required=False, allow_blank=True,
            help_text="District code (GET /api/v1/districts): enough on its own (precision "
            "`district`, no point).",
        )
        attributes = AttributesField(required=False, help_text="{attribute code: value}")
        related_request = serializers.CharField(
            max_length=16, required=False, help_text="For a complaint: the earlier request."
        )
        is_public = serializers.BooleanField(required=False, default=False)
        is_private_address = serializers.BooleanField(required=False, default=False)
        photos = serializers.ListField(
            child=serializers.FileField(),
            required=False,
            help_text="JPEG, PNG or WebP; at most 5 of 10 MB each (multipart only).",
        )

    def get_throttles(self) -> list:
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    @extend_schema(
        operation_id="requests_mine_list",
        summary="My requests, most recently changed first (cursor pagination)",
        parameters=[FilterSerializer],
        responses={200: ListOutputSerializer, **problems(400, 401)},
    )
    def get(self, request: Request) -> Response:
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = params.validated_data
        limit = filters.get("limit", DEFAULT_LIMIT)
        after = decode_cursor(filters.get("cursor"), ("datetime", "int"))
        qs = requests_of_resident(
            user=request.user,
            statuses=sorted(filters.get("status", [])),
            kind=filters.get("kind", ""),
            updated_since=filters.get("updated_since"),
        )
        rows, more = requests_of_resident_page(
            qs=qs, after=(after[0], after[1]) if after else None, limit=limit
        )
        next_cursor = encode_cursor([rows[-1].updated_at, rows[-1].pk]) if more else None
        # Rows are built JSON-ready (the shape of ListOutputSerializer).
        return Response({"results": [summary_data(r) for r in rows], "next_cursor": next_cursor})

    @extend_schema(
        operation_id="requests_create",
        summary="File a service request or complaint (JSON, or multipart with photos)",
        parameters=[IDEMPOTENCY_HEADER],
        request={
            "application/json": InputSerializer,
            "multipart/form-data": InputSerializer,
        },
        responses={
            201: OpenApiResponse(RequestDetailSerializer, description="Filed"),
            200: OpenApiResponse(
                RequestDetailSerializer, description="Replay of an earlier Idempotency-Key"
            ),
            **problems(400, 401, 413, 415, 422, 429),
        },
    )
    def post(self, request: Request) -> Response:
        key = _idempotency_key(request)
        raw: Any = request.data
        data: Any
        uploads: list[Any]
        if hasattr(raw, "getlist"):
            uploads = raw.getlist("photos")
            data = {k: v for k, v in raw.items() if k != "photos"}
            if uploads:
                data["photos"] = uploads
        else:
            data = raw
            uploads = []
        if not hasattr(data, "keys"):
            raise Invalid(_("Send a JSON object."), errors={"non_field_errors": [_("Invalid.")]})
        serializer = self.InputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        mobile = isinstance(request.successful_authenticator, SessionTokenAuthentication)
        created_request, created = svc.request_file(
            reporter=signed_in(request.user),
            category=fields["category"],
            description=fields["description"],
            lat=fields.get("lat"),
            lon=fields.get("lon"),
            address=fields.get("address", ""),
            district=fields.get("district", ""),
            attribute_values=fields.get("attributes") or {},
            channel=Channel.MOBILE if mobile else Channel.WEB,
            related_request=fields.get("related_request"),
            is_public=fields.get("is_public", False),
            is_private_address=fields.get("is_private_address", False),
            photos=photos_prepare(uploads=uploads),
            idempotency_key=key,
        )
        if not created:
            return detail_response(request.user, created_request.reference)
        data = detail_data(
            request.user, created_request, new=True, related=created_request.related_request
        )
        return Response(
            detail_json(data),  # JSON-ready: the filing's answer skips the serializer machinery
            status=status.HTTP_201_CREATED,
            headers={"Location": f"/api/v1/requests/{created_request.reference}"},
        )


class NearbyApi(APIView):
    class FilterSerializer(StrictSerializer):
        category = serializers.CharField(max_length=50)
        lat = serializers.FloatField(min_value=-90, max_value=90, required=False)
        lon = serializers.FloatField(min_value=-180, max_value=180, required=False)
        address = serializers.CharField(max_length=300, required=False, allow_blank=True)
        district = serializers.CharField(max_length=50, required=False, allow_blank=True)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if ("lat" in attrs) != ("lon" in attrs):
                name = "lon" if "lat" in attrs else "lat"
                raise serializers.ValidationError({name: _("Give both lat and lon, or neither.")})
            if "lat" not in attrs and not (attrs.get("address") or "").strip() and not (
                attrs.get("district") or ""
            ).strip():
                raise serializers.ValidationError(
                    {"location": _("Give lat and lon, an address or a district.")}
                )
            return attrs

    class OutputSerializer(serializers.Serializer):
        reference = serializers.CharField()
        category = CodeNameSerializer()
        status = serializers.ChoiceField(choices=Status.choices)
        match = serializers.ChoiceField(
            choices=["distance", "address", "street", "district"],
            help_text="Why it may be the same: both exact points within the radius "
            "(distance_m), near the same address point, the same street, or the same district "
            "(both recent).",
        )
        distance_m = serializers.IntegerField(
            allow_null=True,
            help_text="Rounded to 5 m; only when both places are exact points (never to an "
            "address or a district).",
        )
        location_precision = serializers.ChoiceField(choices=Precision.choices)
        street = serializers.CharField(allow_blank=True)
        district = CodeNameSerializer(allow_null=True)
        created_at = serializers.DateTimeField()
        age = serializers.CharField(help_text='How long ago it was reported ("3 days ago").')
        followers = serializers.IntegerField()
        description = serializers.CharField(
            allow_blank=True, help_text="Only when the reporter chose to publish it."
        )
        photo_url = serializers.CharField(
            allow_null=True, help_text="Its first published photo, when the reporter published it."
        )

    @extend_schema(
        operation_id="requests_nearby",
        summary="Open requests of a category near a point, on the same street or in the same "
        "district, to follow instead of filing again",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer(many=True), **problems(400, 401)},
    )
    def get(self, request: Request) -> Response:
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = params.validated_data
        category = Category.objects.filter(code=filters["category"], is_active=True).first()
        if category is None:
            raise Invalid(_("Unknown category."), errors={"category": [_("Unknown category.")]})
        district = district_by_code(code=filters.get("district", ""))
        place = location_resolve(
            lat=filters.get("lat"), lon=filters.get("lon"),
            address=filters.get("address", ""), district=district,
        )
        now = timezone.now()
        found = requests_nearby(category=category, place=place, viewer_id=request.user.pk)
        data = [nearby_data(c, now) for c in found]
        return Response(self.OutputSerializer(data, many=True).data)


def nearby_data(candidate: NearbyCandidate, now: datetime) -> dict[str, Any]:
    r = candidate.request
    return {
        "reference": r.reference,
        "category": code_name(r.category),
        "status": r.status,
        "match": candidate.match,
        "distance_m": (
            None if candidate.distance_m is None else int(round(candidate.distance_m / 5.0) * 5)
        ),
        "location_precision": r.location_precision,
        "street": r.street,
        "district": code_name(r.district),
        "created_at": r.created_at,
        "age": age_text(r.created_at, now),
        "followers": candidate.followers,
        "description": r.description if r.is_public else "",
        "photo_url": (
            reverse("portal:report-photo", args=[r.reference, candidate.photo_token])
            if candidate.photo_token else None
        ),
    }


# --- One request -------------------------------------------------------------------------------


class RequestDetailApi(APIView):
    @extend_schema(
        operation_id="requests_retrieve",
        summary="One of my requests (or one I follow): public timeline only",
        parameters=[REFERENCE_PARAM],
        responses={200: RequestDetailSerializer, **problems(401, 404)},
    )
    def get(self, request: Request, reference: str) -> Response:
        return detail_response(request.user, reference)


class CommentCreateApi(APIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "comment"

    class InputSerializer(StrictSerializer):
        text = serializers.CharField(max_length=5000)

    @extend_schema(
        operation_id="requests_comments_create",
        summary="Add a comment to my request",
        parameters=[REFERENCE_PARAM],
        request=InputSerializer,
        responses={201: PublicEventSerializer, **problems(400, 401, 404, 429),
                   **forbidden_response()},
    )
    def post(self, request: Request, reference: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target = access_request(user=request.user, reference=reference)
        event = svc.request_comment(
            request=target, actor=signed_in(request.user), text=serializer.validated_data["text"]
        )
        return Response(PublicEventSerializer(public_event_data(event)).data, status=201)


class AttachmentCreateApi(APIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "upload"

    class InputSerializer(StrictSerializer):
        photos = serializers.ListField(child=serializers.FileField(), min_length=1)

    @extend_schema(
        operation_id="requests_attachments_create",
        summary="Add photos to a request (reporter, or staff of its department)",
        parameters=[REFERENCE_PARAM],
        request={"multipart/form-data": InputSerializer},
        responses={
            201: AttachmentOutputSerializer(many=True),
            **problems(400, 401, 404, 413, 415, 429),
            **forbidden_response(),
        },
    )
    def post(self, request: Request, reference: str) -> Response:
        if not hasattr(request.data, "getlist"):
            message = _("Send the photos as multipart/form-data.")
            raise Invalid(message, errors={"photos": [message]})
        raw: Any = request.data
        uploads = raw.getlist("photos")
        data = {k: v for k, v in raw.items() if k != "photos"}
        data["photos"] = uploads
        serializer = self.InputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        target = access_request(user=request.user, reference=reference)
        if not actor_kinds(user=request.user, request=target):
            # A follower: may see the progress, not add to the reporter's request.
            raise Forbidden(_("Only the reporter or the department can add photos."))
        photos = photos_prepare(uploads=uploads, existing=target.attachments.count())
        stored = svc.request_attach(request=target, actor=signed_in(request.user), photos=photos)
        return Response(
            AttachmentOutputSerializer(
                [attachment_data(target, a) for a in stored], many=True
            ).data,
            status=201,
        )


class AttachmentFileApi(APIView):
    @extend_schema(
        operation_id="requests_attachments_file",
        summary="The bytes of one photo (reporter and department staff only)",
        parameters=[
            REFERENCE_PARAM,
            OpenApiParameter("token", OpenApiTypes.STR, OpenApiParameter.PATH),
        ],
        responses={
            (200, "image/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The photo"),
            **problems(401, 404),
        },
    )
    def get(self, request: Request, reference: str, token: str) -> FileResponse:
        attachment = access_attachment(user=request.user, reference=reference, token=token)
        response = FileResponse(
            attachment.file.open("rb"),
            content_type=attachment.content_type,
            as_attachment=False,
            filename=f"{attachment.token}.{attachment.extension}",
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response


class _ResidentMoveApi(APIView):
    """Base for one-step resident moves: no body, answer the updated request."""

    def _respond(self, request: Request, reference: str) -> Response:
        return detail_response(request.user, reference)


MOVE_RESPONSES = {
    200: RequestDetailSerializer,
    **problems(400, 401, 404),
    **forbidden_response(),
    **conflict_response(),
}


class WithdrawApi(_ResidentMoveApi):
    @extend_schema(
        operation_id="requests_withdraw",
        summary="Withdraw my request before work starts",
        parameters=[REFERENCE_PARAM],
        request=None,
        responses=MOVE_RESPONSES,
    )
    def post(self, request: Request, reference: str) -> Response:
        target = access_request(user=request.user, reference=reference)
        svc.request_withdraw(request=target, actor=signed_in(request.user))
        return self._respond(request, reference)


class ConfirmApi(_ResidentMoveApi):
    @extend_schema(
        operation_id="requests_confirm",
        summary="Confirm the resolution (fixed): the request closes",
        parameters=[REFERENCE_PARAM],
        request=None,
        responses=MOVE_RESPONSES,
    )
    def post(self, request: Request, reference: str) -> Response:
        target = access_request(user=request.user, reference=reference)
        svc.request_confirm(request=target, actor=signed_in(request.user))
        return self._respond(request, reference)


class ReopenApi(_ResidentMoveApi):
    class InputSerializer(StrictSerializer):
        reason = serializers.CharField(max_length=5000)

    @extend_schema(
        operation_id="requests_reopen",
        summary="Reopen a resolution, with a reason",
        parameters=[REFERENCE_PARAM],
        request=InputSerializer,
        responses=MOVE_RESPONSES,
    )
    def post(self, request: Request, reference: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target = access_request(user=request.user, reference=reference)
        svc.request_reopen(
            request=target, actor=signed_in(request.user),
            reason=serializer.validated_data["reason"]
        )
        return self._respond(request, reference)


class NotFixedApi(_ResidentMoveApi):
    class InputSerializer(StrictSerializer):
        text = serializers.CharField(max_length=5000, required=False, allow_blank=True)

    @extend_schema(
        operation_id="requests_not_fixed",
        summary='Answer "not fixed" to a resolution: the request reopens',
        parameters=[REFERENCE_PARAM],
        request=InputSerializer,
        responses=MOVE_RESPONSES,
    )
    def post(self, request: Request, reference: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target = access_request(user=request.user, reference=reference)
        svc.request_reopen(
            request=target,
            actor=signed_in(request.user),
            reason=serializer.validated_data.get("text", ""),
            not_fixed=True,
        )
        return self._respond(request, reference)


class RatingApi(_ResidentMoveApi):
    class InputSerializer(StrictSerializer):
        rating = serializers.IntegerField(min_value=1, max_value=5)
        feedback = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    @extend_schema(
        operation_id="requests_rate",
        summary="Rate a closed request (1–5), once",
        parameters=[REFERENCE_PARAM],
        request=InputSerializer,
        responses=MOVE_RESPONSES,
    )
    def post(self, request: Request, reference: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target = access_request(user=request.user, reference=reference)
        svc.request_rate(
            request=target,
            actor=signed_in(request.user),
            rating=serializer.validated_data["rating"],
            feedback=serializer.validated_data.get("feedback", ""),
        )
        return self._respond(request, reference)


class FollowApi(APIView):
    class OutputSerializer(serializers.Serializer):
        reference = serializers.CharField()
        following = serializers.BooleanField()

    @extend_schema(
        operation_id="requests_follow",
        summary="Follow an open request (found via nearby) to get its updates",
        parameters=[REFERENCE_PARAM],
        request=None,
        responses={
            201: OpenApiResponse(OutputSerializer, description="Now following"),
            200: OpenApiResponse(OutputSerializer, description="Already following, or own"),
            **problems(401, 404),
        },
    )
    def post(self, request: Request, reference: str) -> Response:
        target = access_request_to_follow(user=request.user, reference=reference)
        created = svc.request_follow(request=target, user=signed_in(request.user))
        return Response(
            {"reference": target.reference, "following": True}, status=201 if created else 200
        )

    @extend_schema(
        operation_id="requests_unfollow",
        summary="Stop following a request",
        parameters=[REFERENCE_PARAM],
        request=None,
        responses={204: None, **problems(401, 404)},
    )
    def delete(self, request: Request, reference: str) -> Response:
        target = access_follow_target(user=request.user, reference=reference)
        svc.request_unfollow(request=target, user=signed_in(request.user))
        return Response(status=204)


name_nested_serializers(globals())
