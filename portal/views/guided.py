"""The guided report: what → where → details and photos → review → thank you.

Every step is a plain HTML form (no JavaScript needed, keyboard friendly); the answers so far
are a draft in the resident's session, checked with the same `RequestForm` as the one-page
form, and the review step files it through the same door as every other channel (`request_file`).
The category is suggested from the description by the routing classifier
(`services.classifier.category_suggest`) and only ever pre-selected: the resident confirms it.
"""

from __future__ import annotations

import base64
from typing import Any

from django import forms
from django.conf import settings
from django.forms.utils import ErrorDict, ErrorList
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import DomainError, NotFound
from core.users import signed_in
from portal.forms import RequestForm, attribute_field_name, new_form_token
from portal.views.common import is_resident, role_required, submit_once
from portal.views.resident import (
    form_categories,
    form_districts,
    form_errors_map,
    form_location,
    nearby_rows,
)
from portal.views.timeline import attribute_rows
from services import services as request_services
from services.attachments import PreparedPhoto, max_photos, photos_prepare
from services.classifier import category_suggest
from services.gazetteer import location_resolve
from services.models import Category, Channel, ServiceRequest
from services.selectors import access_request

SESSION_KEY = "guided_report"
STEPS = ("what", "category", "where", "details", "review")
# What each step asks (the RequestForm fields it owns).
STEP_FIELDS = {
    "what": ("description",),
    "category": ("category",),
    "where": ("address", "district", "lat", "lon", "is_private_address"),
    "details": ("is_public",),
}
# The four steps a resident sees (the category is confirmed as part of "what").
VISIBLE_STEP = {"what": 1, "category": 1, "where": 2, "details": 3, "review": 4}


def _draft(request: HttpRequest) -> dict[str, Any]:
    draft = request.session.get(SESSION_KEY)
    if not isinstance(draft, dict):
        draft = {"data": {}, "photos": [], "token": new_form_token()}
    return draft


def _save(request: HttpRequest, draft: dict[str, Any]) -> None:
    request.session[SESSION_KEY] = draft
    request.session.modified = True


def _form(draft: dict[str, Any], **kwargs: Any) -> RequestForm:
    data = MultiValueDict({k: list(v) for k, v in draft["data"].items()})
    data["form_token"] = draft["token"]
    return RequestForm(
        data, categories=form_categories(), districts=form_districts(), with_photos=False, **kwargs
    )


def _photos(draft: dict[str, Any]) -> list[PreparedPhoto]:
    return [
        PreparedPhoto(
            content=base64.b64decode(p["content"]),
            content_type=p["content_type"],
            width=p["width"],
            height=p["height"],
        )
        for p in draft.get("photos", [])
    ]


def _category(draft: dict[str, Any]) -> Category | None:
    code = (draft["data"].get("category") or [""])[0]
    return next((c for c in form_categories() if c.code == code), None)


def _fields_of(step: str, category: Category | None) -> tuple[str, ...]:
    fields = STEP_FIELDS.get(step, ())
    if step == "details" and category is not None:
        fields += tuple(
            attribute_field_name(category, a["code"]) for a in category.attributes or []
        )
    return fields


def _step_errors(form: RequestForm, fields: tuple[str, ...]) -> dict[str, list[str]]:
    form.is_valid()
    return {name: [str(e) for e in form.errors[name]] for name in fields if name in form.errors}


def _first_unanswered(draft: dict[str, Any]) -> str:
    data = draft["data"]
    if not (data.get("description") or [""])[0].strip():
        return "what"
    if _category(draft) is None:
        return "category"
    if not any((data.get(k) or [""])[0] for k in ("address", "district", "lat")):
        return "where"
    if not draft.get("details_done"):
        return "details"
    return "review"


@role_required(is_resident)
@require_GET
def guided_start(request: HttpRequest) -> HttpResponse:
    """Start afresh (a new draft) or, with ?continue, where the draft stopped."""
    if "continue" in request.GET and SESSION_KEY in request.session:
        return HttpResponseRedirect(
            reverse("portal:guided", args=[_first_unanswered(_draft(request))])
        )
    request.session.pop(SESSION_KEY, None)
    return HttpResponseRedirect(reverse("portal:guided", args=["what"]))


