"""Open311 GeoReport v2 endpoints: parse, call a selector or service, shape the spec's output.

The `.json` / `.xml` suffix chooses the format (XML when there is none, as the standard
requires XML). Errors are the spec's list of {code, description}: HTTP 404 for what does not
exist, 403 for a missing or bad api_key, 429 past a key's rate limit, 400 for anything else.

Privacy (see docs/open311.md): only public, non-complaint categories; never reporter data;
description and media_url only when the resident chose to publish; a private address's
location is coarsened to 3 decimals (about 100 m) and its address and address_id left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser, FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from core import city
from core.errors import DomainError, NotFound, RateLimited
from core.unavailable import RETRY_AFTER_SECONDS, database_is_down, unavailable_detail
from services.attachments import photos_prepare
from services.models import ServiceRequest
from services.open311 import selectors
from services.open311.public import public_request_data, service_notice, w3c
from services.open311.renderers import Open311JSONRenderer, Open311XMLRenderer
from services.open311.services import (
    Contact,
    Location,
    Report,
    UpdateIn,
    api_key_throttle,
    open311_request_submit,
    open311_update_receive,
)

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# Sortable marker clients use to refresh cached service lists: the later of this (bumped when
# the adapter changes) and the latest edit of a category.
CHANGESET = "2026-12-03T00:00:00Z"
MAX_RESULTS = 1000
MAX_SPAN_DAYS = 90
# A private address is shown to about 100 m (0.001° of latitude is 111 m).

# Our field names → the names the Open311 client sent.
_FIELD_NAMES = {"lon": "long", "category": "service_code", "photos": "media"}


class Open311Response(Response):
    """A response that knows its XML root element."""

    def __init__(self, data: Any = None, *, root: str, status: int = 200, **kwargs: Any):
        super().__init__(data, status=status, **kwargs)
        self.root = root


class SuffixNegotiation(BaseContentNegotiation):
    """The URL suffix alone picks the format; no suffix means XML, the standard's format."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> Any:
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        return next((p for p in parsers if p.media_type == content_type), None)

    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        wanted = format_suffix or "xml"
        candidates = list(renderers)
        renderer = next((r for r in candidates if r.format == wanted), candidates[-1])
        return renderer, renderer.media_type


def _field_name(key: str) -> str:
    if key.startswith("attributes."):
        return f"attribute[{key.split('.', 1)[1]}]"
    return _FIELD_NAMES.get(key, key)


def _error_list(code: int, detail: str, errors: dict[str, list[str]] | None) -> list[dict]:
    if not errors:
        return [{"code": code, "description": detail}]
    return [
        {"code": code, "description": f"{_field_name(field)}: {message}"}
        for field, messages in errors.items()
        for message in messages
    ]


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's ValidationError detail → {field: [messages]}."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, sub in detail.items():
            for field, messages in _flatten(sub, str(key)).items():
                out.setdefault(field, []).extend(messages)
        return out
    if isinstance(detail, list):
        return {prefix or "request": [str(m) for m in detail]}
    return {prefix or "request": [str(detail)]}


def open311_exception_handler(exc: Exception, context: dict) -> Response | None:
    """Every error as the spec's `errors` list, with the status code the spec asks for."""
    headers: dict[str, str] = {}
    if database_is_down(exc):
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return Open311Response(
            _error_list(503, unavailable_detail(), {}), root="errors", status=503, headers=headers
        )
    if isinstance(exc, Http404):
        exc = NotFound(_("Not found."))
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, DomainError):
        code, detail, errors = exc.status_code, exc.detail, exc.errors
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, exceptions.ValidationError):
        code, detail, errors = 400, _("Some fields are invalid."), _flatten(exc.detail)
    elif isinstance(exc, exceptions.APIException):
        code, detail, errors = exc.status_code, str(exc.detail), {}
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            headers["Retry-After"] = str(int(wait) + 1)
        if isinstance(exc, exceptions.MethodNotAllowed):
            view = context.get("view")
            if view is not None:
                headers["Allow"] = ", ".join(view.allowed_methods)
    else:
        return None
    # The spec: 404 for what does not exist, 403 for api_key problems, 400 for the rest.
    # We keep 429 (rate limit) and 405 (method) for HTTP clients' sake; the body keeps the
    # precise code (e.g. 413 for an oversize photo) as the spec allows.
    http_status = code if code in (403, 404, 405, 429) else 400
    return Open311Response(
        _error_list(code, detail, errors), root="errors", status=http_status, headers=headers
    )


