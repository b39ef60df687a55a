"""REST API: the public register and transparency log, my consents, counter and data officers.

Thin classes: parse input, call consent.services / selectors / ledger, shape output.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import StreamingHttpResponse
from django.utils.translation import get_language
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consent import ledger, register, selectors, services
from consent.models import EventType, LogEntry, Method, Notice, TreeHead
from consent.receipts import receipt_document
from core.api.schema import name_nested_serializers, problems
from core.api.streaming import export_response
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.roles import roles_for
from core.security_log import security_event
from core.users import signed_in

LANGUAGE_HEADER = OpenApiParameter(
    "Accept-Language", str, OpenApiParameter.HEADER,
    description="`en` (default) or `zh-hans`: titles and notices follow it.",
)
MAX_ENTRIES_PER_PAGE = 1000


def _lang() -> str:
    lang = (get_language() or "en").lower()
    return "zh-hans" if lang.startswith("zh") else "en"


class NoticeSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    language = serializers.CharField()
    title = serializers.CharField()
    text = serializers.CharField()
    sha256 = serializers.CharField()
    published_at = serializers.DateTimeField()


class PurposeSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    dpv_purpose = serializers.URLField()
    legal_basis = serializers.DictField(child=serializers.CharField())
    legal_reference = serializers.CharField(allow_blank=True)
    requires_consent = serializers.BooleanField()
    data_categories = serializers.ListField(child=serializers.DictField())
    recipients = serializers.ListField(child=serializers.DictField())
    retention = serializers.DictField()
    is_active = serializers.BooleanField()
    current_notice = NoticeSerializer(allow_null=True)


class LogIntegrityError(Conflict):
    """The log's stored data is inconsistent (a row is missing or altered): an integrity
    problem, reported as such (and alarmed), never a 500."""

    code = "log_integrity"


class TreeHeadSerializer(serializers.Serializer):
    tree_size = serializers.IntegerField()
    root_hash = serializers.CharField(help_text="hex SHA-256")
    timestamp = serializers.DateTimeField()
    key_id = serializers.CharField()
    checkpoint = serializers.CharField(
        help_text="C2SP tlog-checkpoint signed note, with every witness cosignature line")
    verifier_key = serializers.CharField(help_text="signed-note verifier key (name+id+key)")
    cosignatures = serializers.ListField(child=serializers.DictField(),
                                         help_text="witness cosignatures (cosignature/v1)")
    witness_keys = serializers.ListField(child=serializers.CharField(),
                                         help_text="verifier keys of the configured witnesses")
    witness_quorum = serializers.IntegerField(
        help_text="cosignatures the city requires for a head to count as witnessed")


ReceiptSerializer = inline_serializer(
    name="ConsentReceipt",
    fields={
        "version": serializers.CharField(),
        "schemaVersion": serializers.CharField(),
        "conformsTo": serializers.ListField(child=serializers.CharField()),
        "jurisdiction": serializers.CharField(),
        "consentReceiptID": serializers.CharField(),
        "consentTimestamp": serializers.IntegerField(),
        "collectionMethod": serializers.CharField(),
        "publicKey": serializers.CharField(help_text="The log key that signed the receipt."),
        "language": serializers.CharField(),
        "piiPrincipalId": serializers.CharField(),
        "piiPrincipalProof": serializers.DictField(),
        "piiControllers": serializers.ListField(child=serializers.DictField()),
        "policyUrl": serializers.CharField(),
        "services": serializers.ListField(child=serializers.DictField()),
        "sensitive": serializers.BooleanField(),
        "spiCat": serializers.ListField(child=serializers.CharField()),
        "consentEvent": serializers.DictField(),
        "log": serializers.DictField(),
    },
)


# --- Public register -------------------------------------------------------------------------


class PurposeListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="register_purposes_list",
        summary="The public data-use register: every purpose with its current notice",
        parameters=[LANGUAGE_HEADER],
        responses={200: PurposeSerializer(many=True)},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        purposes = list(selectors.register_purposes())
        notices = selectors.current_notices(purposes)
        lang = _lang()
        data = [
            selectors.purpose_json(p, selectors.pick_language(notices[p.pk], lang))
            for p in purposes
        ]
        return Response(PurposeSerializer(data, many=True).data)


class PurposeNoticeApi(APIView):
    """The exact notice texts of one version (receipts' absolute, versioned policyUrl)."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="register_purpose_notice",
        summary="One version of a purpose's notice, in every language it was published in",
        responses={200: NoticeSerializer(many=True), **problems(404)},
        auth=[],
    )
    def get(self, request: Request, code: str, version: str) -> Response:
        # Any text reaches here (a problem-format 404, never the HTML page); versions are small
        # positive integers.
        if not (version.isascii() and version.isdigit() and len(version) <= 9):
            raise NotFound("No such notice version.")
        notices = list(Notice.objects.filter(purpose__code=code, version=int(version))
                       .order_by("language"))
        if not notices:
            raise NotFound("No such notice version.")
        return Response(NoticeSerializer([services.notice_json(n) for n in notices],
                                         many=True).data)


class ProcessingRecordsApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="register_processing_records",
        summary="GDPR Art. 30 records of processing, generated from the register",
        responses={200: inline_serializer(
            name="ProcessingRecords",
            fields={
                "controller": serializers.DictField(),
                "data_protection_officer": serializers.DictField(),
                "generated_from": serializers.CharField(),
                "records": serializers.ListField(child=serializers.DictField()),
            },
        )},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        return Response(register.processing_records(selectors.register_purposes()))


# --- Public transparency log -------------------------------------------------------------------


class TreeHeadApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="log_tree_head",
        summary="The latest signed tree head (published in batches)",
        responses={200: TreeHeadSerializer, **problems(404)},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        head = ledger.latest_head()
        if head is None:
            raise NotFound("No tree head has been published yet.")
        return Response(TreeHeadSerializer(ledger.tree_head_json(head)).data)


class TreeHeadHistoryApi(APIView):
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        before = serializers.IntegerField(required=False, min_value=1,
                                          help_text="only heads smaller than this tree size")
        limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)

    @extend_schema(
        operation_id="log_tree_heads_list",
        summary="Every published tree head, newest first (history for consistency checks)",
        parameters=[InputSerializer],
        responses={200: TreeHeadSerializer(many=True), **problems(400)},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        qs = TreeHead.objects.order_by("-tree_size")
        if params.validated_data.get("before"):
            qs = qs.filter(tree_size__lt=params.validated_data["before"])
        heads = [ledger.tree_head_json(h) for h in qs[: params.validated_data["limit"]]]
        return Response(TreeHeadSerializer(heads, many=True).data)


def _proof_error(exc: ledger.LedgerError, field: str) -> Invalid:
    return Invalid(str(exc), errors={field: [str(exc)]})


class InclusionProofApi(APIView):
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        index = serializers.IntegerField(min_value=0)
        tree_size = serializers.IntegerField(
            min_value=1, required=False, help_text="default: the latest tree head"
        )

    class OutputSerializer(serializers.Serializer):
        index = serializers.IntegerField()
        tree_size = serializers.IntegerField()
        leaf_hash = serializers.CharField()
        inclusion_path = serializers.ListField(child=serializers.CharField())

    @extend_schema(
        operation_id="log_proof_inclusion",
        summary="RFC 9162 inclusion proof of entry `index` in the tree of size `tree_size`",
        parameters=[InputSerializer],
        responses={200: OutputSerializer, **problems(400, 409)},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        index = params.validated_data["index"]
        size = params.validated_data.get("tree_size")
        if size is None:
            head = ledger.latest_head()
            size = head.tree_size if head else 0
        leaf = LogEntry.objects.values_list("leaf_hash", flat=True).filter(index=index).first()
        if leaf is None and index < size:
            security_event("tlog.integrity.alarm", check="inclusion_proof", log_index=index)
            raise LogIntegrityError(
                f"Entry {index} is covered by a signed tree head but missing from the log's "
                "storage: the log is damaged or was tampered with. The data protection officer "
                "is alerted; keep any receipt or tree head you hold.")
        try:
            path = ledger.inclusion_proof(index=index, tree_size=size)
        except ledger.LedgerError as exc:
            if "missing" in str(exc) and index < size:
                security_event("tlog.integrity.alarm", check="inclusion_proof",
                               log_index=index)
                raise LogIntegrityError(
                    "Part of the log needed for this proof is missing from its storage: the "
                    "log is damaged or was tampered with.") from exc
            raise _proof_error(exc, "tree_size" if index < size else "index") from exc
        data = {"index": index, "tree_size": size, "leaf_hash": leaf,
                "inclusion_path": [h.hex() for h in path]}
        return Response(self.OutputSerializer(data).data)


class ConsistencyProofApi(APIView):
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        first = serializers.IntegerField(min_value=1)
        second = serializers.IntegerField(min_value=1)

    class OutputSerializer(serializers.Serializer):
        first = serializers.IntegerField()
        second = serializers.IntegerField()
        consistency_path = serializers.ListField(child=serializers.CharField())

    @extend_schema(
        operation_id="log_proof_consistency",
        summary="RFC 9162 consistency proof between two tree sizes",
        parameters=[InputSerializer],
        responses={200: OutputSerializer, **problems(400)},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        first, second = params.validated_data["first"], params.validated_data["second"]
        try:
            path = ledger.consistency_proof(first=first, second=second)
        except ledger.LedgerError as exc:
            raise _proof_error(exc, "second" if first <= second else "first") from exc
        data = {"first": first, "second": second, "consistency_path": [h.hex() for h in path]}
        return Response(self.OutputSerializer(data).data)


class EntryListApi(APIView):
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        start = serializers.IntegerField(min_value=0)
        end = serializers.IntegerField(
            min_value=0, help_text="inclusive, as in RFC 6962 get-entries"
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if attrs["end"] < attrs["start"]:
                raise serializers.ValidationError({"end": ["end must be >= start."]})
            return attrs

    class OutputSerializer(serializers.Serializer):
        index = serializers.IntegerField()
        leaf_hash = serializers.CharField()
        entry = serializers.CharField(help_text="the exact RFC 8785 canonical JSON that is hashed")

    @extend_schema(
        operation_id="log_entries_list",
        summary="Log entries start..end (inclusive, at most 1000; only published ones)",
        parameters=[InputSerializer],
        responses={200: OutputSerializer(many=True), **problems(400)},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        start, end = params.validated_data["start"], params.validated_data["end"]
        end = min(end, start + MAX_ENTRIES_PER_PAGE - 1)
        head = ledger.latest_head()
        # Only entries covered by a published head: per-entry publication would let an
        # observer match an entry to a resident's action by timing.
        published = head.tree_size if head else 0
        rows = LogEntry.objects.filter(index__gte=start, index__lte=end, index__lt=published)
        data = [{"index": e.index, "leaf_hash": e.leaf_hash, "entry": e.entry} for e in rows]
        return Response(self.OutputSerializer(data, many=True).data)


# --- Residents -------------------------------------------------------------------------------


class MyConsentSerializer(PurposeSerializer):
    """A purpose of the register with my state (consent.selectors.my_consents)."""

    state = serializers.ChoiceField(choices=[
        "not_consent_based", "not_asked", "given", "given_for_older_notice",
        "withdrawn", "refused", "expired",
    ])
    explanation = serializers.CharField(
        required=False, help_text="Not based on consent: the legal basis it is processed under."
    )
    decided_at = serializers.DateTimeField(required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    notice_seen = NoticeSerializer(required=False)
    receipt_id = serializers.UUIDField(required=False)


class MyConsentListApi(APIView):
    @extend_schema(
        operation_id="me_consents_list",
        summary="Every purpose with my consent state and the notice I saw",
        parameters=[LANGUAGE_HEADER],
        responses={200: MyConsentSerializer(many=True), **problems(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.my_consents(user=signed_in(request.user), language=_lang()))


def _change_response(change: services.ConsentChange, code: int) -> Response:
    body: dict[str, Any] = {
        "changed": change.changed,
        "state": change.record.state if change.record else "not_asked",
        **change.effects,
    }
    if change.event is not None and change.receipt is not None:
        body["receipt_id"] = str(change.event.event_id)
        body["receipt"] = receipt_document(change.receipt)
    return Response(body, status=code)


ChangeSerializer = inline_serializer(
    name="ConsentChange",
    fields={
        "changed": serializers.BooleanField(help_text="false: identical decision, nothing added"),
        "state": serializers.CharField(),
        "stops": serializers.DictField(required=False),
        "starts": serializers.DictField(required=False),
        "continues": serializers.ListField(child=serializers.DictField()),
        "receipt_id": serializers.UUIDField(required=False),
        "receipt": ReceiptSerializer,
    },
)


class MyConsentDecideApi(APIView):
    class InputSerializer(serializers.Serializer):
        decision = serializers.ChoiceField(choices=list(services.DECISIONS))
        notice_version = serializers.IntegerField(min_value=1)
        expires_at = serializers.DateTimeField(required=False)

    @extend_schema(
        operation_id="me_consents_decide",
        summary="Give, withdraw or refuse consent for one purpose",
        description=(
            "A stale notice_version → 409 with `current_notice`; a purpose that is not based on "
            "consent → 400 with its real legal basis; a repeated identical decision → 200 with "
            "changed=false and no new log entry. The response says what stops and what "
            "continues, under which basis, and carries the receipt."
        ),
        request=InputSerializer,
        responses={201: ChangeSerializer, 200: ChangeSerializer, **problems(400, 401, 404, 409)},
    )
    def post(self, request: Request, purpose: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        method = Method.MOBILE if request.META.get("HTTP_X_SESSION_TOKEN") else Method.WEB
        change = services.consent_decide(
            subject=signed_in(request.user),
            purpose_code=purpose,
            decision=data.validated_data["decision"],
            notice_version=data.validated_data["notice_version"],
            language=_lang(),
            method=method,
            expires_at=data.validated_data.get("expires_at"),
        )
        return _change_response(change, status.HTTP_201_CREATED if change.changed else 200)


class MyConsentHistoryApi(APIView):
    @extend_schema(
        operation_id="me_consents_history",
        summary="My consent events, newest first (each has a receipt)",
        responses={200: inline_serializer(
            name="MyConsentEvent", many=True,
            fields={
                "receipt_id": serializers.UUIDField(),
                "purpose": serializers.CharField(),
                "decision": serializers.CharField(),
                "notice_version": serializers.IntegerField(),
                "method": serializers.CharField(),
                "created_at": serializers.DateTimeField(),
                "log_index": serializers.IntegerField(),
            },
        ), **problems(401)},
    )
    def get(self, request: Request) -> Response:
        rows = [
            {"receipt_id": str(e.event_id), "purpose": e.purpose.code, "decision": e.event_type,
             "notice_version": e.notice_version, "method": e.method, "created_at": e.created_at,
             "log_index": e.log_entry_id}
            for e in selectors.my_consent_events(user=signed_in(request.user))[:500]
        ]
        return Response(rows)


class MyReceiptApi(APIView):
    class InputSerializer(serializers.Serializer):
        download = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        operation_id="me_consents_receipt",
        summary="The receipt of one of my consent events (with inclusion proof once published)",
        parameters=[InputSerializer],
        responses={200: ReceiptSerializer, **problems(400, 401, 404)},
    )
    def get(self, request: Request, event_id: str) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        stored = selectors.access_consent_receipt(user=signed_in(request.user), event_id=event_id)
        response = Response(receipt_document(stored))
        if params.validated_data["download"]:
            name = f"consent-receipt-{stored.event_id}.json"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


# --- Counter (a clerk records a resident's decision on their behalf) ---------------------------


class CounterConsentApi(APIView):
    class InputSerializer(serializers.Serializer):
        resident_email = serializers.EmailField()
        purpose = serializers.SlugField()
        decision = serializers.ChoiceField(choices=list(services.DECISIONS))
        notice_version = serializers.IntegerField(min_value=1)
        language = serializers.ChoiceField(choices=["en", "zh-hans"], default="en")

    @extend_schema(
        operation_id="counter_consents_record",
        summary="Record a resident's consent decision made at the counter (staff only)",
        request=InputSerializer,
        responses={201: ChangeSerializer, 200: ChangeSerializer,
                   **problems(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request) -> Response:
        if not roles_for(request.user).staff:
            raise Forbidden("Only service-center staff record consents at the counter.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        resident = get_user_model().objects.filter(
            email__iexact=data.validated_data["resident_email"], is_active=True
        ).first()
        if resident is None:
            raise NotFound("No resident account with this e-mail address.")
        change = services.consent_decide(
            subject=resident,
            purpose_code=data.validated_data["purpose"],
            decision=data.validated_data["decision"],
            notice_version=data.validated_data["notice_version"],
            language=data.validated_data["language"],
            method=Method.COUNTER,
            recorded_by=signed_in(request.user),
        )
        return _change_response(change, status.HTTP_201_CREATED if change.changed else 200)


# --- Data officers -----------------------------------------------------------------------------


class EventFilterSerializer(serializers.Serializer):
    purpose = serializers.SlugField(required=False)
    pseudonym = serializers.CharField(required=False, max_length=40)
    method = serializers.ChoiceField(choices=Method.values, required=False)
    decision = serializers.ChoiceField(choices=EventType.values, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    notice_version = serializers.IntegerField(required=False, min_value=1)


OfficerEventSerializer = inline_serializer(
    name="OfficerConsentEvent",
    fields={
        "event_id": serializers.UUIDField(),
        "pseudonym": serializers.CharField(),
        "purpose": serializers.CharField(),
        "decision": serializers.CharField(),
        "notice_version": serializers.IntegerField(),
        "notice_sha256": serializers.CharField(),
        "language": serializers.CharField(),
        "method": serializers.CharField(),
        "actor": serializers.CharField(),
        "created_at": serializers.DateTimeField(),
        "expires_at": serializers.DateTimeField(allow_null=True),
        "log_index": serializers.IntegerField(),
    },
)


class OfficerEventListApi(APIView):
    class InputSerializer(EventFilterSerializer):
        limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)
        offset = serializers.IntegerField(required=False, min_value=0, default=0)

    @extend_schema(
        operation_id="officer_consent_events_list",
        summary="Consent events (pseudonymous) filtered by purpose, pseudonym, method, "
        "decision, time range and notice version",
        parameters=[InputSerializer],
        responses={200: inline_serializer(
            name="OfficerConsentEventPage",
            fields={"count": serializers.IntegerField(),
                    "results": serializers.ListField(child=OfficerEventSerializer)},
        ), **problems(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        selectors.require_data_officer(request.user)
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        f = dict(params.validated_data)
        limit, offset = f.pop("limit"), f.pop("offset")
        qs = selectors.officer_consent_events(**f)
        rows = [selectors.officer_event_row(e) for e in qs[offset: offset + limit]]
        return Response({"count": qs.count(), "results": rows})


class OfficerEventExportApi(APIView):
    class InputSerializer(EventFilterSerializer):
        output = serializers.ChoiceField(choices=["csv", "json"], default="csv")

    throttle_scope = "export"

    @extend_schema(
        operation_id="officer_consent_events_export",
        summary="Export filtered consent events as CSV or JSON (streamed)",
        parameters=[InputSerializer],
        responses={(200, "text/csv"): str, (200, "application/json"): OfficerEventSerializer,
                   **problems(400, 401, 403)},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        selectors.require_data_officer(request.user)
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        f = dict(params.validated_data)
        fmt = f.pop("output")
        rows = selectors.iter_officer_rows(selectors.officer_consent_events(**f))
        return export_response(
            rows, output=fmt, header=CONSENT_EXPORT_HEADER, filename="consent-events"
        )


CONSENT_EXPORT_HEADER = [
    "event_id", "pseudonym", "purpose", "decision", "notice_version", "notice_sha256",
    "language", "method", "actor", "created_at", "expires_at", "log_index",
]


class OfficerAggregatesApi(APIView):
    class InputSerializer(serializers.Serializer):
        purpose = serializers.SlugField(required=False)
        since = serializers.DateTimeField(required=False)
        until = serializers.DateTimeField(required=False)

    @extend_schema(
        operation_id="officer_consent_aggregates",
        summary="Consent rate per purpose per notice version over time; current states; "
        "refusals counted by the policy gate",
        parameters=[InputSerializer],
        responses={200: inline_serializer(
            name="ConsentAggregates",
            fields={"by_day": serializers.ListField(child=serializers.DictField()),
                    "current": serializers.ListField(child=serializers.DictField()),
                    "refusals": serializers.ListField(child=serializers.DictField())},
        ), **problems(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        selectors.require_data_officer(request.user)
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response({
            "by_day": selectors.consent_aggregates(**params.validated_data),
            "current": selectors.current_state_counts(),
            "refusals": selectors.refusal_counts(),
        })


class OfficerIntegrityApi(APIView):
    @extend_schema(
        operation_id="officer_log_integrity",
        summary="Integrity status of the transparency log (last full verification)",
        responses={200: inline_serializer(
            name="LogIntegrity",
            fields={"log_size": serializers.IntegerField(),
                    "latest_tree_head": TreeHeadSerializer(allow_null=True),
                    "last_verification": serializers.DictField(allow_null=True),
                    "last_promise_check": serializers.DictField(allow_null=True),
                    "alarms": serializers.ListField(child=serializers.CharField())},
        ), **problems(401, 403)},
    )
    def get(self, request: Request) -> Response:
        selectors.require_data_officer(request.user)
        return Response(selectors.integrity_status())

    @extend_schema(
        operation_id="officer_log_verify",
        summary="Start a full verification of the log (runs in the background)",
        request=None,
        responses={202: inline_serializer(name="VerifyStarted",
                                          fields={"detail": serializers.CharField()}),
                   **problems(401, 403)},
    )
    def post(self, request: Request) -> Response:
        selectors.require_data_officer(request.user)
        services.log_verification_request()
        return Response({"detail": "Verification started."}, status=status.HTTP_202_ACCEPTED)


name_nested_serializers(globals())
