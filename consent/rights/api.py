"""REST API for residents' data rights: staff reveals, my access log, export, erasure, and the
data officer's access review and data-subject requests. Thin: parse, call, shape.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import get_language
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.rights import selectors
from consent.rights.counter import DSR_ACTIONS, dsr_action
from consent.rights.erasure import account_erase, current_sessions
from consent.rights.exports import export_file_path, export_start
from consent.rights.models import AccessEvent, DataSubjectRequest, ExportJob
from consent.rights.requests import dsr_create, dsr_update
from consent.rights.reveals import REVEAL_FIELDS, REVEAL_REASONS, contact_details_reveal
from core.api.problems import problem
from core.api.schema import name_nested_serializers, problems
from core.api.streaming import export_response
from core.errors import Forbidden
from core.roles import roles_for
from core.users import signed_in

LANGUAGE_HEADER = OpenApiParameter(
    "Accept-Language", str, OpenApiParameter.HEADER,
    description="`en` (default) or `zh-hans`: the plain-words text follows it.",
)
NO_STORE = {"Cache-Control": "no-store"}


def _channel(request: Request) -> str:
    """web for browser sessions, mobile for the app's session token."""
    return "mobile" if request.headers.get("X-Session-Token") else "web"


# --- Staff: reveal on demand -----------------------------------------------------------------


class RevealApi(APIView):
    class InputSerializer(serializers.Serializer):
        fields = serializers.ListField(  # type: ignore[assignment]
            child=serializers.ChoiceField(choices=list(REVEAL_FIELDS)),
            allow_empty=False, max_length=len(REVEAL_FIELDS),
        )
        purpose = serializers.CharField(
            max_length=60, help_text="A purpose code from the data-use register that declares "
            "these data categories, e.g. service-delivery.",
        )
        reason = serializers.ChoiceField(
            choices=list(REVEAL_REASONS), required=False, allow_blank=True,
            help_text="Shown to the resident in plain words; derived from the fields if left out.",
        )

    class OutputSerializer(serializers.Serializer):
        request = serializers.CharField()
        access_event = serializers.CharField()
        log_index = serializers.IntegerField()
        purpose = serializers.CharField()
        values = serializers.DictField(
            help_text="name, email, phone, exact_location {lat, lon, address}, photos [...]"
        )

    @extend_schema(
        operation_id="staff_requests_reveal",
        summary="Show the reporter's contact details, exact location or photos (logged)",
        description="Each call is one access event: stored for the resident (role and "
        "department, not your name) and appended to the transparency log.",
        request=InputSerializer,
        responses={200: OutputSerializer, **problems(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, reference: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        v = serializer.validated_data
        reveal = contact_details_reveal(
            actor=signed_in(request.user), reference=reference, fields=v["fields"],
            purpose=v["purpose"], reason=v.get("reason", ""),
        )
        body = {
            "request": reveal.event.request_reference,
            "access_event": str(reveal.event.event_id),
            "log_index": reveal.event.log_entry_id,
            "purpose": getattr(reveal.event.purpose, "code", ""),
            "values": reveal.values,
        }
        return Response(self.OutputSerializer(body).data, headers=NO_STORE)


# --- Resident: access log --------------------------------------------------------------------


class AccessEventSerializer(serializers.Serializer):
    event_id = serializers.CharField()
    text = serializers.CharField(help_text="Plain words in the request's language.")
    kind = serializers.ChoiceField(choices=AccessEvent.Kind.choices)
    at = serializers.DateTimeField()
    actor_role = serializers.CharField()
    department = serializers.DictField(allow_null=True)
    fields = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]
    purpose = serializers.DictField(
        allow_null=True, help_text="Null when no purpose of the register covers the look."
    )
    reason = serializers.CharField()
    request = serializers.CharField(allow_null=True)
    log_index = serializers.IntegerField()


class MyAccessLogApi(APIView):
    class InputSerializer(serializers.Serializer):
        limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)
        before = serializers.DateTimeField(required=False, help_text="older than this time")

    @extend_schema(
        operation_id="me_access_log",
        summary="Who looked at my personal data, when and why",
        parameters=[InputSerializer, LANGUAGE_HEADER],
        responses={200: AccessEventSerializer(many=True), **problems(400, 401)},
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        qs = selectors.my_access_events(user=request.user)
        if params.validated_data.get("before"):
            qs = qs.filter(created_at__lt=params.validated_data["before"])
        language = get_language()
        rows = [selectors.access_event_for_resident(e, language)
                for e in qs[: params.validated_data["limit"]]]
        return Response(AccessEventSerializer(rows, many=True).data)


# --- Resident: export ------------------------------------------------------------------------


class ExportJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=ExportJob.State.choices)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    size_bytes = serializers.IntegerField()
    sha256 = serializers.CharField(allow_blank=True)
    download_url = serializers.CharField(
        allow_null=True, help_text="Authenticated, owner only, until expires_at."
    )
    status_url = serializers.CharField()


def export_job_data(job: ExportJob) -> dict[str, Any]:
    base = f"/api/v1/me/export/{job.pk}"
    ready = job.state == ExportJob.State.READY and (
        job.expires_at is None or job.expires_at > timezone.now()
    )
    return {
        "id": job.pk,
        "state": job.state,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "expires_at": job.expires_at,
        "size_bytes": job.size_bytes,
        "sha256": job.sha256,
        "download_url": f"{base}/download" if ready else None,
        "status_url": base,
    }


class ExportCollectionApi(APIView):
    @extend_schema(
        operation_id="me_export_create",
        summary="Export everything about me (GDPR Art. 15 + 20)",
        description="Starts a background job and answers 202 with it. While one is queued or "
        "running, that one is returned (200) instead of starting another.",
        request=None,
        responses={200: ExportJobSerializer, 202: ExportJobSerializer, **problems(401)},
    )
    def post(self, request: Request) -> Response:
        job, created = export_start(user=signed_in(request.user), channel=_channel(request))
        job.refresh_from_db()
        code = status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        headers = {**NO_STORE, "Location": f"/api/v1/me/export/{job.pk}"}
        return Response(ExportJobSerializer(export_job_data(job)).data, status=code,
                        headers=headers)

    @extend_schema(
        operation_id="me_export_list",
        summary="My exports, newest first",
        responses={200: ExportJobSerializer(many=True), **problems(401)},
    )
    def get(self, request: Request) -> Response:
        jobs = ExportJob.objects.filter(user=signed_in(request.user)).order_by("-created_at")[:20]
        return Response(ExportJobSerializer([export_job_data(j) for j in jobs], many=True).data,
                        headers=NO_STORE)


class ExportDetailApi(APIView):
    @extend_schema(
        operation_id="me_export_retrieve",
        summary="State of one of my exports (queued, running, ready, failed, expired)",
        responses={200: ExportJobSerializer, **problems(401, 404)},
    )
    def get(self, request: Request, job_id: str) -> Response:
        job = selectors.access_export_job(user=signed_in(request.user), job_id=job_id)
        return Response(ExportJobSerializer(export_job_data(job)).data, headers=NO_STORE)


class ZipRenderer(BaseRenderer):
    """Lets clients ask for `Accept: application/zip`; errors still render as JSON text."""

    media_type = "application/zip"
    format = "zip"

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: Any = None) -> bytes:
        if isinstance(data, bytes):
            return data
        return json.dumps(data, cls=DjangoJSONEncoder).encode()


