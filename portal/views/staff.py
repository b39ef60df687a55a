"""Clerk and supervisor pages: the department queue (live), the request workbench, the team."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consent.rights.reveals import REVEAL_FIELDS, contact_details_reveal, request_view_record
from consent.selectors import register_purposes
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.roles import roles_for
from portal.forms import (
    DuplicateForm,
    NoteForm,
    PriorityForm,
    QueueFilterForm,
    ReplyForm,
    RevealForm,
    TransitionForm,
)
from portal.views.common import (
    apply_errors,
    is_staff,
    is_supervisor,
    new_form_token,
    role_required,
    submit_once,
)
from portal.views.statistics import bar_chart
from portal.views.timeline import annotate_events, attribute_rows
from services import services as request_services
from services import workflow
from services.models import (
    OPEN_STATUSES,
    Department,
    DepartmentMembership,
    Priority,
    ServiceRequest,
    Status,
)
from services.selectors import (
    QueueFilters,
    access_request,
    actor_kinds,
    categories_active,
    districts_all,
    events_for_staff,
    queue_counts,
    queue_page,
    routing_explanation,
    team_overview,
)

QUEUE_PAGE_SIZE = 50


# --- Queue ---------------------------------------------------------------------------------------


def _filters(form: QueueFilterForm, request: HttpRequest) -> QueueFilters:
    data = form.cleaned_data if form.is_valid() else {}
    assigned = request.GET.get("assigned", "")
    return QueueFilters(
        statuses=[data["status"]] if data.get("status") else [],
        category=data.get("category") or "",
        district=data.get("district") or "",
        priority=data.get("priority"),
        overdue=True if data.get("overdue") else None,
        assigned=assigned if assigned in ("me", "unassigned") else "",
        q=data.get("q") or "",
    )


def _cursor(raw: str) -> tuple[int, datetime | None, int] | None:
    """`after` = "priority~due_at-iso-or-empty~id"; anything malformed means the first page."""
    parts = raw.split("~")
    if len(parts) != 3:
        return None
    try:
        priority, pk = int(parts[0]), int(parts[2])
    except ValueError:
        return None
    due = parse_datetime(parts[1]) if parts[1] else None
    if parts[1] and due is None:
        return None
    return priority, due, pk


def _cursor_of(row: ServiceRequest) -> str:
    return f"{row.priority}~{row.due_at.isoformat() if row.due_at else ''}~{row.pk}"


# Search text never travels in a URL (URLs land in access and proxy logs): the filter form is
# POSTed, kept in the session under a short random id for a while, and the page is shown at
# ?f=<id>. Only the id appears in URLs.
SAVED_FILTERS_KEY = "_civicdesk_queue_filters"
SAVED_FILTER_SECONDS = 30 * 60
SAVED_FILTERS_MAX = 10
FILTER_FIELDS = ("status", "category", "district", "priority", "overdue", "q")


def _saved_filters(request: HttpRequest) -> dict[str, Any]:
    now = time.time()
    saved = request.session.get(SAVED_FILTERS_KEY) or {}
    return {
        k: v for k, v in saved.items()
        if isinstance(v, dict) and now - float(v.get("at", 0)) < SAVED_FILTER_SECONDS
    }


def _filter_save(request: HttpRequest, data: dict[str, str]) -> str:
    saved = _saved_filters(request)
    key = secrets.token_urlsafe(9)
    saved[key] = {"data": data, "at": time.time()}
    newest = sorted(saved.items(), key=lambda item: item[1]["at"])[-SAVED_FILTERS_MAX:]
    request.session[SAVED_FILTERS_KEY] = dict(newest)
    return key


def _form_data(request: HttpRequest) -> dict[str, str]:
    """The filter form's data: plain filters from the query string (never `q`), the rest
    from the saved filter named by `f`."""
    data = {
        k: request.GET[k] for k in FILTER_FIELDS if k != "q" and k in request.GET
    }
    key = request.GET.get("f", "")[:20]
    if key:
        saved = _saved_filters(request).get(key)
        if saved is not None:
            data.update({k: str(v) for k, v in saved["data"].items() if k in FILTER_FIELDS})
    return data


def _queue_rows(request: HttpRequest) -> tuple[QueueFilterForm, list[ServiceRequest], bool]:
    data = _form_data(request)
    form = QueueFilterForm(
        data or None, categories=categories_active(), districts=districts_all()
    )
    filters = _filters(form, request) if form.is_bound else QueueFilters()
    after = _cursor(request.GET.get("after", "")[:80])
    rows, more = queue_page(user=request.user, filters=filters, after=after, limit=QUEUE_PAGE_SIZE)
    return form, rows, more


@role_required(is_staff)
@require_http_methods(["GET", "POST"])
def queue(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = QueueFilterForm(
            request.POST, categories=categories_active(), districts=districts_all()
        )
        params: dict[str, str] = {}
        if form.is_valid():
            data = {k: request.POST[k] for k in FILTER_FIELDS if request.POST.get(k)}
            if data:
                params["f"] = _filter_save(request, data)
        assigned = request.POST.get("assigned", "")
        if assigned in ("me", "unassigned"):
            params["assigned"] = assigned
        target = reverse("portal:queue")
        return redirect(f"{target}?{urlencode(params)}" if params else target)
    form, rows, more = _queue_rows(request)
    now = timezone.now()
    for row in rows:
        row.overdue = bool(row.due_at and row.due_at < now and row.status in OPEN_STATUSES)  # type: ignore[attr-defined]
    next_query = None
    query = request.GET.copy()
    query.pop("q", None)
    if more and rows:
        params_next = query.copy()
        params_next["after"] = _cursor_of(rows[-1])
        next_query = params_next.urlencode()
    roles = roles_for(request.user)
    departments = list(Department.objects.filter(pk__in=roles.staff_department_ids))
    return render(
        request,
        "portal/staff/queue.html",
        {
            "form": form,
            "rows": rows,
            "next_query": next_query,
            "counts": queue_counts(user=request.user),
            "departments": departments,
            "assigned": request.GET.get("assigned", ""),
            "poll_query": query.urlencode(),
        },
    )


@role_required(is_staff)
@require_GET
def queue_versions(request: HttpRequest) -> JsonResponse:
    """Polling fallback of the live queue: the first page's references and versions."""
    _form, rows, _more = _queue_rows(request)
    return JsonResponse({"requests": {r.reference: [r.status, r.version] for r in rows}})


