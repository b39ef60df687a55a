"""Each hand-built API dict has the shape of the OutputSerializer that documents it.

Hot paths build their responses as plain dicts (the serializer machinery costs more than the
query), while drf-spectacular publishes the serializers. Each case below builds real rows,
calls the hand-built path and compares it with the serializer, key by key and value by
value: a field added to one and not the other fails here."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from consent import api as consent_api
from consent import ledger, policy, register, selectors
from consent import services as consent_services
from consent.demo import seed_register
from consent.models import ConsentReceipt, Notice
from consent.receipts import receipt_document
from consent.rights import api as rights_api
from consent.rights import selectors as rights_selectors
from consent.rights.exports import export_start
from consent.rights.models import AccessEvent
from consent.rights.requests import dsr_create
from services.api import catalog, common, resident, staff
from services.models import Attachment, Event, Status
from services.selectors import NearbyCandidate, QueueFilters, queue_page_rows
from services.services import event_record
from tests.factories import (
    CategoryFactory,
    DepartmentFactory,
    DistrictFactory,
    MembershipFactory,
    ServiceRequestFactory,
    UserFactory,
    enroll_totp,
)

# --- The comparison ---------------------------------------------------------------------------


def _json(value: Any) -> Any:
    """The value as the client receives it."""
    return json.loads(JSONRenderer().render(value))


def _writable_only(field: serializers.Field) -> bool:
    return bool(field.write_only)


def shape_differences(field: serializers.Field, value: Any, path: str = "$") -> list[str]:
    """Where `value` (a hand-built dict, list or leaf) differs from what `field` documents."""
    if isinstance(field, serializers.ListSerializer):
        if not isinstance(value, list):
            return [f"{path}: a list is documented, got {type(value).__name__}"]
        return [d for i, item in enumerate(value)
                for d in shape_differences(field.child, item, f"{path}[{i}]")]
    if value is None:
        return [] if field.allow_null else [f"{path}: null, documented as not nullable"]
    if isinstance(field, serializers.Serializer):
        if not isinstance(value, dict):
            return [f"{path}: an object is documented, got {type(value).__name__}"]
        documented = {n: f for n, f in field.fields.items() if not _writable_only(f)}
        out = [f"{path}.{k}: built, not documented" for k in sorted(set(value) - set(documented))]
        out += [f"{path}.{n}: documented, not built" for n, f in documented.items()
                if n not in value and f.required]
        for name, child in documented.items():
            if name in value:
                out += shape_differences(child, value[name], f"{path}.{name}")
        return out
    if isinstance(field, serializers.ListField):
        if not isinstance(value, list):
            return [f"{path}: a list is documented, got {type(value).__name__}"]
        return [d for i, item in enumerate(value)
                for d in shape_differences(field.child, item, f"{path}[{i}]")]
    if isinstance(field, serializers.DictField):
        if not isinstance(value, dict):
            return [f"{path}: an object is documented, got {type(value).__name__}"]
        return [d for key, item in value.items()
                for d in shape_differences(field.child, item, f"{path}.{key}")]
    choices = getattr(field, "choice_strings_to_values", None)
    if choices is not None and str(value) not in choices:
        return [f"{path}: {value!r} is not one of the documented choices"]
    if isinstance(field, serializers.DateTimeField):
        # The same instant; a hand-built UTC "Z" and the serializer's local offset both are
        # RFC 3339 date-times.
        built = value if isinstance(value, datetime) else parse_datetime(str(value))
        if built is None or built.tzinfo is None:
            return [f"{path}: {value!r} is not an RFC 3339 date-time"]
        if parse_datetime(_json(field.to_representation(built))) != built:
            return [f"{path}: {value!r} is not the instant the serializer renders"]
        return []
    if type(_json(value)) is not type(_json(field.to_representation(value))):
        return [f"{path}: {type(value).__name__} built, {type(field).__name__} documented"]
    if _json(value) != _json(field.to_representation(value)):
        return [f"{path}: {value!r} renders differently through {type(field).__name__}"]
    return []


def documented(view: type, method: str = "get", code: int = 200) -> serializers.Field:
    """The response serializer that @extend_schema publishes for `view.method` and `code`."""
    schema = getattr(view, method).kwargs["schema"]()
    schema.method = method.upper()
    schema.view = SimpleNamespace(
        request=None, kwargs={}, determine_version=lambda request, **kwargs: (None, None)
    )
    response = schema.get_response_serializers()[code]
    return response.response if hasattr(response, "response") else response


def built_by_view(fx: pytest.FixtureRequest, view: type, send: Callable[[], Any],
                  attr: str = "OutputSerializer", code: int = 200) -> tuple[Any, Any]:
    """(the serializer class, the dict or list the view built and handed to it): for views that
    build their rows inline and pass them through the serializer, where a key the serializer
    does not name would be dropped without a word."""
    documented_class = getattr(view, attr)
    seen: list[Any] = []

    class Capturing(documented_class):  # type: ignore[misc, valid-type]
        def __init__(self, instance: Any = None, *args: Any, **kwargs: Any) -> None:
            seen.append(instance)
            super().__init__(instance, *args, **kwargs)

    fx.getfixturevalue("monkeypatch").setattr(view, attr, Capturing)
    response = send()
    assert response.status_code == code, response.content
    built = seen[0]
    assert built, "the view built nothing to compare"
    return (documented_class(many=True) if isinstance(built, list) else documented_class()), built


def _as_instance(serializer: Any) -> serializers.Field:
    return serializer() if isinstance(serializer, type) else serializer


# --- Real rows --------------------------------------------------------------------------------


@pytest.fixture
def _media(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def world(db, _media) -> SimpleNamespace:
    """A routed request of the roads department with a district, an assignee, a photo, a
    public and an internal event; its reporter, a clerk of roads and a follower."""
    roads = DepartmentFactory(code="roads", name_en="Roads", name_zh_hans="道路")
    clerk = UserFactory()
    enroll_totp(clerk)
    MembershipFactory(user=clerk, department=roads)
    reporter, follower = UserFactory(), UserFactory()
    request = ServiceRequestFactory(
        reporter=reporter, category=CategoryFactory(department=roads), department=roads,
        district=DistrictFactory(), status=Status.IN_PROGRESS, assignee=clerk,
        due_at=timezone.now(), address="12 High Street",
    )
    attachment = Attachment(
        request=request, content_type="image/png", width=8, height=8, size=3,
        uploaded_by=reporter, token=secrets.token_urlsafe(16),
    )
    attachment.file.save("photo.png", ContentFile(b"png"), save=False)
    attachment.save()
    public = event_record(request=request, type=Event.Type.PUBLIC_REPLY, actor=clerk,
                          text="We are on it.", publish=False)
    event_record(request=request, type=Event.Type.INTERNAL_NOTE, actor=clerk,
                 visibility=Event.Visibility.INTERNAL, text="Crew on Tuesday.", publish=False)
    request.refresh_from_db()
    return SimpleNamespace(request=request, reporter=reporter, clerk=clerk,
                           follower=follower, public=public)


@pytest.fixture
def ledger_world(db, world, client_for) -> SimpleNamespace:
    """The register; the reporter gave consent to texts; the clerk revealed their phone
    number; a published tree head; a data officer."""
    seed_register()
    notice = Notice.objects.filter(purpose__code=policy.PURPOSE_SMS).order_by("-version").first()
    consent_services.consent_decide(subject=world.reporter, purpose_code=policy.PURPOSE_SMS,
                                    decision="give", notice_version=notice.version)
    revealed = client_for(world.clerk).post(
        f"/api/v1/staff/requests/{world.request.reference}/reveal",
        {"fields": ["phone"], "purpose": "service-delivery"}, format="json",
    )
    assert revealed.status_code == 200, revealed.content
    officer = UserFactory(is_data_officer=True)
    enroll_totp(officer)
    return SimpleNamespace(notice=notice, head=ledger.publish_tree_head(), revealed=revealed,
                           officer=officer)


# --- The cases: (what documents it, the hand-built value) ------------------------------------

Case = Callable[[pytest.FixtureRequest], tuple[Any, Any]]


def _request_summary(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w = fx.getfixturevalue("world")
    return resident.RequestSummarySerializer(), resident.summary_data(w.request)


def _request_detail_of_the_owner(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w = fx.getfixturevalue("world")
    return resident.RequestDetailSerializer(), resident.detail_data(w.reporter, w.request)


def _request_detail_of_a_follower(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w = fx.getfixturevalue("world")
    return resident.RequestDetailSerializer(), resident.detail_data(w.follower, w.request)


def _public_event(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w = fx.getfixturevalue("world")
    return common.PublicEventSerializer(), common.public_event_data(w.public)


def _attachment(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w = fx.getfixturevalue("world")
    return (common.AttachmentOutputSerializer(),
            common.attachment_data(w.request, w.request.attachments.get()))


def _my_requests_page(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w = fx.getfixturevalue("world")
    response = fx.getfixturevalue("client_for")(w.reporter).get("/api/v1/requests?limit=1")
    assert response.status_code == 200, response.content
    return documented(resident.RequestCollectionApi), response.json()


def _follow(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w = fx.getfixturevalue("world")
    response = fx.getfixturevalue("client_for")(w.follower).post(
        f"/api/v1/requests/{w.request.reference}/follow"
    )
    assert response.status_code == 201, response.content
    return documented(resident.FollowApi, "post", 201), response.json()


def _nearby_candidate(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w = fx.getfixturevalue("world")
    w.request.is_public = True
    candidate = NearbyCandidate(request=w.request, match="distance", distance_m=12.3,
                                followers=2, photo_token=w.request.attachments.get().token)
    return resident.NearbyApi.OutputSerializer(), resident.nearby_data(candidate, timezone.now())


def _queue_row(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w = fx.getfixturevalue("world")
    rows, _ = queue_page_rows(user=w.clerk, filters=QueueFilters(), after=None, limit=5)
    return staff.QueueItemSerializer(), staff.queue_item(rows[0], timezone.now())


def _queue_page(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w = fx.getfixturevalue("world")
    ServiceRequestFactory(category=w.request.category, department=w.request.department)
    response = fx.getfixturevalue("client_for")(w.clerk).get("/api/v1/queue?limit=1")
    assert response.status_code == 200, response.content
    return documented(staff.QueueApi), response.json()


def _staff_event(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w = fx.getfixturevalue("world")
    return staff.StaffEventSerializer(), staff.staff_event_data(w.public)


def _staff_detail(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w = fx.getfixturevalue("world")
    return staff.StaffDetailSerializer(), staff.staff_detail_data(w.clerk, w.request)


def _person(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w = fx.getfixturevalue("world")
    return staff.PersonSerializer(), staff.person(w.clerk)


def _notice(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    lw = fx.getfixturevalue("ledger_world")
    return consent_api.NoticeSerializer(), consent_services.notice_json(lw.notice)


def _tree_head(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    lw = fx.getfixturevalue("ledger_world")
    return consent_api.TreeHeadSerializer(), ledger.tree_head_json(lw.head)


def _my_consents(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w, _ = fx.getfixturevalue("world"), fx.getfixturevalue("ledger_world")
    return (documented(consent_api.MyConsentListApi),
            selectors.my_consents(user=w.reporter, language="en"))


def _processing_records(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    fx.getfixturevalue("ledger_world")
    return (documented(consent_api.ProcessingRecordsApi),
            register.processing_records(selectors.register_purposes()))


def _log_integrity(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    fx.getfixturevalue("ledger_world")
    return documented(consent_api.OfficerIntegrityApi), selectors.integrity_status()


def _export_job(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w = fx.getfixturevalue("world")
    job, _ = export_start(user=w.reporter)
    return rights_api.ExportJobSerializer(), rights_api.export_job_data(job)


def _data_subject_request(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w = fx.getfixturevalue("world")
    dsr = dsr_create(kind="access", channel="counter", subject=w.reporter, recorded_by=w.clerk)
    return rights_api.DsrSerializer(), rights_api.dsr_data(dsr)


def _purpose(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    lw = fx.getfixturevalue("ledger_world")
    return (consent_api.PurposeSerializer(),
            selectors.purpose_json(lw.notice.purpose, lw.notice))


def _receipt(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    fx.getfixturevalue("ledger_world")
    return consent_api.ReceiptSerializer, receipt_document(ConsentReceipt.objects.get())


def _consent_decision(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w, lw = fx.getfixturevalue("world"), fx.getfixturevalue("ledger_world")
    response = fx.getfixturevalue("client_for")(w.reporter).post(
        f"/api/v1/me/consents/{policy.PURPOSE_SMS}",
        {"decision": "withdraw", "notice_version": lw.notice.version}, format="json",
    )
    assert response.status_code == 201, response.content
    return documented(consent_api.MyConsentDecideApi, "post", 201), response.json()


def _my_consent_history(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w, _ = fx.getfixturevalue("world"), fx.getfixturevalue("ledger_world")
    response = fx.getfixturevalue("client_for")(w.reporter).get("/api/v1/me/consents/history")
    assert response.status_code == 200, response.content
    return documented(consent_api.MyConsentHistoryApi), response.json()


def _officer_consent_events(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    lw = fx.getfixturevalue("ledger_world")
    response = fx.getfixturevalue("client_for")(lw.officer).get("/api/v1/officer/consent/events")
    assert response.status_code == 200, response.content
    return documented(consent_api.OfficerEventListApi), response.json()


def _officer_consent_aggregates(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    lw = fx.getfixturevalue("ledger_world")
    response = fx.getfixturevalue("client_for")(lw.officer).get(
        "/api/v1/officer/consent/aggregates"
    )
    assert response.status_code == 200, response.content
    return documented(consent_api.OfficerAggregatesApi), response.json()


def _reveal(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    lw = fx.getfixturevalue("ledger_world")
    return documented(rights_api.RevealApi, "post"), lw.revealed.json()


def _my_access_log_row(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    fx.getfixturevalue("ledger_world")
    event = AccessEvent.objects.get()
    return (rights_api.AccessEventSerializer(),
            rights_selectors.access_event_for_resident(event, "en"))


def _officer_access_row(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    fx.getfixturevalue("ledger_world")
    rows = rights_selectors.officer_access_rows(list(AccessEvent.objects.all()))
    return rights_api.OfficerAccessEventListApi.RowSerializer(), rows[0]


def _officer_access_page(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    lw = fx.getfixturevalue("ledger_world")
    response = fx.getfixturevalue("client_for")(lw.officer).get("/api/v1/officer/access-events")
    assert response.status_code == 200, response.content
    return documented(rights_api.OfficerAccessEventListApi), response.json()


def _erasure_dry_run(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w, _ = fx.getfixturevalue("world"), fx.getfixturevalue("ledger_world")
    response = fx.getfixturevalue("client_for")(w.reporter).post(
        "/api/v1/me/delete", {"dry_run": True}, format="json"
    )
    assert response.status_code == 200, response.content
    return documented(rights_api.AccountDeleteApi, "post"), response.json()


def _categories(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    CategoryFactory(attributes=[{
        "code": "size", "datatype": "singlevaluelist", "required": True, "order": 1,
        "description": "How big?", "values": [{"key": "s", "name": "Small"}],
    }])
    api = fx.getfixturevalue("client_for")(None)
    return built_by_view(fx, catalog.CategoryListApi, lambda: api.get("/api/v1/categories"))


def _districts(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    fx.getfixturevalue("world")
    api = fx.getfixturevalue("client_for")(None)
    return built_by_view(fx, catalog.DistrictListApi, lambda: api.get("/api/v1/districts"))


def _queue_counts(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w = fx.getfixturevalue("world")
    client = fx.getfixturevalue("client_for")(w.clerk)
    return built_by_view(fx, staff.QueueCountsApi, lambda: client.get("/api/v1/queue/counts"))


def _log_entries(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    fx.getfixturevalue("ledger_world")
    api = fx.getfixturevalue("client_for")(None)
    return built_by_view(fx, consent_api.EntryListApi,
                         lambda: api.get("/api/v1/log/entries", {"start": 0, "end": 5}))


def _reveal_body(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w, _ = fx.getfixturevalue("world"), fx.getfixturevalue("ledger_world")
    client = fx.getfixturevalue("client_for")(w.clerk)
    return built_by_view(fx, rights_api.RevealApi, lambda: client.post(
        f"/api/v1/staff/requests/{w.request.reference}/reveal",
        {"fields": ["email", "exact_location", "photos"], "purpose": "service-delivery"},
        format="json",
    ))


def _erasure_plan_body(fx: pytest.FixtureRequest) -> tuple[Any, Any]:
    w, _ = fx.getfixturevalue("world"), fx.getfixturevalue("ledger_world")
    client = fx.getfixturevalue("client_for")(w.reporter)
    return built_by_view(fx, rights_api.AccountDeleteApi, lambda: client.post(
        "/api/v1/me/delete", {"dry_run": True}, format="json"
    ))


CASES: dict[str, Case] = {
    "resident summary (list rows)": _request_summary,
    "resident detail, owner": _request_detail_of_the_owner,
    "resident detail, follower": _request_detail_of_a_follower,
    "public timeline event": _public_event,
    "photo": _attachment,
    "my requests page": _my_requests_page,
    "follow": _follow,
    "nearby request": _nearby_candidate,
    "queue row": _queue_row,
    "queue page": _queue_page,
    "staff timeline event": _staff_event,
    "staff detail": _staff_detail,
    "assignee": _person,
    "privacy notice": _notice,
    "tree head": _tree_head,
    "my consents": _my_consents,
    "records of processing": _processing_records,
    "log integrity": _log_integrity,
    "export job": _export_job,
    "data-subject request": _data_subject_request,
    "purpose": _purpose,
    "consent receipt": _receipt,
    "consent decision": _consent_decision,
    "my consent history": _my_consent_history,
    "officer consent events": _officer_consent_events,
    "officer consent aggregates": _officer_consent_aggregates,
    "reveal": _reveal,
    "my access log row": _my_access_log_row,
    "officer access row": _officer_access_row,
    "officer access page": _officer_access_page,
    "erasure dry run": _erasure_dry_run,
    "categories (built in the view)": _categories,
    "districts (built in the view)": _districts,
    "queue counts (built in the view)": _queue_counts,
    "log entries (built in the view)": _log_entries,
    "reveal (built in the view)": _reveal_body,
    "erasure plan (built in the view)": _erasure_plan_body,
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_hand_built_response_has_the_shape_its_serializer_documents(db, request, case) -> None:
    serializer, built = CASES[case](request)
    assert shape_differences(_as_instance(serializer), built) == []


# --- The comparison itself catches a field on one side only ----------------------------------


class _Two(serializers.Serializer):
    code = serializers.CharField()
    count = serializers.IntegerField()
    at = serializers.DateTimeField(allow_null=True)


def test_a_key_built_but_not_documented_is_a_difference() -> None:
    built = {"code": "a", "count": 1, "at": None, "extra": True}
    assert shape_differences(_Two(), built) == ["$.extra: built, not documented"]


def test_a_field_documented_but_not_built_is_a_difference() -> None:
    assert shape_differences(_Two(), {"code": "a", "at": None}) == [
        "$.count: documented, not built"
    ]


def test_a_value_of_another_type_is_a_difference() -> None:
    assert shape_differences(_Two(), {"code": "a", "count": "1", "at": None}) == [
        "$.count: str built, IntegerField documented"
    ]