class ExportDownloadApi(APIView):
    renderer_classes = [JSONRenderer, ZipRenderer]

    @extend_schema(
        operation_id="me_export_download",
        summary="Download my export (zip: civicdesk-export.json + photos/)",
        responses={
            (200, "application/zip"): OpenApiResponse(description="The export archive."),
            **problems(401, 404, 409, 410),
        },
    )
    def get(self, request: Request, job_id: str) -> Any:
        job = selectors.access_export_job(user=signed_in(request.user), job_id=job_id)
        if job.state == ExportJob.State.EXPIRED or (
            job.expires_at is not None and job.expires_at <= timezone.now()
        ):
            return problem(410, "This download link has expired; start a new export.",
                           code="gone")
        if job.state != ExportJob.State.READY:
            return problem(409, f"The export is {job.state}, not ready yet.", code="conflict")
        path = export_file_path(job)
        if not path.is_file():
            return problem(410, "The export file is no longer available.", code="gone")
        stamp = timezone.localtime(job.finished_at or job.created_at).strftime("%Y%m%d")
        response = FileResponse(path.open("rb"), as_attachment=True,
                                filename=f"civicdesk-export-{stamp}.zip",
                                content_type="application/zip")
        response["Cache-Control"] = "no-store"
        return response


# --- Resident: erasure -----------------------------------------------------------------------