# --- Workbench ------------------------------------------------------------------------------------


def _access_staff(request: HttpRequest, reference: str, **kwargs: Any) -> ServiceRequest:
    try:
        return access_request(user=request.user, reference=reference[:16], as_staff=True)
    except NotFound as error:
        raise Http404(error.detail) from error


ROUTING_METHODS = {
    "rule": gettext_lazy("a routing rule for this category and district"),
    "category_default": gettext_lazy("the department the category belongs to"),
    "classifier": gettext_lazy("the words of the description (text classifier)"),
    "triage": gettext_lazy("Triage, because nothing else matched"),
}


TRIAGE_REASONS = {
    "no_match": gettext_lazy("no rule, category department or classifier placed it"),
    "low_confidence": gettext_lazy("the classifier was not sure enough"),
    "returned_twice": gettext_lazy("it was returned twice"),
    "unstaffed": gettext_lazy("%(department)s has no active staff (see the admin)"),
}


def _triage_reason_label(routing: dict[str, Any]) -> str:
    reason = str(routing.get("triage_reason", ""))
    if not reason:
        return ""
    label = str(TRIAGE_REASONS.get(reason, reason))
    unstaffed = routing.get("unstaffed_department") or {}
    if reason == "unstaffed":
        name = unstaffed.get("name_en", "")
        if get_language() == "zh-hans":
            name = unstaffed.get("name_zh_hans") or name
        label = label % {"department": name or unstaffed.get("code", "?")}
    return label


def _with_method_label(routing: dict[str, Any] | None) -> dict[str, Any] | None:
    """The routing method phrased for people (the code stays in the data attribute)."""
    if routing is None:
        return None
    method = str(routing.get("method", ""))
    return {
        **routing, "method_code": method, "method": ROUTING_METHODS.get(method, method),
        "triage_reason_label": _triage_reason_label(routing),
    }