# Open311 is its own standard (XML first, documented in docs/open311.md), so it stays out of
# our REST API's OpenAPI schema.
@extend_schema(exclude=True)
class Open311Api(APIView):
    """Shared plumbing: no session auth (so no CSRF), suffix formats, the spec's errors."""

    authentication_classes: tuple = ()
    permission_classes = (AllowAny,)
    renderer_classes = (Open311JSONRenderer, Open311XMLRenderer)
    parser_classes = (FormParser, MultiPartParser)
    content_negotiation_class = SuffixNegotiation
    throttle_classes: tuple = (AnonRateThrottle,)

    def get_exception_handler(self) -> Any:
        return open311_exception_handler

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method in ("GET", "HEAD"):
            # Public reads carry no credentials and no personal data: any web page may fetch
            # them (a city's own map, a FixMyStreet front end). POSTs stay same-origin.
            response["Access-Control-Allow-Origin"] = "*"
            response["Access-Control-Expose-Headers"] = "Link, Retry-After"
        return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        source: Any = request.data if request.method == "POST" else request.query_params
        jurisdiction = str(source.get("jurisdiction_id") or "").strip()
        if jurisdiction and jurisdiction != settings.CIVICDESK["OPEN311_JURISDICTION"]:
            raise NotFound(
                _("jurisdiction_id %(id)s was not found.") % {"id": jurisdiction[:100]}
            )


class W3CDateTimeField(serializers.Field):
    """A W3C datetime with a time zone; a '+' turned into a space by URL decoding is fine."""

    default_error_messages = {
        "invalid": gettext_lazy(
            "Use a W3C datetime with a time zone, e.g. 2026-01-01T00:00:00Z."
        ),
    }

    def to_internal_value(self, data: Any) -> datetime:
        text = str(data).strip()
        text = re.sub(r" (\d\d:?\d\d)$", r"+\1", text)
        try:
            parsed = parse_datetime(text) if text else None
        except ValueError:  # well-formed but impossible, e.g. 2026-02-30
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            self.fail("invalid")
        return parsed

    def to_representation(self, value: datetime) -> str | None:
        return w3c(value)


class CommaListField(serializers.CharField):
    def to_internal_value(self, data: Any) -> list[str]:  # type: ignore[override]
        text = super().to_internal_value(data)
        return [item.strip() for item in text.split(",") if item.strip()]


def _with_window(attrs: dict[str, Any]) -> dict[str, Any]:
    """Add `start`/`end`: the spec's default window, at most 90 days."""
    start, end = selectors.default_window(
        start=attrs.get("start_date"), end=attrs.get("end_date"), days=MAX_SPAN_DAYS
    )
    if end < start:
        raise serializers.ValidationError({"end_date": _("end_date is before start_date.")})
    if (end - start).total_seconds() > MAX_SPAN_DAYS * 86400:
        raise serializers.ValidationError(
            {"end_date": _("The range may span at most %(n)d days.") % {"n": MAX_SPAN_DAYS}}
        )
    return {**attrs, "start": start, "end": end}


class PagingSerializer(serializers.Serializer):
    """Our extension past the spec's cap: `page` (from 1) and `page_size` (at most 1,000)."""

    page = serializers.IntegerField(required=False, min_value=1, max_value=1_000_000, default=1)
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_RESULTS, default=MAX_RESULTS
    )


def _paged(request: Request, rows: list, *, page: int, page_size: int) -> tuple[list, dict]:
    """Rows of one page (fetched with one extra row), and a `Link: rel="next"` if more exist."""
    if len(rows) <= page_size:
        return rows, {}
    query = request.query_params.copy()
    query["page"] = str(page + 1)
    query["page_size"] = str(page_size)
    url = request.build_absolute_uri(request.path) + "?" + query.urlencode()
    return rows[:page_size], {"Link": f'<{url}>; rel="next"'}


class RequestOutput(serializers.Serializer):
    """One request as the public may see it: the privacy rules live here."""

    def to_representation(self, instance: ServiceRequest) -> dict[str, Any]:
        return public_request_data(instance)