def recently_reauthenticated(request: Request) -> bool:
    """allauth's own check, on the session behind this call (app token or browser cookie)."""
    from allauth.account.internal.flows.reauthentication import did_recently_reauthenticate

    for session in current_sessions(request):
        if did_recently_reauthenticate(SimpleNamespace(user=request.user, session=session)):
            return True
    return False


def reauthentication_required(request: Request) -> Response:
    """401 in allauth headless's shape (data.flows) inside our problem-details body."""
    from allauth.account.internal.flows.reauthentication import get_reauthentication_flows

    flows = get_reauthentication_flows(request.user)
    app = "app" if request.headers.get("X-Session-Token") else "browser"
    return problem(
        401,
        "Confirm it is you: re-authenticate (password or second factor), then try again "
        "within a few minutes.",
        code="reauthentication_required",
        extra={
            "data": {"flows": flows},
            "meta": {"is_authenticated": True},
            "reauthenticate": {
                "password": f"/_allauth/{app}/v1/auth/reauthenticate",
                "mfa": f"/_allauth/{app}/v1/auth/2fa/reauthenticate",
                "web": "/accounts/reauthenticate/",
            },
        },
        headers={"WWW-Authenticate": 'X-Session-Token realm="api"'},
    )


class AccountDeleteApi(APIView):
    class InputSerializer(serializers.Serializer):
        dry_run = serializers.BooleanField(
            default=True, help_text="Only show what would be removed and what is kept, and why."
        )

    class OutputSerializer(serializers.Serializer):
        dry_run = serializers.BooleanField()
        removed = serializers.ListField(child=serializers.DictField())
        kept = serializers.ListField(child=serializers.DictField())
        counts = serializers.DictField(child=serializers.IntegerField())
        finality = serializers.DictField(
            help_text="When the erasure becomes final: the key is deleted from the key store "
            "at once; its backups and the main database's backups taken before the erasure "
            "are gone by link_gone_for_good_by (UTC)."
        )
        receipt = serializers.DictField(allow_null=True)

    @extend_schema(
        operation_id="me_delete",
        summary="Erase my account (GDPR Art. 17); dry_run shows what would happen",
        description="The real erasure needs a recent re-authentication (allauth: POST "
        "/_allauth/app/v1/auth/reauthenticate); otherwise 401 with data.flows as allauth "
        "headless answers. Requests stay as anonymised records; a signed receipt is returned.",
        request=InputSerializer,
        responses={200: OutputSerializer, **problems(400, 401, 409)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        dry_run = serializer.validated_data["dry_run"]
        if not dry_run and not recently_reauthenticated(request):
            return reauthentication_required(request)
        result = account_erase(
            user=signed_in(request.user), dry_run=dry_run, http_request=request,
            channel=_channel(request),
        )
        body = {
            "dry_run": result.dry_run,
            **result.plan.as_json(),
            "receipt": selectors.erasure_receipt_json(result.receipt) if result.receipt else None,
        }
        if result.receipt is not None:
            body["counts"] = dict(result.receipt.summary["removed"])
        return Response(self.OutputSerializer(body).data, headers=NO_STORE)


# --- Data officer: access review -------------------------------------------------------------


def _access_events(p: dict[str, Any]) -> Any:
    """The access events matching validated list/export filters (newest first)."""
    return selectors.officer_access_events(
        actor=p.get("actor"), department=p.get("department", ""),
        purpose=p.get("purpose", ""), since=p.get("since"), until=p.get("until"),
        kind=p.get("kind", ""),
    )


class OfficerAccessEventListApi(APIView):
    class InputSerializer(serializers.Serializer):
        actor = serializers.IntegerField(required=False, min_value=1)
        department = serializers.SlugField(required=False)
        purpose = serializers.SlugField(required=False)
        kind = serializers.ChoiceField(choices=AccessEvent.Kind.choices, required=False)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)
        anomalous = serializers.BooleanField(required=False, allow_null=True, default=None)
        before_id = serializers.IntegerField(required=False, min_value=1)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
                raise serializers.ValidationError({"until": ["Must be after since."]})
            return attrs

    class RowSerializer(serializers.Serializer):
        event_id = serializers.CharField()
        kind = serializers.CharField()
        at = serializers.DateTimeField()
        actor_id = serializers.IntegerField(allow_null=True, help_text="Internal account id.")
        actor_role = serializers.CharField()
        department = serializers.CharField(allow_null=True)
        subject_pseudonym = serializers.CharField(allow_null=True)
        request = serializers.CharField(allow_null=True)
        fields = serializers.ListField(  # type: ignore[assignment]
            child=serializers.CharField()
        )
        purpose = serializers.CharField()
        reason = serializers.CharField()
        log_index = serializers.IntegerField()
        actor_day_count = serializers.IntegerField()
        anomalous = serializers.BooleanField()

    class OutputSerializer(serializers.Serializer):
        results = serializers.ListField(child=serializers.DictField())
        next_before_id = serializers.IntegerField(allow_null=True)
        anomaly_threshold = serializers.IntegerField()
        anomalies = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        operation_id="officer_access_events",
        summary="Staff access to personal data: filter by actor, department, purpose, time",
        description="Each row is flagged `anomalous` when its actor had more access events "
        "that day than the threshold (settings CIVICDESK.ACCESS_ANOMALY_DAILY_REVEALS).",
        parameters=[InputSerializer],
        responses={200: OutputSerializer, **problems(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        selectors.require_data_officer(request.user)
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        p = params.validated_data
        qs = _access_events(p)
        if p.get("before_id"):
            qs = qs.filter(pk__lt=p["before_id"])
        events = list(qs[: p["limit"] + 1])
        more = len(events) > p["limit"]
        events = events[: p["limit"]]
        rows = selectors.officer_access_rows(events)
        if p.get("anomalous") is not None:
            rows = [r for r in rows if r["anomalous"] == p["anomalous"]]
        body = {
            "results": [self.RowSerializer(r).data for r in rows],
            "next_before_id": events[-1].pk if more else None,
            "anomaly_threshold": selectors.anomaly_threshold(),
            "anomalies": selectors.access_anomalies(since=p.get("since"), until=p.get("until")),
        }
        return Response(body)


ACCESS_EXPORT_HEADER = [
    "event_id", "kind", "at", "actor_id", "actor_role", "department", "subject_pseudonym",
    "request", "fields", "purpose", "reason", "log_index", "actor_day_count", "anomalous",
]


class OfficerAccessEventExportApi(APIView):
    class InputSerializer(OfficerAccessEventListApi.InputSerializer):
        before_id = None  # type: ignore[assignment]
        limit = None  # type: ignore[assignment]
        output = serializers.ChoiceField(choices=["csv", "json"], default="csv")

    throttle_scope = "export"

    @extend_schema(
        operation_id="officer_access_events_export",
        summary="Export filtered staff access events as CSV or JSON (streamed)",
        parameters=[InputSerializer],
        responses={(200, "text/csv"): str,
                   (200, "application/json"): OfficerAccessEventListApi.RowSerializer(many=True),
                   **problems(400, 401, 403)},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        selectors.require_data_officer(request.user)
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        p = params.validated_data
        qs = _access_events(p)
        rows = selectors.iter_officer_access_rows(qs)
        if p.get("anomalous") is not None:
            rows = (r for r in rows if r["anomalous"] == p["anomalous"])
        return export_response(
            rows, output=p["output"], header=ACCESS_EXPORT_HEADER, filename="access-events"
        )


# --- Data-subject requests (counter and officer) ---------------------------------------------


class DsrSerializer(serializers.Serializer):
    reference = serializers.CharField()
    kind = serializers.ChoiceField(choices=DataSubjectRequest.Kind.choices)
    channel = serializers.ChoiceField(choices=DataSubjectRequest.Channel.choices)
    status = serializers.ChoiceField(choices=DataSubjectRequest.Status.choices)
    subject_pseudonym = serializers.CharField(allow_blank=True)
    subject_erased = serializers.BooleanField()
    recorded_by = serializers.IntegerField(allow_null=True, help_text="Account id of the clerk.")
    received_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField()
    overdue = serializers.BooleanField()
    completed_at = serializers.DateTimeField(allow_null=True)
    outcome = serializers.CharField(allow_blank=True)
    export_job = serializers.CharField(allow_null=True)
    erasure_receipt = serializers.CharField(allow_null=True)


def dsr_data(d: DataSubjectRequest) -> dict[str, Any]:
    return {
        "reference": d.reference,
        "kind": d.kind,
        "channel": d.channel,
        "status": d.status,
        "subject_pseudonym": d.subject_pseudonym,
        "subject_erased": d.subject_id is None,
        "recorded_by": d.recorded_by_id,
        "received_at": d.received_at,
        "deadline": d.deadline,
        "overdue": d.status in DataSubjectRequest.OPEN_STATUSES and d.deadline < timezone.now(),
        "completed_at": d.completed_at,
        "outcome": d.outcome,
        "export_job": str(d.export_job_id) if d.export_job_id else None,
        "erasure_receipt": str(d.erasure_receipt_id) if d.erasure_receipt_id else None,
    }


class DsrCollectionApi(APIView):
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=DataSubjectRequest.Status.choices, required=False)
        kind = serializers.ChoiceField(choices=DataSubjectRequest.Kind.choices, required=False)
        channel = serializers.ChoiceField(choices=DataSubjectRequest.Channel.choices,
                                          required=False)
        overdue = serializers.BooleanField(required=False, allow_null=True, default=None)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)

    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=DataSubjectRequest.Kind.choices)
        channel = serializers.ChoiceField(choices=DataSubjectRequest.Channel.choices,
                                          default=DataSubjectRequest.Channel.COUNTER)
        subject_email = serializers.EmailField(
            required=False, allow_blank=True,
            help_text="The resident's login e-mail (identity checked at the counter); stored "
            "as a link to the account, never as text.",
        )
        outcome = serializers.CharField(required=False, allow_blank=True, max_length=2000)

    @extend_schema(
        operation_id="officer_dsr_list",
        summary="Data-subject requests with deadlines (data officers)",
        parameters=[FilterSerializer],
        responses={200: DsrSerializer(many=True), **problems(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        selectors.require_data_officer(request.user)
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        p = params.validated_data
        qs = selectors.data_subject_requests(
            status=p.get("status", ""), kind=p.get("kind", ""), channel=p.get("channel", ""),
            overdue=p.get("overdue"),
        )
        return Response(DsrSerializer([dsr_data(d) for d in qs[: p["limit"]]], many=True).data)

    @extend_schema(
        operation_id="officer_dsr_create",
        summary="Record a data-subject request made at the counter (clerks and data officers)",
        request=InputSerializer,
        responses={201: DsrSerializer, **problems(400, 401, 403)},
    )
    def post(self, request: Request) -> Response:
        roles = roles_for(request.user)
        if not (roles.data_officer or roles.staff):
            raise Forbidden("Only counter staff and data officers record these requests.")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        v = serializer.validated_data
        dsr = dsr_create(
            kind=v["kind"], channel=v["channel"], subject_email=v.get("subject_email", ""),
            recorded_by=signed_in(request.user), outcome=v.get("outcome", ""),
        )
        return Response(DsrSerializer(dsr_data(dsr)).data, status=status.HTTP_201_CREATED)


class DsrDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=DataSubjectRequest.Status.choices,
                                         required=False)
        outcome = serializers.CharField(required=False, allow_blank=True, max_length=2000)
        action = serializers.ChoiceField(
            choices=list(DSR_ACTIONS), required=False,
            help_text="start_export (export/access requests) or erase (erasure requests): "
            "carried out on the linked account; the request completes with it.",
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if attrs.get("action") and "status" in attrs:
                raise serializers.ValidationError(
                    {"action": ["Give either an action or a status, not both."]}
                )
            return attrs

    @extend_schema(
        operation_id="officer_dsr_retrieve",
        summary="One data-subject request",
        responses={200: DsrSerializer, **problems(401, 403, 404)},
    )
    def get(self, request: Request, reference: str) -> Response:
        dsr = selectors.access_data_subject_request(user=request.user, reference=reference)
        return Response(DsrSerializer(dsr_data(dsr)).data)

    @extend_schema(
        operation_id="officer_dsr_update",
        summary="Move a data-subject request on, or carry it out (start_export, erase)",
        request=InputSerializer,
        responses={200: DsrSerializer, **problems(400, 401, 403, 404, 409)},
    )
    def patch(self, request: Request, reference: str) -> Response:
        dsr = selectors.access_data_subject_request(user=request.user, reference=reference)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        v = serializer.validated_data
        if v.get("action"):
            dsr = dsr_action(dsr=dsr, action=v["action"], actor=request.user)
            if "outcome" in v:
                dsr = dsr_update(dsr=dsr, outcome=v["outcome"])
        else:
            dsr = dsr_update(dsr=dsr, status=v.get("status"), outcome=v.get("outcome"))
        return Response(DsrSerializer(dsr_data(dsr)).data)


name_nested_serializers(globals())