def _workbench_context(request: HttpRequest, sr: ServiceRequest, **forms: Any) -> dict[str, Any]:
    kinds = actor_kinds(user=request.user, request=sr)
    allowed = workflow.allowed_moves(source=sr.status, actor_kinds=kinds)
    moves = [m for m in allowed if not getattr(m, "dedicated", False)]
    events = annotate_events(events_for_staff(request=sr))
    members = []
    if workflow.SUPERVISOR in kinds and sr.department_id is not None:
        members = list(
            DepartmentMembership.objects.filter(department_id=sr.department_id)
            .select_related("user")
            .order_by("role", "user_id")
        )
    failed = forms.get("transition_form")
    move_forms = []
    for move in moves:
        if failed is not None and failed.data.get("to_status") == move.target:
            move_forms.append((move, failed))
        else:
            move_forms.append((move, TransitionForm(initial={"to_status": move.target,
                                                             "version": sr.version})))
    return {
        "sr": sr,
        "events": events,
        "routing": _with_method_label(routing_explanation(events=events)),
        "attributes": attribute_rows(sr),
        "attachments": list(sr.attachments.all()),
        "move_forms": move_forms,
        "reply_form": forms.get("reply_form") or ReplyForm(prefix="reply"),
        "note_form": forms.get("note_form") or NoteForm(prefix="note"),
        # The dedicated "duplicate" move of the workflow table, when this viewer may make it.
        "duplicate_form": (forms.get("duplicate_form") or DuplicateForm(prefix="dup"))
        if any(m.name == "duplicate" for m in allowed) else None,
        "members": members,
        "is_supervisor": workflow.SUPERVISOR in kinds,
        "can_claim": sr.is_open and sr.assignee_id != request.user.pk,
        "can_release": sr.is_open and sr.assignee_id is not None
        and (sr.assignee_id == request.user.pk or workflow.SUPERVISOR in kinds),
        "priority_form": (
            forms.get("priority_form")
            or PriorityForm(prefix="prio", initial={"priority": sr.priority})
        ) if sr.is_open else None,
        "tokens": {name: new_form_token() for name in ("claim", "assign", "release")},
        "status_choices": Status.choices,
        "staff_view": True,
        "overdue": bool(sr.due_at and sr.due_at < timezone.now() and sr.is_open),
        "reveal_form": _reveal_form(sr),
    }


def _reveal_form(sr: ServiceRequest) -> Any:
    """The "show contact details" form, when there is a reporter to show."""
    if sr.reporter_id is None:
        return None
    return reveal_form_for(revealable_purposes())


@role_required(is_staff)
@require_GET
def workbench(request: HttpRequest, reference: str) -> HttpResponse:
    sr = _access_staff(request, reference)
    # The page shows the resident's description and place: a logged look (once a day).
    request_view_record(actor=request.user, request=sr)
    return render(request, "portal/staff/workbench.html", _workbench_context(request, sr))