def _attribute_values(data: Any) -> dict[str, Any]:
    """`attribute[code]=v` and `attribute[code][]=v1&attribute[code][]=v2` → {code: v | [..]}."""
    values: dict[str, Any] = {}
    for key in data:
        match = re.fullmatch(r"attribute\[([^\[\]]+)\](\[\])?", key)
        if not match:
            continue
        items = list(data.getlist(key)) if hasattr(data, "getlist") else [data[key]]
        code, is_list = match.group(1), bool(match.group(2))
        if is_list or len(items) > 1 or isinstance(values.get(code), list):
            previous = values.get(code, [])
            values[code] = (previous if isinstance(previous, list) else [previous]) + items
        else:
            values[code] = items[0]
    return values


# --- Service discovery ---------------------------------------------------------------------


class DiscoveryApi(Open311Api):
    def get(self, request: Request, format: str | None = None) -> Response:
        controller = city.party("CONTROLLER")
        changeset = selectors.services_changeset(adapter_changeset=CHANGESET)
        data = {
            "changeset": changeset,
            "contact": settings.CIVICDESK.get(
                "OPEN311_CONTACT",
                f"{controller['name']}, {controller['address']}, {controller['email']}",
            ),
            "key_service": settings.CIVICDESK.get(
                "OPEN311_KEY_SERVICE",
                _("API keys are issued per client app by the city's administrators; "
                  "ask the Citizen Service Center."),
            ),
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": city.portal_url("/open311/v2"),
                    "changeset": changeset,
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        }
        return Open311Response(data, root="discovery")


# --- Services ------------------------------------------------------------------------------


def _attribute_output(attribute: dict[str, Any], position: int) -> dict[str, Any]:
    return {
        "variable": bool(attribute.get("variable", True)),
        "code": attribute["code"],
        "datatype": attribute.get("datatype", "string"),
        "required": bool(attribute.get("required", False)),
        "datatype_description": attribute.get("datatype_description") or None,
        "order": attribute.get("order", position),
        "description": attribute.get("description", ""),
        "values": [
            {"key": str(v["key"]), "name": v.get("name", str(v["key"]))}
            for v in attribute.get("values", [])
        ],
    }


class ServiceListApi(Open311Api):
    def get(self, request: Request, format: str | None = None) -> Response:
        data = [
            {
                "service_code": category.code,
                "service_name": category.name,
                "description": category.description,
                "metadata": bool(category.attributes),
                "type": "realtime",
                "keywords": category.keywords,
                "group": category.group,
            }
            for category in selectors.public_categories()
        ]
        return Open311Response(data, root="services")


class ServiceDefinitionApi(Open311Api):
    def get(self, request: Request, service_code: str, format: str | None = None) -> Response:
        category = selectors.access_public_category(service_code=service_code)
        attributes = sorted(
            (a for a in category.attributes or [] if isinstance(a, dict) and a.get("code")),
            key=lambda a: (a.get("order", 0), a["code"]),
        )
        data = {
            "service_code": category.code,
            "attributes": [_attribute_output(a, i) for i, a in enumerate(attributes, start=1)],
        }
        return Open311Response(data, root="service_definition")


# --- Requests ------------------------------------------------------------------------------