@role_required(is_resident)
@require_http_methods(["GET", "POST"])
def guided_step(request: HttpRequest, step: str) -> HttpResponse:
    if step not in STEPS:
        raise Http404("No such step.")
    draft = _draft(request)
    # No skipping ahead: a step is reachable once the steps before it are answered.
    reachable = STEPS.index(_first_unanswered(draft))
    if STEPS.index(step) > reachable:
        return HttpResponseRedirect(reverse("portal:guided", args=[STEPS[reachable]]))
    if step == "review" and request.method == "POST":
        return _submit(request, draft)
    category = _category(draft)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        fields = _fields_of(step, category)
        for name in fields:
            values = request.POST.getlist(name)
            if any(str(v).strip() for v in values):
                draft["data"][name] = [str(v)[:5000] for v in values]
            else:
                draft["data"].pop(name, None)
        form = _form(draft)
        errors = _step_errors(form, fields)
        if step == "where" and not errors and _first_unanswered(draft) == "where":
            errors["address"] = [
                _("Give an address or landmark, pick a district, or give coordinates.")
            ]
        if step == "details" and not errors:
            errors = _required_attribute_errors(draft, category) or _photo_errors(request, draft)
        if not errors:
            if step == "details":
                draft["details_done"] = True
            _save(request, draft)
            following = STEPS[STEPS.index(step) + 1]
            return HttpResponseRedirect(reverse("portal:guided", args=[following]))
        _save(request, draft)
        category = _category(draft)
    return _render(request, step, draft, category, errors)


def _required_attribute_errors(
    draft: dict[str, Any], category: Category | None
) -> dict[str, list[str]]:
    """The category's required questions, checked here rather than only when filing."""
    errors: dict[str, list[str]] = {}
    for attribute in (category.attributes or []) if category else []:
        name = attribute_field_name(category, attribute["code"])  # type: ignore[arg-type]
        if attribute.get("required") and not draft["data"].get(name):
            errors[name] = [_("This field is required.")]
    return errors


def _photo_errors(request: HttpRequest, draft: dict[str, Any]) -> dict[str, list[str]]:
    if request.POST.get("remove_photos"):
        draft["photos"] = []
    uploads = request.FILES.getlist("photos")
    if not uploads:
        return {}
    if len(draft.get("photos", [])) + len(uploads) > max_photos():
        return {"photos": [_("A request may have at most %(n)d photos.") % {"n": max_photos()}]}
    try:
        prepared = photos_prepare(uploads=uploads)
    except DomainError as error:
        texts = [t for messages in (error.errors or {}).values() for t in messages]
        return {"photos": texts or [str(error.detail)]}
    draft.setdefault("photos", []).extend(
        {
            "content": base64.b64encode(p.content).decode("ascii"),
            "content_type": p.content_type,
            "width": p.width,
            "height": p.height,
        }
        for p in prepared
    )
    return {}


def _render(
    request: HttpRequest,
    step: str,
    draft: dict[str, Any],
    category: Category | None,
    errors: dict[str, list[str]],
    status: int | None = None,
) -> HttpResponse:
    if errors:
        # The answers as sent, with exactly this step's errors (not other steps').
        form = _form(draft)
        form.is_valid()
        form._errors = ErrorDict(  # type: ignore[attr-defined]
            {k: ErrorList(v) for k, v in errors.items()}
        )
    else:
        form = RequestForm(
            categories=form_categories(), districts=form_districts(), with_photos=False
        )
        for name, values in draft["data"].items():
            field = form.fields.get(name)
            if field is not None:
                many = isinstance(field, forms.MultipleChoiceField)
                form.initial[name] = values if many else values[0]
    suggestion = None
    if step == "category":
        description = (draft["data"].get("description") or [""])[0]
        suggestion = category_suggest(text=description, categories=form.categories)
    selected = category.code if category else (suggestion.code if suggestion else "")
    attribute_fields = []
    if category is not None:
        attribute_fields = [
            (form[attribute_field_name(category, a["code"])], bool(a.get("required")))
            for a in sorted(category.attributes or [], key=lambda a: a.get("order", 0))
        ]
    district = next(
        (d for d in form.districts if d.code == (draft["data"].get("district") or [""])[0]), None
    )
    context = {
        "step": step,
        "number": VISIBLE_STEP[step],
        "steps": [
            (1, _("What")), (2, _("Where")), (3, _("Details and photos")), (4, _("Review"))
        ],
        "form": form,
        "errors": errors,
        "has_errors": bool(errors),
        "category": category,
        "suggestion": suggestion,
        "selected": selected,
        "categories": form.categories,
        "attribute_fields": attribute_fields,
        "district": district,
        "photo_count": len(draft.get("photos", [])),
        "max_photos": max_photos(),
        "token": draft["token"],
        "data": {k: (v[0] if len(v) == 1 else v) for k, v in draft["data"].items()},
        "review_attributes": _review_attributes(draft, category) if step == "review" else [],
        "nearby": (
            _nearby(draft, category, form, viewer_id=int(request.user.pk or 0))
            if step in ("details", "review") else []
        ),
    }
    response_status = status or (400 if errors else 200)
    return render(request, "portal/resident/guided.html", context, status=response_status)


