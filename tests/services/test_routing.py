"""Routing: every branch, with the explanation stored on the `routed` event."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from services import classifier
from services.models import Category, Event, Status
from services.routing import request_route
from services.services import request_submit, request_transition
from tests.factories import (
    CategoryFactory,
    DepartmentFactory,
    DistrictFactory,
    MembershipFactory,
    ServiceRequestFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def router_model(tmp_path, settings):
    """Each test gets its own model file (trained on the seed set on first use)."""
    settings.CIVICDESK = {
        **django_settings.CIVICDESK,
        "ROUTER_MODEL_PATH": str(tmp_path / "router.json"),
    }
    return tmp_path / "router.json"


@pytest.fixture
def city(triage):
    lighting = DepartmentFactory(
        code="lighting", name_en="Street Lighting", name_zh_hans="路灯管理处"
    )
    contractor = DepartmentFactory(
        code="north-lighting", name_en="North Lighting Contractor", name_zh_hans="北区路灯承包商"
    )
    roads = DepartmentFactory(code="roads", name_en="Roads", name_zh_hans="道路管理处")
    parks = DepartmentFactory(code="parks", name_en="Parks", name_zh_hans="园林绿化处")
    north = DistrictFactory(code="north", name_en="North District", name_zh_hans="北区")
    south = DistrictFactory(code="south", name_en="South District", name_zh_hans="南区")
    streetlight = CategoryFactory(
        code="streetlight", name_en="Streetlight out", name_zh_hans="路灯不亮", department=lighting
    )
    other = CategoryFactory(
        code="other", name_en="Something else", department=None, uses_classifier=True
    )
    orphan = CategoryFactory(code="orphan", name_en="Orphan", department=None)
    rule = streetlight.rules.create(district=north, department=contractor, order=10)
    return {
        "lighting": lighting,
        "contractor": contractor,
        "roads": roads,
        "parks": parks,
        "triage": triage,
        "north": north,
        "south": south,
        "streetlight": streetlight,
        "other": other,
        "orphan": orphan,
        "rule": rule,
    }


def _request(category, district=None, description="It is broken.", reporter=None):
    return ServiceRequestFactory(
        category=category,
        district=district,
        description=description,
        department=None,
        reporter=reporter or UserFactory(),
    )


def _routed_events(request):
    return list(Event.objects.filter(request=request, type=Event.Type.ROUTED))


def test_rule_for_category_and_district_routes_and_names_the_rule(city):
    request = _request(city["streetlight"], city["north"])

    event = request_route(request_id=request.pk)

    request.refresh_from_db()
    assert request.status == Status.ROUTED
    assert request.department == city["contractor"]
    assert request.routed_at is not None
    assert event.data["method"] == "rule"
    assert event.data["rule_id"] == city["rule"].pk
    assert event.data["explanation"]["en"] == (
        "Sent to North Lighting Contractor because you chose 'Streetlight out' in North District."
    )
    assert event.data["explanation"]["zh-hans"] == (
        "已转交北区路灯承包商，因为您选择了“路灯不亮”，地点在北区。"
    )
    assert event.actor_role == "system"
    assert event.visibility == Event.Visibility.PUBLIC


def test_rule_without_district_applies_in_every_district(city):
    any_district = city["streetlight"].rules.create(
        district=None, department=city["roads"], order=1
    )
    request = _request(city["streetlight"], city["south"])

    event = request_route(request_id=request.pk)

    assert event.data["rule_id"] == any_district.pk
    assert event.data["explanation"]["en"] == ("Sent to Roads because you chose 'Streetlight out'.")


def test_rules_are_tried_in_order(city):
    earlier = city["streetlight"].rules.create(
        district=city["north"], department=city["roads"], order=5
    )
    request = _request(city["streetlight"], city["north"])

    event = request_route(request_id=request.pk)

    assert event.data["rule_id"] == earlier.pk


def test_inactive_rule_is_ignored(city):
    city["rule"].is_active = False
    city["rule"].save()
    request = _request(city["streetlight"], city["north"])

    event = request_route(request_id=request.pk)

    assert event.data["method"] == "category_default"


def test_category_default_when_no_rule_matches_the_district(city):
    request = _request(city["streetlight"], city["south"])

    event = request_route(request_id=request.pk)

    request.refresh_from_db()
    assert request.department == city["lighting"]
    assert event.data["method"] == "category_default"
    assert "rule_id" not in event.data
    assert event.data["explanation"]["en"] == (
        "Sent to Street Lighting because you chose 'Streetlight out'."
    )


def test_classifier_routes_free_text_and_stores_model_score_and_terms(city):
    request = _request(city["other"], description="The street lamp outside is dark every night")

    event = request_route(request_id=request.pk)

    request.refresh_from_db()
    assert request.department == city["lighting"]
    model = event.data["model"]
    assert event.data["method"] == "classifier"
    assert model["version"] == classifier.current_model().version
    assert model["label"] == "lighting"
    assert model["score"] >= django_settings.CIVICDESK["ROUTER_CONFIDENCE_THRESHOLD"]
    terms = [term for term, _ in model["top_terms"]]
    assert "lamp" in terms
    assert event.data["explanation"]["en"].startswith(
        "Sent to Street Lighting because your description mentions "
    )
    assert "'lamp'" in event.data["explanation"]["en"]


def test_classifier_understands_chinese_and_explains_in_the_residents_language(city):
    reporter = UserFactory(preferred_language="zh-hans")
    request = _request(city["other"], description="楼下的路灯坏了，晚上很黑", reporter=reporter)

    event = request_route(request_id=request.pk)

    assert event.data["model"]["label"] == "lighting"
    assert "路灯" in [term for term, _ in event.data["model"]["top_terms"]]
    assert event.text == event.data["explanation"]["zh-hans"]
    assert event.text.startswith("已转交路灯管理处")


def test_low_classifier_confidence_goes_to_triage_with_the_score(city, settings):
    settings.CIVICDESK = {**settings.CIVICDESK, "ROUTER_CONFIDENCE_THRESHOLD": 0.99}
    request = _request(city["other"], description="The street lamp outside is dark every night")

    event = request_route(request_id=request.pk)

    request.refresh_from_db()
    assert request.department == city["triage"]
    assert event.data["method"] == "triage"
    assert event.data["triage_reason"] == "low_confidence"
    assert event.data["model"]["score"] < 0.99
    assert event.data["model"]["threshold"] == 0.99


def test_category_without_department_or_classifier_goes_to_triage(city):
    request = _request(city["orphan"])

    event = request_route(request_id=request.pk)

    request.refresh_from_db()
    assert request.department == city["triage"]
    assert event.data["triage_reason"] == "no_match"
    assert event.data["explanation"]["en"] == (
        "Sent to Triage, where staff will pass it to the right department."
    )


def test_routing_twice_records_one_routed_event(city):
    request = _request(city["streetlight"], city["north"])

    first = request_route(request_id=request.pk)
    second = request_route(request_id=request.pk)

    assert first is not None
    assert second is None
    assert len(_routed_events(request)) == 1


def test_routing_a_missing_request_does_nothing(db):
    assert request_route(request_id=987654) is None


def _return(request, department, text="Not ours."):
    clerk = MembershipFactory(department=department).user
    request_transition(request=request, actor=clerk, to_status=Status.RETURNED, text=text)


def test_returned_request_is_rerouted_without_the_department_that_returned_it(city):
    request = _request(city["streetlight"], city["north"])
    request_route(request_id=request.pk)
    _return(request, city["contractor"])

    event = request_route(request_id=request.pk)

    request.refresh_from_db()
    assert request.status == Status.ROUTED
    assert request.department == city["lighting"]
    assert event.from_status == Status.RETURNED
    assert event.data["excluded_department_ids"] == [city["contractor"].pk]
    assert event.data["return_count"] == 1


def test_returned_classifier_request_goes_to_the_next_best_department(city):
    request = _request(city["other"], description="The street lamp outside is dark every night")
    request_route(request_id=request.pk)
    _return(request, city["lighting"])

    event = request_route(request_id=request.pk)

    request.refresh_from_db()
    assert request.department != city["lighting"]
    assert event.data["model"]["label"] != "lighting"


def test_second_return_sends_the_request_to_triage(city):
    request = _request(city["streetlight"], city["north"])
    request_route(request_id=request.pk)
    _return(request, city["contractor"])
    request_route(request_id=request.pk)
    _return(request, city["lighting"])

    event = request_route(request_id=request.pk)

    request.refresh_from_db()
    assert request.department == city["triage"]
    assert event.data["triage_reason"] == "returned_twice"
    assert len(_routed_events(request)) == 3


def test_submitting_routes_after_commit_through_the_outbox(
    city, django_capture_on_commit_callbacks
):
    if not django_settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("with REDIS_URL a worker routes it; see test_tasks_worker.py")
    with django_capture_on_commit_callbacks(execute=True):
        request = request_submit(
            reporter=UserFactory(),
            category=city["streetlight"],
            description="Dark for three nights.",
            lat=39.0 + 0.05,
            lon=116.0 + 0.05,
        )

    request.refresh_from_db()
    assert request.status == Status.ROUTED
    assert len(_routed_events(request)) == 1


def test_training_rows_leave_out_reporters_without_consent(city):
    consenting, silent = UserFactory(), UserFactory()
    for reporter in (consenting, silent):
        ServiceRequestFactory(
            category=city["streetlight"],
            department=city["lighting"],
            status=Status.IN_PROGRESS,
            reporter=reporter,
            description=f"lamp report by {reporter.pk}",
        )
    pytest.importorskip("consent.policy")
    import consent.policy

    real = consent.policy.permits
    asked = []

    def permits(*, subject, purpose):
        asked.append((subject.pk, purpose))
        decision = real(subject=subject, purpose=purpose)
        if subject.pk == consenting.pk:
            return type(decision)(True, "consent", "consent_given")
        return decision

    consent.policy.permits = permits
    try:
        rows = classifier.training_rows_select()
    finally:
        consent.policy.permits = real

    assert rows == [(f"lamp report by {consenting.pk}", "lighting")]
    assert sorted(asked) == sorted(
        [(consenting.pk, "routing-model-training"), (silent.pk, "routing-model-training")]
    )


def test_training_rows_skip_triage_and_unconfirmed_requests(city):
    for status, department in [
        (Status.ROUTED, city["lighting"]),
        (Status.IN_PROGRESS, city["triage"]),
    ]:
        ServiceRequestFactory(category=city["streetlight"], department=department, status=status)

    assert classifier.training_rows_select() == []


def test_train_router_command_writes_a_model_the_router_then_uses(city, router_model):
    from django.core.management import call_command

    call_command("train_router")

    assert router_model.exists()
    request = _request(city["other"], description="Big pothole in the road")
    event = request_route(request_id=request.pk)
    assert event.data["model"]["version"] == classifier.current_model().version
    assert event.data["model"]["label"] == "roads"


def test_category_kind_complaint_with_default_uses_the_default(city):
    office = DepartmentFactory(code="complaints", name_en="Complaints Office")
    conduct = CategoryFactory(
        code="complaint-conduct", kind=Category.Kind.COMPLAINT, department=office
    )
    request = _request(conduct, description="The clerk was rude")

    event = request_route(request_id=request.pk)

    assert event.data["method"] == "category_default"
    assert event.data["department"]["code"] == "complaints"


# --- The pure decision, without a database --------------------------------------------------


def _facts(**overrides):
    from services.routing import Facts, Named

    values = {
        "category": Named(1, "other", "Something else"),
        "default_department": None,
        "uses_classifier": True,
        "district": None,
        "description": "dark lamp",
    }
    return Facts(**{**values, **overrides})


def test_decide_skips_a_rule_whose_department_returned_the_request():
    from services.routing import Named, Rule, decide

    first, second = Named(10, "a", "A"), Named(11, "b", "B")
    decision = decide(
        facts=_facts(excluded_department_ids=frozenset({10}), return_count=1),
        rules=[Rule(1, None, first), Rule(2, None, second)],
        triage=Named(99, "triage", "Triage"),
        classify=None,
        departments_by_code={},
        threshold=0.5,
    )

    assert (decision.method, decision.rule_id, decision.department) == ("rule", 2, second)


def test_decide_offers_the_classifier_only_departments_still_allowed():
    from services.classifier import Prediction
    from services.routing import Named, decide

    offered = []

    def classify(text, allowed):
        offered.append(allowed)
        return Prediction("b", 0.9, (("lamp", 0.5),), "v1")

    departments = {
        "a": Named(10, "a", "A"),
        "b": Named(11, "b", "B"),
        "c": Named(12, "c", "C"),
    }
    decision = decide(
        facts=_facts(excluded_department_ids=frozenset({10})),
        rules=[],
        triage=Named(99, "triage", "Triage"),
        classify=classify,
        departments_by_code=departments,
        threshold=0.5,
    )

    assert offered == [frozenset({"b", "c"})]
    assert decision.department.code == "b"
    assert decision.explanation["en"] == "Sent to B because your description mentions 'lamp'."


# --- Departments nobody staffs ---------------------------------------------------------------


def test_work_for_a_department_without_staff_goes_to_triage_with_the_reason(city):
    water = DepartmentFactory(code="water", name_en="Water", name_zh_hans="供水处", staffed=False)
    leak = CategoryFactory(code="leak", name_en="Water leak", department=water)
    request = _request(leak)

    event = request_route(request_id=request.pk)

    request.refresh_from_db()
    assert request.department == city["triage"]
    assert event.data["method"] == "triage"
    assert event.data["triage_reason"] == "unstaffed"
    assert event.data["unstaffed_department"]["code"] == "water"
    assert event.data["explanation"]["en"] == (
        "Sent to Triage, because Water has nobody to take it yet; staff will pass it to the "
        "right department."
    )
    assert "供水处" in event.data["explanation"]["zh-hans"]


def test_a_rule_to_a_department_whose_staff_left_sends_work_to_triage(city):
    city["contractor"].members.update(user=UserFactory(is_active=False))

    event = request_route(request_id=_request(city["streetlight"], city["north"]).pk)

    assert event.data["triage_reason"] == "unstaffed"
    assert event.data["rule_id"] == city["rule"].pk


# --- A real city's classifier ----------------------------------------------------------------


def test_a_real_city_never_classifies_with_the_demo_seed_set(city, settings):
    settings.CIVICDESK = {**settings.CIVICDESK, "DEMO": False}
    classifier._cache.update(key=None, model=None)

    event = request_route(
        request_id=_request(city["other"], description="The street lamp is dark").pk
    )

    assert event.data["method"] == "triage"
    assert event.data["triage_reason"] == "no_match"
    assert "model" not in event.data


def test_a_real_city_ignores_a_model_file_trained_on_the_demo_seed_set(city, settings):
    classifier.router_train(include_requests=False)  # the demo's model, left on disk
    settings.CIVICDESK = {**settings.CIVICDESK, "DEMO": False}
    classifier._cache.update(key=None, model=None)

    assert classifier.current_model() is None