class RequestListCreateApi(Open311Api):
    class FilterSerializer(serializers.Serializer):
        service_request_id = CommaListField(required=False, allow_blank=True, max_length=20000)
        service_code = CommaListField(required=False, allow_blank=True, max_length=2000)
        start_date = W3CDateTimeField(required=False)
        end_date = W3CDateTimeField(required=False)
        status = CommaListField(required=False, allow_blank=True, max_length=50)

        def validate_status(self, value: list[str]) -> list[str]:
            value = [v.lower() for v in value]
            bad = [v for v in value if v not in ("open", "closed")]
            if bad:
                raise serializers.ValidationError(_("Use open, closed or both."))
            return value

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            return _with_window(attrs)

    class InputSerializer(serializers.Serializer):
        service_code = serializers.CharField(max_length=50)
        lat = serializers.FloatField(required=False, allow_null=True, min_value=-90, max_value=90)
        long = serializers.FloatField(
            required=False, allow_null=True, min_value=-180, max_value=180
        )
        address_string = serializers.CharField(required=False, allow_blank=True, max_length=300)
        address_id = serializers.CharField(required=False, allow_blank=True, max_length=100)
        email = serializers.EmailField(required=False, allow_blank=True)
        device_id = serializers.CharField(required=False, allow_blank=True, max_length=200)
        account_id = serializers.CharField(required=False, allow_blank=True, max_length=200)
        first_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
        last_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
        phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
        description = serializers.CharField(
            required=False, allow_blank=True, max_length=4000, trim_whitespace=True
        )
        media_url = serializers.URLField(required=False, allow_blank=True, max_length=500)

        def validate_media_url(self, value: str) -> str:
            if value and not value.lower().startswith(("http://", "https://")):
                raise serializers.ValidationError(_("Give an http or https URL."))
            return value

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            # DRF's FloatField already refuses nan and infinity.
            lat, lon = attrs.get("lat"), attrs.get("long")
            if (lat is None) != (lon is None):
                raise serializers.ValidationError(
                    {"long" if lon is None else "lat": _("Send both lat and long.")}
                )
            if lat is None and not attrs.get("address_string") and not attrs.get("address_id"):
                raise serializers.ValidationError(
                    {"location": _("Send lat and long, address_string or address_id.")}
                )
            return attrs

    class PostOutputSerializer(serializers.Serializer):
        service_request_id = serializers.CharField(source="reference")
        service_notice = serializers.SerializerMethodField()
        account_id = serializers.SerializerMethodField()

        def get_service_notice(self, obj: ServiceRequest) -> str:
            return service_notice(obj)

        def get_account_id(self, obj: ServiceRequest) -> str | None:
            # We create no accounts; echo the client's own id back, as clients expect.
            return self.context.get("account_id") or None

    def get_throttles(self) -> list:
        # POSTs are limited per api_key (services.open311.services.api_key_throttle).
        return super().get_throttles() if self.request.method == "GET" else []

    def get(self, request: Request, format: str | None = None) -> Response:
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        paging = PagingSerializer(data=request.query_params)
        paging.is_valid(raise_exception=True)
        page, page_size = paging.validated_data["page"], paging.validated_data["page_size"]
        requests = selectors.requests_search(
            references=filters.get("service_request_id") or None,
            service_codes=filters.get("service_code") or None,
            start=filters["start"],
            end=filters["end"],
            statuses=set(filters.get("status") or []) or None,
            limit=page_size + 1,
            offset=(page - 1) * page_size,
        )
        rows, headers = _paged(request, requests, page=page, page_size=page_size)
        data = [RequestOutput(r).data for r in rows]
        return Open311Response(data, root="service_requests", headers=headers)

    def post(self, request: Request, format: str | None = None) -> Response:
        form: Any = request.data  # a QueryDict: FormParser or MultiPartParser
        api_key = selectors.api_key_authenticate(raw_key=str(form.get("api_key", "")))
        api_key_throttle(api_key=api_key)
        serializer = self.InputSerializer(data=form)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        category = selectors.access_public_category(service_code=fields["service_code"])
        uploads = [f for key in request.FILES for f in request.FILES.getlist(key)]
        photos = photos_prepare(uploads=uploads) if uploads else None
        created = open311_request_submit(
            api_key=api_key,
            report=Report(
                category=category,
                location=Location(
                    lat=fields.get("lat"),
                    lon=fields.get("long"),
                    address_string=fields.get("address_string", ""),
                    address_id=fields.get("address_id", ""),
                ),
                description=fields.get("description", ""),
                attribute_values=_attribute_values(form),
                media_url=fields.get("media_url", ""),
            ),
            contact=Contact(
                email=fields.get("email", ""),
                first_name=fields.get("first_name", ""),
                last_name=fields.get("last_name", ""),
                phone=fields.get("phone", ""),
                device_id=fields.get("device_id", ""),
                account_id=fields.get("account_id", ""),
            ),
            photos=photos,
        )
        output = self.PostOutputSerializer(
            created, context={"account_id": fields.get("account_id", "")}
        )
        return Open311Response([output.data], root="service_requests")


class RequestDetailApi(Open311Api):
    def get(self, request: Request, service_request_id: str, format: str | None = None) -> Response:
        found = selectors.access_public_request(reference=service_request_id)
        return Open311Response([RequestOutput(found).data], root="service_requests")


