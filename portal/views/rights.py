"""Residents' rights in the portal: who looked at my data, export, delete my account; the
data officer's access log and data-subject
requests. All decisions and writes are consent.rights' services. (The staff reveal of
contact details is part of the workbench: portal/views/staff.py.)"""

from __future__ import annotations

import json
from typing import Any

from allauth.account.internal.flows.reauthentication import did_recently_reauthenticate
from django.contrib import messages
from django.contrib.auth import logout
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.http import urlencode
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consent.rights import selectors as rights_selectors
from consent.rights.erasure import account_erase
from consent.rights.exports import export_start
from consent.rights.models import AccessEvent, DataSubjectRequest, ExportJob
from consent.rights.requests import dsr_create, dsr_update
from consent.selectors import register_purposes
from core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from core.i18n import current_language
from core.roles import roles_for
from core.users import signed_in
from portal.forms import AccessLogFilterForm, CounterDsrForm
from portal.views.common import (
    apply_errors,
    is_data_officer,
    is_resident,
    role_required,
    submit_once,
)
from services.models import Department

ACCESS_PAGE_SIZE = 50


def _language() -> str:
    return current_language()


def my_rights_context(user: Any) -> dict[str, Any]:
    """For the My data page: who looked at my data (in words) and my latest export."""
    events = list(rights_selectors.my_access_events(user=user)[:50])
    return {
        "access_events": [
            rights_selectors.access_event_for_resident(e, _language()) for e in events
        ],
        "export_job": ExportJob.objects.filter(user=user).order_by("-created_at").first(),
    }


@role_required(is_resident)
@require_POST
def export_request(request: HttpRequest) -> HttpResponse:
    def work() -> HttpResponse:
        _job, created = export_start(user=signed_in(request.user), channel="web")
        if created:
            messages.success(request, _("Your export is being prepared. This page shows when "
                                        "it is ready to download."))
        else:
            messages.info(request, _("An export is already being prepared."))
        return HttpResponseRedirect(reverse("portal:my-data") + "#export")

    return submit_once(request, str(request.POST.get("form_token", "")), work)


