"""Data use: the public register and log pages, residents' consents with receipts, and the
data officer's consent log, integrity status and records of processing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from consent import ledger, register, verify, witnessing
from consent import selectors as consent_selectors
from consent.models import EventType, LegalBasis, Method, RetentionEndAction
from consent.receipts import receipt_document, verify_document
from consent.services import consent_decide, log_verification_request
from core.errors import Conflict, Invalid, NotFound
from core.i18n import current_language
from core.users import signed_in
from portal.forms import ConsentLogFilterForm, new_form_token
from portal.views.common import (
    is_data_officer,
    is_resident,
    role_required,
    submit_once,
)
from portal.views.rights import my_rights_context
from portal.views.statistics import Row, bar_chart

LOG_PAGE_SIZE = 50
VERIFIER_FILE = Path(settings.BASE_DIR) / "tools" / "civicdesk_verify.py"


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
    key = ledger.log_key()
    return render(
        request,
        "portal/privacy/log.html",
        {
            "head": ledger.tree_head_json(head) if head else None,
            "log_size": ledger.log_size(),
            "origin": key.origin,
            "is_dev": key.origin.endswith(verify.DEV_ORIGIN_SUFFIX),
            "verifier_key": str(key.verifier),
            "witnesses": witnessing.configured_witnesses(),
            "quorum": witnessing.quorum(),
        },
    )


@require_GET
def verifier_download(request: HttpRequest) -> FileResponse:
    """The residents' standalone verifier (one file, standard library only)."""
    return FileResponse((VERIFIER_FILE).open("rb"), as_attachment=True,
                        filename="civicdesk_verify.py", content_type="text/x-python")


def _plain_checks(document: dict[str, Any], result: Any) -> list[str]:
    """What was verified, in plain words, from the verifier's result."""
    log = document["log"]
    index = log.get("index")
    lines = [
        _("Every detail of this receipt (the purpose, your decision, its time, the notice you "
          "saw, who receives your data, the controller) is sealed into entry %(n)s of the "
          "public log: changing any of them afterwards would break the seal.") % {"n": index},
        _("The entry shows the decision is yours without naming you: only your receipt holds "
          "the secret code that links you to it."),
    ]
    promise = json.loads(log["promise"]["statement"])
    lines.append(
        _("The city signed, when you decided (%(time)s), a promise to publish this entry within "
          "%(minutes)s minutes. It cannot take that promise back.")
        % {"time": promise["timestamp"],
           "minutes": max(1, int(promise["max_merge_delay_seconds"]) // 60)})
    if result is not None and result.status == "included":
        lines.append(
            _("The entry is in the published log: it is one of the %(size)s entries of a log "
              "state signed by the city.") % {"size": result.checkpoint.tree_size})
        if result.checkpoint.cosigned_by:
            lines.append(
                _("That log state is also signed by %(count)s independent witness(es) "
                  "(%(names)s), who refuse to sign if the city ever rewrites or hides part of "
                  "its past.") % {"count": len(result.checkpoint.cosigned_by),
                                  "names": ", ".join(sorted(result.checkpoint.cosigned_by))})
        else:
            lines.append(_("No independent witness has signed that log state yet."))
    return lines


@login_required
@require_GET
def receipt_page(request: HttpRequest, event_id: str) -> HttpResponse:
    try:
        stored = consent_selectors.access_consent_receipt(
            user=signed_in(request.user), event_id=event_id
        )
    except NotFound as error:
        raise Http404(error.detail) from error
    document = receipt_document(stored)
    problem = None
    result = None
    try:
        result = verify_document(document)
    except verify.VerificationError as exc:
        problem = str(exc)
    status = document["log"].get("status")
    return render(request, "portal/privacy/receipt.html", {
        "document": document,
        "purpose": document["services"][0]["purposes"][0],
        "status": status,
        "checks": _plain_checks(document, result) if problem is None else [],
        "problem": problem,
        "verifier_key": document["log"]["verifier_key"],
        "witness_keys": document["log"].get("witness_keys", []),
        "quorum": document["log"].get("witness_quorum", 0),
        "event_id": str(stored.event_id),
    })


# --- Residents ---------------------------------------------------------------------------------


@role_required(is_resident)
@require_GET
def my_data(request: HttpRequest) -> HttpResponse:
    consents = consent_selectors.my_consents(user=signed_in(request.user), language=_language())
    events = list(consent_selectors.my_consent_events(user=signed_in(request.user))[:50])
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
                subject=signed_in(request.user),
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