def _staff_action(
    form_factory: Callable[[HttpRequest], Any] | None,
    form_key: str,
    act: Callable[[HttpRequest, ServiceRequest, Any], str],
) -> Callable[[HttpRequest, str], HttpResponse]:
    @role_required(is_staff)
    def view(request: HttpRequest, reference: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        sr = _access_staff(request, reference)
        form = form_factory(request) if form_factory else None
        target = reverse("portal:workbench", args=[sr.reference])

        def rerender() -> HttpResponse:
            sr.refresh_from_db()
            context = _workbench_context(request, sr, **{form_key: form})
            return render(request, "portal/staff/workbench.html", context, status=400)

        def work() -> HttpResponse:
            if form is not None and not form.is_valid():
                return rerender()
            try:
                done = act(request, sr, form)
            except Invalid as error:
                if form is None:
                    messages.error(request, error.detail)
                    return HttpResponseRedirect(target)
                apply_errors(form, error)
                return rerender()
            except (Conflict, Forbidden) as error:
                messages.error(request, error.detail)
                return HttpResponseRedirect(target)
            except NotFound as error:
                raise Http404(error.detail) from error
            messages.success(request, done)
            return HttpResponseRedirect(target)

        return submit_once(request, str(request.POST.get("form_token", "")), work)

    return view


def _transition(request: HttpRequest, sr: ServiceRequest, form: TransitionForm) -> str:
    to_status = form.cleaned_data["to_status"]
    text = form.cleaned_data.get("text") or ""
    if to_status == Status.RETURNED:
        request_services.request_return(request=sr, actor=request.user, reason=text)
    else:
        request_services.request_transition(
            request=sr,
            actor=request.user,
            to_status=to_status,
            text=text,
            outcome=form.cleaned_data.get("outcome") or "",
            expected_version=form.cleaned_data.get("version"),
        )
    return _("Done: the request is now %(status)s.") % {"status": Status(to_status).label}


def _reply(request: HttpRequest, sr: ServiceRequest, form: Any) -> str:
    request_services.request_reply(request=sr, actor=request.user, text=form.cleaned_data["text"])
    return _("Your reply was sent to the resident.")


def _note(request: HttpRequest, sr: ServiceRequest, form: Any) -> str:
    request_services.request_note(request=sr, actor=request.user, text=form.cleaned_data["text"])
    return _("Your note was saved. Residents do not see notes.")


def _duplicate(request: HttpRequest, sr: ServiceRequest, form: DuplicateForm) -> str:
    reference = form.cleaned_data["original"]
    try:
        original = access_request(user=request.user, reference=reference, as_staff=True)
    except NotFound:
        message = _("No such request in your departments.")
        raise Invalid(message, errors={"original": [message]}) from None
    request_services.request_mark_duplicate(
        request=sr, actor=request.user, original=original, text=form.cleaned_data.get("text", "")
    )
    return _("Closed as a duplicate of %(ref)s; its followers now follow that request.") % {
        "ref": original.reference
    }


def _priority(request: HttpRequest, sr: ServiceRequest, form: PriorityForm) -> str:
    request_services.request_set_priority(
        request=sr,
        actor=request.user,
        priority=form.cleaned_data["priority"],
        reason=form.cleaned_data["reason"],
    )
    return _("Priority is now %(priority)s.") % {
        "priority": Priority(form.cleaned_data["priority"]).label
    }


def _release(request: HttpRequest, sr: ServiceRequest, form: Any) -> str:
    request_services.request_unassign(request=sr, actor=request.user)
    return _("The request is back in the department's pool.")


def _claim(request: HttpRequest, sr: ServiceRequest, form: Any) -> str:
    request_services.request_assign(request=sr, actor=request.user)
    return _("You are now working on this request.")


def _assign(request: HttpRequest, sr: ServiceRequest, form: Any) -> str:
    try:
        user_id = int(request.POST.get("assignee", ""))
    except ValueError as error:
        raise Invalid(_("Choose a clerk."), errors={"assignee": [_("Choose a clerk.")]}) from error
    membership = (
        DepartmentMembership.objects.filter(department_id=sr.department_id or 0, user_id=user_id)
        .select_related("user")
        .first()
    )
    if membership is None:
        raise Invalid(_("Choose a clerk of this department."))
    request_services.request_assign(request=sr, actor=request.user, assignee=membership.user)
    return _("The request was assigned.")


workbench_transition = _staff_action(
    lambda r: TransitionForm(r.POST), "transition_form", _transition
)
workbench_reply = _staff_action(lambda r: ReplyForm(r.POST, prefix="reply"), "reply_form", _reply)
workbench_note = _staff_action(lambda r: NoteForm(r.POST, prefix="note"), "note_form", _note)
workbench_duplicate = _staff_action(
    lambda r: DuplicateForm(r.POST, prefix="dup"), "duplicate_form", _duplicate
)
workbench_priority = _staff_action(
    lambda r: PriorityForm(r.POST, prefix="prio"), "priority_form", _priority
)
workbench_release = _staff_action(None, "", _release)
workbench_claim = _staff_action(None, "", _claim)
workbench_assign = _staff_action(None, "", _assign)


# --- Supervisor --------------------------------------------------------------------------------


@role_required(is_supervisor)
@require_GET
def team(request: HttpRequest) -> HttpResponse:
    """Per supervised department: who holds how much open work, what is overdue, SLA per
    category over the last 90 days (`services.selectors.team_overview`)."""
    now = timezone.now()
    sections = [
        {
            "department": section.department,
            "workload": section.workload,
            "unassigned": section.unassigned,
            "open_count": section.open_count,
            "overdue": section.overdue,
            "sla_chart": bar_chart(section.sla_rows, value="sla_percent", unit="%"),
            "sla_rows": section.sla_rows,
        }
        for section in team_overview(user=request.user, now=now)
    ]
    return render(request, "portal/staff/team.html", {"sections": sections, "now": now})


# --- Staff: show contact details only with a purpose --------------------------------------------


def reveal_form_for(purposes: list[Any], data: Any = None) -> RevealForm:
    return RevealForm(data, purposes=purposes)


def revealable_purposes() -> list[Any]:
    covered = set().union(*REVEAL_FIELDS.values())
    return [p for p in register_purposes() if covered & set(p.data_categories)]


@role_required(is_staff)
@require_POST
def reveal(request: HttpRequest, reference: str) -> HttpResponse:
    sr = _access_staff(request, reference)
    form = reveal_form_for(revealable_purposes(), request.POST)
    revealed = None
    status = 400
    if form.is_valid():
        try:
            result = contact_details_reveal(
                actor=request.user,
                reference=sr.reference,
                fields=form.cleaned_data["show"],
                purpose=form.cleaned_data["purpose"],
                reason=form.cleaned_data.get("reason") or "",
            )
        except NotFound as error:
            raise Http404(error.detail) from error
        except (Invalid, Forbidden, Conflict) as error:
            apply_errors(form, error)
        else:
            revealed = result.values
            status = 200
    context = _workbench_context(request, sr)
    context.update(reveal_form=form, revealed=revealed)
    response = render(request, "portal/staff/workbench.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response