class TokenApi(Open311Api):
    """We answer POSTs with the id at once and issue no tokens; a request id works as one."""

    def get(self, request: Request, token: str, format: str | None = None) -> Response:
        try:
            found = selectors.access_public_request(reference=token)
        except NotFound:
            raise NotFound(_("token %(t)s was not found.") % {"t": token[:40]}) from None
        data = [{"service_request_id": found.reference, "token": token}]
        return Open311Response(data, root="service_requests")


class UpdateListApi(Open311Api):
    """FixMyStreet's extension: public changes to requests, so a site can pull status, and
    updates a site posts (its residents' comments), which become comments on the timeline.

    `status` is FixMyStreet's extended status after each update (see
    `selectors.fixmystreet_status`); `external_status_code` is our workflow status, which a
    FixMyStreet body can match in its response templates.
    """

    class FilterSerializer(serializers.Serializer):
        start_date = W3CDateTimeField(required=False)
        end_date = W3CDateTimeField(required=False)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            return _with_window(attrs)

    class InputSerializer(serializers.Serializer):
        service_request_id = serializers.CharField(max_length=40)
        update_id = serializers.CharField(max_length=100)
        updated_datetime = W3CDateTimeField(required=False)
        status = serializers.CharField(required=False, allow_blank=True, max_length=40)
        description = serializers.CharField(
            required=False, allow_blank=True, max_length=4000, trim_whitespace=True
        )
        media_url = serializers.URLField(required=False, allow_blank=True, max_length=500)
        # Sent by FixMyStreet; accepted and not kept (the comment is anonymous here).
        first_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
        last_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
        email = serializers.CharField(required=False, allow_blank=True, max_length=254)
        phone = serializers.CharField(required=False, allow_blank=True, max_length=40)

        def validate_media_url(self, value: str) -> str:
            if value and not value.lower().startswith(("http://", "https://")):
                raise serializers.ValidationError(_("Give an http or https URL."))
            return value

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if not attrs.get("description") and not attrs.get("media_url"):
                raise serializers.ValidationError(
                    {"description": _("Send a description or a media_url.")}
                )
            return attrs

    def get_throttles(self) -> list:
        # POSTs are limited per api_key (services.open311.services.api_key_throttle).
        return super().get_throttles() if self.request.method == "GET" else []

    def get(self, request: Request, format: str | None = None) -> Response:
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        paging = PagingSerializer(data=request.query_params)
        paging.is_valid(raise_exception=True)
        page, page_size = paging.validated_data["page"], paging.validated_data["page_size"]
        events = selectors.public_updates(
            start=query.validated_data["start"],
            end=query.validated_data["end"],
            limit=page_size + 1,
            offset=(page - 1) * page_size,
        )
        rows, headers = _paged(request, events, page=page, page_size=page_size)
        data = [
            {
                "update_id": str(event.pk),
                "service_request_id": event.request.reference,
                "status": selectors.fixmystreet_status(event.status_then, event.outcome_then),
                "updated_datetime": w3c(event.created_at),
                # Only the city's own words: a resident's reopening text stays private.
                "description": event.text if event.type in selectors.STAFF_TEXT_EVENTS else "",
                "media_url": "",
                "external_status_code": event.status_then,
            }
            for event in rows
        ]
        return Open311Response(data, root="service_request_updates", headers=headers)

    def post(self, request: Request, format: str | None = None) -> Response:
        form: Any = request.data
        api_key = selectors.api_key_authenticate(raw_key=str(form.get("api_key", "")))
        api_key_throttle(api_key=api_key)
        serializer = self.InputSerializer(data=form)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        event = open311_update_receive(
            api_key=api_key,
            update=UpdateIn(
                service_request_id=fields["service_request_id"],
                update_id=fields["update_id"],
                description=fields.get("description", ""),
                media_url=fields.get("media_url", ""),
                status=fields.get("status", ""),
                updated_datetime=fields.get("updated_datetime"),
            ),
        )
        return Open311Response([{"update_id": str(event.pk)}], root="service_request_updates")


class UnknownApi(Open311Api):
    """Anything else under /open311/v2/: the spec's 404, not the portal's HTML page."""

    throttle_classes = ()

    def _not_found(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise NotFound(_("There is no such Open311 resource."))

    get = post = put = patch = delete = _not_found
