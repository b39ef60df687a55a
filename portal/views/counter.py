"""The service counter: a clerk files a request for a walk-in resident and prints the receipt."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.views.decorators.http import require_GET, require_http_methods

from consent.models import ConsentRecord, EventType
from consent.rights.intake import CounterResident, counter_consent_purposes, counter_request_file
from consent.selectors import current_notices, pick_language
from core import city
from core.errors import DomainError
from core.users import signed_in
from portal.forms import CounterRequestForm
from portal.views.common import is_staff, role_required, submit_once
from portal.views.resident import form_categories, form_districts, form_errors_map, form_location
from services.models import ServiceRequest

# References filed by this clerk in this session: the receipt page shows only these (the
# request may be routed to a department the clerk does not work for).
SESSION_RECEIPTS = "_civicdesk_counter_receipts"
RECEIPTS_KEPT = 20


def _form(data: object = None) -> CounterRequestForm:
    purposes = counter_consent_purposes()
    language = get_language() or "en"
    notices = {
        pid: pick_language(by_language, language)
        for pid, by_language in current_notices(purposes).items()
    }
    return CounterRequestForm(
        data, categories=form_categories(), districts=form_districts(), purposes=purposes,
        notices=notices,
    )


def _render(request: HttpRequest, form: CounterRequestForm, status: int = 200) -> HttpResponse:
    return render(request, "portal/staff/counter.html", {"form": form}, status=status)


@role_required(is_staff)
@require_http_methods(["GET", "POST"])
def counter_new(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _render(request, _form())
    form = _form(request.POST)
    if not form.is_valid():
        return _render(request, form, status=400)

    def work() -> HttpResponse:
        category = form.chosen_category()
        if category is None:
            return _render(request, form, status=400)
        data = form.cleaned_data
        try:
            intake = counter_request_file(
                clerk=signed_in(request.user),
                resident=CounterResident(
                    has_account=data.get("has_account") == "yes",
                    email=data.get("email") or "",
                    name=data.get("name") or "",
                    phone=data.get("phone") or "",
                    language=data.get("language") or "en",
                ),
                category=category,
                description=data["description"],
                **form_location(form),
                attribute_values=form.attribute_values(category),
                is_private_address=data.get("is_private_address", False),
                is_public=data.get("is_public", False),
                consents=form.consent_answers(),
            )
        except DomainError as error:
            form_errors_map(form, category, error)
            return _render(request, form, status=400)
        reference = intake.request.reference
        filed = [r for r in request.session.get(SESSION_RECEIPTS, []) if r != reference]
        request.session[SESSION_RECEIPTS] = [*filed, reference][-RECEIPTS_KEPT:]
        return HttpResponseRedirect(reverse("portal:counter-receipt", args=[reference]))

    return submit_once(request, form.token, work)


@role_required(is_staff)
@require_GET
def counter_receipt(request: HttpRequest, reference: str) -> HttpResponse:
    """The printable receipt of a request this clerk filed in this session."""
    reference = reference[:16]
    if reference not in request.session.get(SESSION_RECEIPTS, []):
        raise Http404("No such receipt.")
    sr = (
        ServiceRequest.objects.select_related("category", "reporter")
        .filter(reference=reference, channel="counter").first()
    )
    if sr is None:
        raise Http404("No such receipt.")
    consents = list(
        ConsentRecord.objects.select_related("purpose")
        .filter(subject_id=sr.reporter_id, state__in=(EventType.GIVEN, EventType.REFUSED))
        .order_by("purpose__code")
    ) if sr.reporter_id is not None else []
    response = render(
        request,
        "portal/staff/counter_receipt.html",
        {
            "sr": sr,
            "consents": consents,
            "emailed": bool(sr.reporter and sr.reporter.email),
            "city_name": city.city_name(get_language()),
        },
    )
    response["Cache-Control"] = "no-store"
    return response