def _float(draft: dict[str, Any], name: str) -> float | None:
    try:
        value = float((draft["data"].get(name) or [""])[0])
    except ValueError:
        return None
    return value if -180 <= value <= 180 else None


def _nearby(
    draft: dict[str, Any], category: Category | None, form: RequestForm, *, viewer_id: int
) -> list[dict[str, Any]]:
    """Open reports of the chosen category at the draft's place: a point, an address (the
    gazetteer's), or the district alone. Shown without JavaScript, each with a follow button."""
    if category is None:
        return []
    lat, lon = _float(draft, "lat"), _float(draft, "lon")
    if lat is None or lon is None or not -90 <= lat <= 90:
        lat = lon = None
    code = (draft["data"].get("district") or [""])[0]
    district = next((d for d in form.districts if d.code == code), None)
    address = (draft["data"].get("address") or [""])[0]
    if lat is None and not address.strip() and district is None:
        return []
    place = location_resolve(lat=lat, lon=lon, address=address, district=district)
    return nearby_rows(category=category, place=place, viewer_id=viewer_id)


def _review_attributes(draft: dict[str, Any], category: Category | None) -> list[tuple[str, str]]:
    form = _form(draft)
    if category is None or not form.is_valid():
        return []
    probe = ServiceRequest(category=category, attribute_values=form.attribute_values(category))
    return attribute_rows(probe)


def _submit(request: HttpRequest, draft: dict[str, Any]) -> HttpResponse:
    form = _form(draft)
    category = _category(draft)
    if not form.is_valid() or category is None:
        return HttpResponseRedirect(reverse("portal:guided", args=[_first_unanswered(draft)]))

    def work() -> HttpResponse:
        photos = _photos(draft)
        try:
            submitted, _created = request_services.request_file(
                reporter=signed_in(request.user),
                category=category.code,
                description=form.cleaned_data["description"],
                **form_location(form),
                attribute_values=form.attribute_values(category),
                channel=Channel.WEB,
                is_public=form.cleaned_data.get("is_public", False),
                is_private_address=form.cleaned_data.get("is_private_address", False),
                photos=photos,
                idempotency_key=f"web:{draft['token']}",
            )
        except DomainError as error:
            form_errors_map(form, category, error)
            errors = {k: [str(e) for e in v] for k, v in form.errors.items()}
            return _render(request, "review", draft, category, errors)
        request.session.pop(SESSION_KEY, None)
        return HttpResponseRedirect(reverse("portal:guided-thanks", args=[submitted.reference]))

    return submit_once(request, draft["token"], work)


@role_required(is_resident)
@require_GET
def guided_thanks(request: HttpRequest, reference: str) -> HttpResponse:
    try:
        sr = access_request(user=request.user, reference=reference[:16])
    except NotFound as error:
        raise Http404(error.detail) from error
    if sr.reporter_id != request.user.pk:
        raise Http404("No such request.")
    department = sr.department or sr.category.department
    return render(
        request,
        "portal/resident/guided_thanks.html",
        {
            "sr": sr,
            "department": department,
            "department_decided": sr.department_id is not None,
            "auto_close_days": settings.CIVICDESK.get("AUTO_CLOSE_DAYS"),
        },
    )
