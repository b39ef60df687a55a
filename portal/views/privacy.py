"""Data use: the public register and log pages, residents' consents with receipts, and the
data officer's consent log, integrity status and records of processing."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from consent import ledger, register
from consent import selectors as consent_selectors
from consent.models import EventType, LegalBasis, Method, RetentionEndAction
from consent.services import consent_decide, log_verification_request
from core.errors import Conflict, Invalid, NotFound
from core.i18n import current_language
from portal.forms import ConsentLogFilterForm
from portal.views.common import (
    is_data_officer,
    is_resident,
    new_form_token,
    role_required,
    submit_once,
)
from portal.views.rights import my_rights_context
from portal.views.statistics import Row, bar_chart

LOG_PAGE_SIZE = 50


def _language() -> str:
    return current_language()


def _purposes_for_display() -> list[dict[str, Any]]:
    purposes = list(consent_selectors.register_purposes())
    notices = consent_selectors.current_notices(purposes)
    ends = dict(RetentionEndAction.choices)
    out = []
    for purpose in purposes:
        notice = consent_selectors.pick_language(notices[purpose.pk], _language())
        out.append(
            {
                "purpose": purpose,
                "basis": LegalBasis(purpose.legal_basis).label,
                "categories": [register.category_json(c)["label"] for c in purpose.data_categories],
                "departments": [d.name for d in purpose.departments.all()],
                "recipients": purpose.recipients,
                "retention_end": ends.get(purpose.retention_end_action, ""),
                "notice": notice,
            }
        )
    return out


@require_GET
def register_page(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/privacy/register.html", {"items": _purposes_for_display()})


@require_GET
def log_page(request: HttpRequest) -> HttpResponse:
    head = ledger.latest_head()
    return render(
        request,
        "portal/privacy/log.html",
        {
            "head": ledger.tree_head_json(head) if head else None,
            "log_size": ledger.log_size(),
            "origin": settings.CIVICDESK.get("LOG_ORIGIN", ""),
        },
    )


# --- Residents ---------------------------------------------------------------------------------


@role_required(is_resident)
@require_GET
def my_data(request: HttpRequest) -> HttpResponse:
    consents = consent_selectors.my_consents(user=request.user, language=_language())
    events = list(consent_selectors.my_consent_events(user=request.user)[:50])
    return render(
        request,
        "portal/privacy/my_data.html",
        {
            "consents": [c for c in consents if c["state"] != "not_consent_based"],
            "other_purposes": [c for c in consents if c["state"] == "not_consent_based"],
            "events": events,
            "last_effects": request.session.pop("portal_consent_effects", None),
            "export_token": new_form_token(),
            **my_rights_context(request.user),
        },
    )


@role_required(is_resident)
@require_POST
def consent_change(request: HttpRequest, purpose: str) -> HttpResponse:
    target = reverse("portal:my-data")
    decision = str(request.POST.get("decision", ""))
    try:
        version = int(request.POST.get("notice_version", ""))
    except ValueError:
        messages.error(request, _("The form was incomplete; please try again."))
        return HttpResponseRedirect(target)

    def work() -> HttpResponse:
        try:
            change = consent_decide(
                subject=request.user,
                purpose_code=purpose[:60],
                decision=decision,
                notice_version=version,
                language=_language(),
                method=Method.WEB,
            )
        except NotFound as error:
            raise Http404(error.detail) from error
        except (Invalid, Conflict) as error:
            if isinstance(error, Conflict) and "current_notice" in error.extra:
                messages.warning(
                    request,
                    _("The notice for this purpose changed. Please read the new text and "
                      "decide again."),
                )
            else:
                messages.error(request, error.detail)
            return HttpResponseRedirect(target)
        if not change.changed:
            messages.info(request, _("Nothing changed: that was already your choice."))
        elif decision == "give":
            messages.success(
                request, _("Thank you. Your consent is recorded; the receipt is below.")
            )
        else:
            messages.success(
                request, _("Done. Your decision is recorded; the receipt is below.")
            )
        if change.changed and change.effects:
            request.session["portal_consent_effects"] = _effects_summary(change.effects)
        return HttpResponseRedirect(target)

    return submit_once(request, str(request.POST.get("form_token", "")), work)


def _effects_summary(effects: dict[str, Any]) -> dict[str, Any]:
    """What stops / starts and what continues, as plain values the session can hold."""
    stops = effects.get("stops")
    starts = effects.get("starts")
    return {
        "stops": stops.get("title") if stops else None,
        "starts": starts.get("title") if starts else None,
        "continues": [
            {"title": c.get("title"), "basis": c.get("legal_basis", {}).get("label", "")}
            for c in effects.get("continues", [])
        ],
    }


# --- Data officers ------------------------------------------------------------------------


@role_required(is_data_officer)
@require_GET
def officer_home(request: HttpRequest) -> HttpResponse:
    status = consent_selectors.integrity_status()
    rates: dict[str, Row] = {}
    for row in consent_selectors.consent_aggregates():
        item = rates.setdefault(row["purpose"], Row(label=row["purpose"]))
        item.total += row["given"] + row["refused"]
        item.sla_met += row["given"]  # reused as "given" for the rate
        item.resolved += row["given"] + row["refused"]
    chart_rows = sorted(rates.values(), key=lambda r: r.label)
    return render(
        request,
        "portal/privacy/officer_home.html",
        {
            "status": status,
            "rate_chart": bar_chart(chart_rows, value="sla_percent", unit="%"),
            "state_counts": consent_selectors.current_state_counts(),
            "verify_token": new_form_token(),
        },
    )


@role_required(is_data_officer)
@require_GET
def officer_consent_log(request: HttpRequest) -> HttpResponse:
    purposes = list(consent_selectors.register_purposes(include_inactive=True))
    form = ConsentLogFilterForm(request.GET or None, purposes=purposes)
    filters: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    qs = consent_selectors.officer_consent_events(**filters)
    page = Paginator(qs, LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    query = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in filters.items()}
    export = reverse("api:officer-consent-export")
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "portal/privacy/officer_consent_log.html",
        {
            "form": form,
            "page": page,
            "rows": [consent_selectors.officer_event_row(e) for e in page.object_list],
            "export_csv": f"{export}?{urlencode({**query, 'output': 'csv'})}",
            "export_json": f"{export}?{urlencode({**query, 'output': 'json'})}",
            "page_query": params.urlencode(),
            "decisions": dict(EventType.choices),
            "methods": dict(Method.choices),
        },
    )


@role_required(is_data_officer)
@require_GET
def officer_records(request: HttpRequest) -> HttpResponse:
    records = register.processing_records(consent_selectors.register_purposes())
    return render(request, "portal/privacy/officer_records.html", {"records": records})


@role_required(is_data_officer)
@require_POST
def officer_verify(request: HttpRequest) -> HttpResponse:
    """Start a full verification of the log in the background; the overview shows progress."""
    def work() -> HttpResponse:
        log_verification_request()
        messages.success(
            request,
            _("Verification started. The result appears under “Last full verification”."),
        )
        return HttpResponseRedirect(reverse("portal:dpo"))

    return submit_once(request, str(request.POST.get("form_token", "")), work)