@role_required(lambda roles: roles.authenticated)
@require_http_methods(["GET", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    """Dry run first (what goes, what stays and why); erasure after re-authentication."""
    try:
        plan = account_erase(user=signed_in(request.user), dry_run=True).plan
    except DomainError as error:
        messages.error(request, error.detail)
        return HttpResponseRedirect(reverse("portal:my-data"))
    context: dict[str, Any] = {"plan": plan, "holds": plan.holds}
    if request.method == "GET":
        return render(request, "portal/privacy/delete_account.html", context)
    if request.POST.get("confirm") != "yes":
        context["confirm_error"] = _("Tick the box to confirm that you want to delete your "
                                     "account.")
        return render(request, "portal/privacy/delete_account.html", context, status=400)
    if not did_recently_reauthenticate(request):
        here = reverse("portal:delete-account")
        return HttpResponseRedirect(
            reverse("account_reauthenticate") + "?" + urlencode({"next": here})
        )
    try:
        result = account_erase(
            user=signed_in(request.user), dry_run=False, http_request=request, channel="web"
        )
    except (Invalid, Conflict, Forbidden) as error:
        messages.error(request, error.detail)
        return HttpResponseRedirect(reverse("portal:my-data"))
    receipt = rights_selectors.erasure_receipt_json(result.receipt) if result.receipt else None
    logout(request)
    return render(
        request,
        "portal/privacy/deleted.html",
        {"receipt": json.dumps(receipt, indent=2, default=str) if receipt else "",
         "finality": result.receipt.summary.get("finality") if result.receipt else None},
    )


# --- Data officers --------------------------------------------------------------------------------


@role_required(is_data_officer)
@require_GET
def officer_access_log(request: HttpRequest) -> HttpResponse:
    """Staff access to personal data, filtered like the API: actor, kind, department,
    purpose and time range. Bad filter values are shown on their field; the list then
    shows everything rather than guessing."""
    form = AccessLogFilterForm(
        request.GET or None,
        purposes=register_purposes(include_inactive=True),
        departments=Department.objects.order_by("code"),
        kinds=AccessEvent.Kind.choices,
    )
    filters: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    qs = rights_selectors.officer_access_events(**filters)
    page = Paginator(qs, ACCESS_PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    export = reverse("api:officer-access-export")
    query = {
        k: (v.isoformat() if hasattr(v, "isoformat") else getattr(v, "code", v))
        for k, v in filters.items()
    }
    return render(
        request,
        "portal/privacy/officer_access_log.html",
        {
            "form": form,
            "export_csv": f"{export}?{urlencode({**query, 'output': 'csv'})}",
            "export_json": f"{export}?{urlencode({**query, 'output': 'json'})}",
            "rows": _in_words(rights_selectors.officer_access_rows(list(page.object_list))),
            "page": page,
            "page_query": params.urlencode(),
            "anomalies": rights_selectors.access_anomalies(
                since=filters.get("since"), until=filters.get("until")
            )[:20],
            "kinds": dict(AccessEvent.Kind.choices),
        },
    )


@role_required(is_data_officer)
@require_GET
def officer_dsr_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in DataSubjectRequest.Status.values:
        status = ""
    rows = list(rights_selectors.data_subject_requests(status=status)[:200])
    return render(
        request,
        "portal/privacy/officer_dsr.html",
        {
            "rows": rows,
            "status": status,
            "statuses": DataSubjectRequest.Status.choices,
            "open_statuses": list(DataSubjectRequest.OPEN_STATUSES),
        },
    )


@role_required(is_data_officer)
@require_POST
def officer_dsr_update(request: HttpRequest, reference: str) -> HttpResponse:
    """Move a data-subject request on (status and the outcome told to the resident)."""
    try:
        dsr = rights_selectors.access_data_subject_request(
            user=request.user, reference=reference[:16]
        )
    except NotFound as error:
        raise Http404(error.detail) from error
    status = str(request.POST.get("status", ""))[:20] or None
    outcome = str(request.POST.get("outcome", ""))[:2000]
    try:
        dsr_update(dsr=dsr, status=status, outcome=outcome or None)
    except (Invalid, Conflict) as error:
        details = [t for texts in error.errors.values() for t in texts]
        messages.error(request, " ".join([error.detail, *details]))
    else:
        messages.success(request, _("%(ref)s was updated.") % {"ref": dsr.reference})
    return HttpResponseRedirect(reverse("portal:dpo-dsr"))


def _records_counter_requests(roles: Any) -> bool:
    """Counter staff and data officers record requests made in person (as the API allows)."""
    return bool(roles.data_officer or roles.staff)


def _in_words(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The access rows' role and field codes in the viewer's words (the codes stay for
    filters and exports)."""
    lang = current_language()
    roles = rights_selectors.ROLE_WORDS[lang]
    fields = rights_selectors.FIELD_WORDS[lang]
    return [
        {**r, "role_word": roles.get(r["actor_role"], r["actor_role"]),
         "field_words": [fields.get(f, f) for f in r["fields"]]}
        for r in rows
    ]


@role_required(_records_counter_requests)
@require_http_methods(["GET", "POST"])
def counter_dsr_new(request: HttpRequest) -> HttpResponse:
    """Record a data-subject request made at the counter, on the resident's behalf."""
    kinds = DataSubjectRequest.Kind.choices
    if request.method == "GET":
        form = CounterDsrForm(kinds=kinds)
        return render(request, "portal/privacy/counter_dsr.html", {"form": form})
    form = CounterDsrForm(request.POST, kinds=kinds)

    def rerender() -> HttpResponse:
        return render(request, "portal/privacy/counter_dsr.html", {"form": form}, status=400)

    def work() -> HttpResponse:
        if not form.is_valid():
            return rerender()
        try:
            dsr = dsr_create(
                kind=form.cleaned_data["kind"],
                channel=DataSubjectRequest.Channel.COUNTER,
                subject_email=form.cleaned_data.get("subject_email") or "",
                recorded_by=signed_in(request.user),
                outcome=form.cleaned_data.get("outcome") or "",
            )
        except Invalid as error:
            apply_errors(form, error)
            return rerender()
        messages.success(
            request,
            _("Recorded as %(ref)s. It must be answered by %(deadline)s.")
            % {"ref": dsr.reference, "deadline": date_format(localtime(dsr.deadline))},
        )
        if is_data_officer(roles_for(request.user)):
            return HttpResponseRedirect(reverse("portal:dpo-dsr"))
        return HttpResponseRedirect(reverse("portal:counter-dsr"))

    return submit_once(request, form.token, work)
