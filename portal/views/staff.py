"""Clerk and supervisor pages: the department queue (live), the request workbench, the team."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consent.rights.reveals import REVEAL_FIELDS, contact_details_reveal
from consent.selectors import register_purposes
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.roles import roles_for
from core.users import signed_in
from portal.forms import (
    BulkActionForm,
    DuplicateForm,
    NextStepForm,
    NoteForm,
    PriorityForm,
    QueueFilterForm,
    ReplyForm,
    RevealForm,
    SavedFilterForm,
    TransitionForm,
    new_form_token,
)
from portal.views.common import (
    apply_errors,
    is_staff,
    is_supervisor,
    role_required,
    submit_once,
)
from portal.views.statistics import bar_chart
from portal.views.timeline import annotate_events, attribute_rows
from services import services as request_services
from services import workflow
from services.models import (
    OPEN_STATUSES,
    REFERENCE_LENGTH,
    Department,
    DepartmentMembership,
    Priority,
    ServiceRequest,
    Status,
)
from services.selectors import (
    QueueFilters,
    access_request,
    access_saved_queue_filter,
    actor_kinds,
    categories_active,
    districts_all,
    events_for_staff,
    queue_counts,
    queue_next,
    queue_page,
    queue_position,
    routing_explanation,
    saved_queue_filters,
    standard_replies_for,
    team_overview,
)
from services.staff_views import staff_view_record

QUEUE_PAGE_SIZE = 50


# --- Queue ---------------------------------------------------------------------------------------


def _filters(form: QueueFilterForm, assigned: str) -> QueueFilters:
    data = form.cleaned_data if form.is_valid() else {}
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
# ?f=<id>. Only the id appears in URLs. A filter the clerk saved by name is shown at
# ?saved=<id> (its text stays in the database, readable by its owner only).
SAVED_FILTERS_KEY = "_civicdesk_queue_filters"
SAVED_FILTER_SECONDS = 30 * 60
SAVED_FILTERS_MAX = 10
FILTER_FIELDS = ("status", "category", "district", "priority", "overdue", "q")
# What names a queue view in its URL (never `q`); the last one a clerk looked at is their
# "current queue", whose order "next item" follows.
QUEUE_PARAMS = ("f", "saved", "assigned", "status", "category", "district", "priority", "overdue")
CURRENT_QUEUE_KEY = "_civicdesk_queue_current"
BULK_RESULT_KEY = "_civicdesk_queue_bulk_result"


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


def _queue_params(query: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(query[k])[:40] for k in QUEUE_PARAMS if query.get(k)}


def _form_data(request: HttpRequest, params: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The filter form's data and the "assigned" choice: a saved filter named by `saved` (its
    owner's only: NotFound for anyone else), plain filters from the query string (never `q`),
    and the session's filter named by `f`."""
    data: dict[str, str] = {}
    assigned = ""
    if params.get("saved"):
        named = access_saved_queue_filter(user=signed_in(request.user), filter_id=params["saved"])
        data.update({k: str(v) for k, v in named.filters.items() if k in FILTER_FIELDS})
        assigned = str(named.filters.get("assigned", ""))
    data.update({k: params[k] for k in FILTER_FIELDS if k != "q" and k in params})
    assigned = params.get("assigned", assigned)
    key = params.get("f", "")[:20]
    if key:
        saved = _saved_filters(request).get(key)
        if saved is not None:
            data.update({k: str(v) for k, v in saved["data"].items() if k in FILTER_FIELDS})
    return data, assigned


def _queue_filters(
    request: HttpRequest, params: Mapping[str, str]
) -> tuple[QueueFilterForm, QueueFilters, str]:
    data, assigned = _form_data(request, params)
    form = QueueFilterForm(
        data or None, categories=categories_active(), districts=districts_all()
    )
    filters = _filters(form, assigned)
    return form, filters, assigned


def _queue_rows(
    request: HttpRequest, params: Mapping[str, str]
) -> tuple[QueueFilterForm, list[ServiceRequest], bool, str]:
    try:
        form, filters, assigned = _queue_filters(request, params)
    except NotFound as error:
        raise Http404(error.detail) from error
    after = _cursor(request.GET.get("after", "")[:80])
    rows, more = queue_page(user=request.user, filters=filters, after=after, limit=QUEUE_PAGE_SIZE)
    return form, rows, more, assigned


def _current_queue_url(request: HttpRequest) -> str:
    params = request.session.get(CURRENT_QUEUE_KEY) or {}
    target = reverse("portal:queue")
    return f"{target}?{urlencode(params)}" if params else target


def _bulk_assignees(request: HttpRequest) -> list[tuple[str, str]]:
    """Whom the bulk "assign" may name besides oneself: members of the departments the
    caller supervises (the service checks each item's department again)."""
    supervised = roles_for(request.user).supervised_department_ids
    if not supervised:
        return []
    seen: dict[str, str] = {}
    for m in (
        DepartmentMembership.objects.filter(department_id__in=supervised)
        .exclude(user_id=request.user.pk or 0)
        .select_related("user", "department")
        .order_by("department__name_en", "user_id")
    ):
        label = f"{m.user.display_name or m.user_id} ({m.department.name})"
        seen.setdefault(str(m.user_id), label)
    return list(seen.items())


def _queue_map(rows: list[ServiceRequest]) -> dict[str, Any] | None:
    """The queue's map when the city has a tile server (docs/map-tiles.md): the items with a
    place that the queue may show (a private address's exact spot stays hidden)."""
    tile_url = settings.CIVICDESK.get("MAP_TILE_URL", "")
    if not tile_url:
        return None
    placed = [
        r for r in rows if r.lat is not None and r.lon is not None and not r.is_private_address
    ]
    if not placed:
        return None
    lats = [float(r.lat or 0) for r in placed]
    lons = [float(r.lon or 0) for r in placed]
    return {
        "tile_url": tile_url,
        "attribution": settings.CIVICDESK.get("MAP_ATTRIBUTION", ""),
        "placed": placed,
        "start": {
            "lat": sum(lats) / len(lats),
            "lon": sum(lons) / len(lons),
            "zoom": 13,
        },
    }


def _queue_context(request: HttpRequest, params: dict[str, str], **extra: Any) -> dict[str, Any]:
    form, rows, more, assigned = _queue_rows(request, params)
    now = timezone.now()
    for row in rows:
        row.overdue = bool(row.due_at and row.due_at < now and row.status in OPEN_STATUSES)  # type: ignore[attr-defined]
    next_query = None
    query = QueryDict(mutable=True)
    query.update(params)
    if more and rows:
        params_next = query.copy()
        params_next["after"] = _cursor_of(rows[-1])
        next_query = params_next.urlencode()
    roles = roles_for(request.user)
    departments = list(Department.objects.filter(pk__in=roles.staff_department_ids))
    return {
        "form": form,
        "rows": rows,
        "next_query": next_query,
        "counts": queue_counts(user=request.user),
        "departments": departments,
        "assigned": assigned,
        "poll_query": query.urlencode(),
        "saved_filters": saved_queue_filters(user=signed_in(request.user)),
        "current_saved": params.get("saved", ""),
        "save_form": extra.pop("save_form", None) or SavedFilterForm(
            initial={"query": query.urlencode()}
        ),
        "bulk_form": extra.pop("bulk_form", None) or BulkActionForm(
            assignees=_bulk_assignees(request)
        ),
        "bulk_result": extra.pop("bulk_result", None),
        "queue_map": _queue_map(rows),
        **extra,
    }


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
    params = _queue_params(request.GET)
    context = _queue_context(
        request, params, bulk_result=_bulk_summary(request.session.pop(BULK_RESULT_KEY, None))
    )
    if request.session.get(CURRENT_QUEUE_KEY) != params:
        request.session[CURRENT_QUEUE_KEY] = params
    return render(request, "portal/staff/queue.html", context)


@role_required(is_staff)
@require_GET
def queue_versions(request: HttpRequest) -> JsonResponse:
    """Polling fallback of the live queue: the first page's references and versions."""
    _form, rows, _more, _assigned = _queue_rows(request, _queue_params(request.GET))
    return JsonResponse({"requests": {r.reference: [r.status, r.version] for r in rows}})


# --- Queue: bulk actions --------------------------------------------------------------------

BULK_MAX = 100
# "reference@version", the version the page showed.
BULK_ITEM = re.compile(rf"^(CD-[A-Z0-9]{{{REFERENCE_LENGTH}}})@(\d{{1,9}})$")
SKIP_REASONS = {
    "changed": gettext_lazy("changed by someone else"),
    "not_possible": gettext_lazy("not possible in its current state"),
    "not_allowed": gettext_lazy("not allowed for you"),
    "not_found": gettext_lazy("not in your departments"),
    "invalid": gettext_lazy("not accepted"),
}


def _bulk_one(
    request: HttpRequest, action: str, reference: str, version: int, data: dict[str, Any],
    assignee: Any,
) -> str:
    """Apply the action to one item through its service (its own transaction, its own
    authorization and version check); "" when done, else why it was skipped."""
    try:
        sr = access_request(user=request.user, reference=reference, as_staff=True)
    except NotFound:
        return "not_found"
    try:
        if action == "assign":
            request_services.request_assign(
                request=sr, actor=signed_in(request.user), assignee=assignee,
                expected_version=version,
            )
        elif action == "start":
            request_services.request_transition(
                request=sr, actor=signed_in(request.user), to_status=Status.IN_PROGRESS,
                expected_version=version,
            )
        else:
            request_services.request_transition(
                request=sr,
                actor=signed_in(request.user),
                to_status=Status.RESOLVED,
                text=data.get("text") or "",
                outcome=data.get("outcome") or "",
                expected_version=version,
            )
    except Conflict as error:
        return "changed" if error.extra.get("version", version) != version else "not_possible"
    except Forbidden:
        return "not_allowed"
    except NotFound:
        return "not_found"
    except Invalid:
        return "invalid"
    return ""


def _bulk_summary(result: Any) -> dict[str, Any] | None:
    """"3 done, 1 skipped: changed by someone else", from what the bulk action stored."""
    if not isinstance(result, dict):
        return None
    done = [str(r) for r in result.get("done", [])]
    skipped = [(str(r), str(why)) for r, why in result.get("skipped", [])]
    reasons: dict[str, int] = {}
    for _ref, why in skipped:
        reasons[why] = reasons.get(why, 0) + 1
    text = ngettext("%(n)d done", "%(n)d done", len(done)) % {"n": len(done)}
    if skipped:
        why_text = ", ".join(
            str(SKIP_REASONS.get(why, why)) + (f" ({n})" if len(reasons) > 1 else "")
            for why, n in reasons.items()
        )
        text += _(", %(n)d skipped: %(reasons)s") % {"n": len(skipped), "reasons": why_text}
    return {
        "text": text,
        "done": done,
        "skipped": [(r, SKIP_REASONS.get(why, why), why) for r, why in skipped],
    }


@role_required(is_staff)
@require_POST
def queue_bulk(request: HttpRequest) -> HttpResponse:
    """Start, assign or resolve several queue items: each one separately, as if one by one."""
    form = BulkActionForm(request.POST, assignees=_bulk_assignees(request))
    items = request.POST.getlist("items")
    valid = form.is_valid()
    if not items:
        form.add_error(None, _("Select at least one item."))
    elif len(items) > BULK_MAX:
        form.add_error(None, _("Select at most %(n)d items at once.") % {"n": BULK_MAX})
    if not valid or form.errors:
        params = request.session.get(CURRENT_QUEUE_KEY) or {}
        context = _queue_context(request, dict(params), bulk_form=form)
        return render(request, "portal/staff/queue.html", context, status=400)
    data = form.cleaned_data
    assignee: Any = None
    if data["action"] == "assign" and data.get("assignee", "me") != "me":
        membership = (
            DepartmentMembership.objects.filter(
                user_id=int(data["assignee"]),
                department_id__in=roles_for(request.user).supervised_department_ids,
            ).select_related("user").first()
        )
        assignee = membership.user if membership is not None else None
    done: list[str] = []
    skipped: list[tuple[str, str]] = []
    for raw in dict.fromkeys(items):  # each item once, in the order sent
        match = BULK_ITEM.match(str(raw).strip().upper())
        if match is None:
            skipped.append((str(raw)[:16], "not_found"))
            continue
        reference, version = match.group(1), int(match.group(2))
        why = _bulk_one(request, data["action"], reference, version, data, assignee)
        if why:
            skipped.append((reference, why))
        else:
            done.append(reference)
    request.session[BULK_RESULT_KEY] = {"done": done, "skipped": skipped}
    return HttpResponseRedirect(_current_queue_url(request))


# --- Queue: a clerk's saved filters -------------------------------------------------------------


@role_required(is_staff)
@require_POST
def queue_filter_save(request: HttpRequest) -> HttpResponse:
    """Save the queue's current filter under a name (for this clerk only)."""
    form = SavedFilterForm(request.POST)
    params = _queue_params(QueryDict(str(request.POST.get("query", ""))[:500]))
    if form.is_valid():
        try:
            data, assigned = _form_data(request, params)
            saved = request_services.queue_filter_save(
                user=signed_in(request.user), name=form.cleaned_data["name"],
                filters={**data, "assigned": assigned},
            )
        except NotFound:
            form.add_error(None, _("That filter no longer exists."))
        except Invalid as error:
            apply_errors(form, error)
        else:
            messages.success(request, _("Filter saved."))
            return redirect(f"{reverse('portal:queue')}?{urlencode({'saved': saved.pk})}")
    try:
        context = _queue_context(request, params, save_form=form)
    except Http404:
        context = _queue_context(request, {}, save_form=form)
    return render(request, "portal/staff/queue.html", context, status=400)


@role_required(is_staff)
@require_POST
def queue_filter_delete(request: HttpRequest, filter_id: int) -> HttpResponse:
    try:
        request_services.queue_filter_delete(user=signed_in(request.user), filter_id=filter_id)
    except NotFound as error:
        raise Http404(error.detail) from error
    messages.success(request, _("Filter deleted."))
    return redirect("portal:queue")


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


# The workbench's words for the moves of the workflow table (the code stays in data-move).
MOVE_LABELS = {
    "start": gettext_lazy("Start work"),
    "resolve": gettext_lazy("Resolve"),
    "reject": gettext_lazy("Reject"),
    "return": gettext_lazy("Return for re-routing"),
    "close": gettext_lazy("Close"),
    "duplicate": gettext_lazy("Close as duplicate"),
}


def _step_moves(allowed: list[workflow.Move]) -> list[dict[str, Any]]:
    """The choices of the "Next step" control: each allowed move once, with what it needs."""
    out: dict[str, dict[str, Any]] = {}
    for move in allowed:
        out.setdefault(move.name, {
            "name": move.name,
            "label": MOVE_LABELS.get(move.name, move.name),
            "needs_text": move.needs_text,
            "needs_outcome": move.needs_outcome,
        })
    # Marking a duplicate takes a reference and, optionally, a word to the resident.
    if "duplicate" in out:
        out["duplicate"]["needs_original"] = True
    return list(out.values())


def _resident_language(sr: ServiceRequest) -> str:
    reporter = sr.reporter if sr.reporter_id is not None else None
    return str(getattr(reporter, "preferred_language", "") or translation.get_language() or "en")


def _next_item(request: HttpRequest, sr: ServiceRequest) -> ServiceRequest | None:
    """The item after `sr` in the clerk's current queue (the last queue view they opened)."""
    params = request.session.get(CURRENT_QUEUE_KEY) or {}
    try:
        _form, filters, _assigned = _queue_filters(request, params)
    except NotFound:  # the saved filter it used was deleted since
        _form, filters, _assigned = _queue_filters(request, {})
    return queue_next(
        user=request.user, filters=filters, after=queue_position(sr), exclude_id=sr.pk
    )


def _inserted_reply(request: HttpRequest, replies: list[Any]) -> tuple[str, str]:
    """Without JavaScript, "Insert" reloads the page with ?standard_reply=<id>&lang=&into=:
    the text of one of this department's replies, and which form it goes into."""
    wanted = request.GET.get("standard_reply", "")[:12]
    into = request.GET.get("into", "")
    language = request.GET.get("lang", "")
    chosen = next((r for r in replies if str(r.pk) == wanted), None)
    if chosen is None or into not in ("step", "reply"):
        return "", ""
    return chosen.body_in(language if language in ("en", "zh-hans") else "en"), into


def _workbench_context(request: HttpRequest, sr: ServiceRequest, **forms: Any) -> dict[str, Any]:
    kinds = actor_kinds(user=request.user, request=sr)
    allowed = workflow.allowed_moves(source=sr.status, actor_kinds=kinds)
    step_moves = _step_moves(allowed)
    events = annotate_events(events_for_staff(request=sr))
    members = []
    if workflow.SUPERVISOR in kinds and sr.department_id is not None:
        members = list(
            DepartmentMembership.objects.filter(department_id=sr.department_id)
            .select_related("user")
            .order_by("role", "user_id")
        )
    replies = standard_replies_for(department_id=sr.department_id)
    inserted, into = _inserted_reply(request, replies) if request.method == "GET" else ("", "")
    step_initial: dict[str, Any] = {"version": sr.version}
    if into == "step":
        step_initial["text"] = inserted
        wanted = request.GET.get("step", "")
        names = [m["name"] for m in step_moves]
        texted = [m["name"] for m in step_moves if m["needs_text"]]
        step_initial["step"] = wanted if wanted in names else (
            "resolve" if "resolve" in names else (texted[0] if texted else "")
        )
    step_form = forms.get("step_form") or NextStepForm(
        prefix="step", moves=allowed, initial=step_initial
    )
    reply_form = forms.get("reply_form") or ReplyForm(
        prefix="reply", initial={"text": inserted} if into == "reply" else None
    )
    resident_language = _resident_language(sr)
    clerk_language = translation.get_language() or "en"
    return {
        "sr": sr,
        "events": events,
        "routing": _with_method_label(routing_explanation(events=events)),
        "attributes": attribute_rows(sr),
        "attachments": list(sr.attachments.all()),
        "step_moves": step_moves,
        "step_form": step_form,
        "chosen_step": str(step_form["step"].value() or ""),
        "standard_replies": replies,
        "reply_languages": [("resident", resident_language), ("clerk", clerk_language)]
        if resident_language != clerk_language else [("resident", resident_language)],
        "reply_form": reply_form,
        "note_form": forms.get("note_form") or NoteForm(prefix="note"),
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
        "next_item": _next_item(request, sr),
        "open_section": forms.get("open_section", ""),
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
    staff_view_record(actor=signed_in(request.user), request=sr)
    return render(request, "portal/staff/workbench.html", _workbench_context(request, sr))


def _staff_action(
    form_factory: Callable[[HttpRequest], Any] | None,
    form_key: str,
    act: Callable[[HttpRequest, ServiceRequest, Any], str | tuple[str, str]],
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
                if isinstance(done, tuple):  # (message, where to go next)
                    done, next_url = done
                else:
                    next_url = target
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
            return HttpResponseRedirect(next_url)

        return submit_once(request, str(request.POST.get("form_token", "")), work)

    return view


def _transition(request: HttpRequest, sr: ServiceRequest, form: TransitionForm) -> str:
    to_status = form.cleaned_data["to_status"]
    text = form.cleaned_data.get("text") or ""
    if to_status == Status.RETURNED:
        request_services.request_return(request=sr, actor=signed_in(request.user), reason=text)
    else:
        request_services.request_transition(
            request=sr,
            actor=signed_in(request.user),
            to_status=to_status,
            text=text,
            outcome=form.cleaned_data.get("outcome") or "",
            expected_version=form.cleaned_data.get("version"),
        )
    return _("Done: the request is now %(status)s.") % {"status": Status(to_status).label}


def _step(request: HttpRequest, sr: ServiceRequest, form: NextStepForm) -> tuple[str, str]:
    """The "Next step" control: the chosen move, through the service that makes it."""
    step = form.cleaned_data["step"]
    text = form.cleaned_data.get("text") or ""
    version = form.cleaned_data.get("version")
    if step == "duplicate":
        reference = (form.cleaned_data.get("original") or "").strip().upper()
        try:
            original = access_request(user=request.user, reference=reference, as_staff=True)
        except NotFound:
            message = _("No such request in your departments.")
            raise Invalid(message, errors={"original": [message]}) from None
        if version is not None and version != sr.version:
            raise Conflict(_("The request changed since you loaded it; reload and try again."))
        sr = request_services.request_mark_duplicate(
            request=sr, actor=signed_in(request.user), original=original, text=text
        )
    else:
        kinds = actor_kinds(user=request.user, request=sr)
        move = next(
            (m for m in workflow.allowed_moves(source=sr.status, actor_kinds=kinds)
             if m.name == step and not m.dedicated),
            None,
        )
        if move is None:
            raise Conflict(_("That step is not possible for this request now."))
        try:
            if move.name == "return":
                sr = request_services.request_return(
                    request=sr, actor=signed_in(request.user), reason=text, expected_version=version
                )
            else:
                sr = request_services.request_transition(
                    request=sr,
                    actor=signed_in(request.user),
                    to_status=move.target,
                    text=text,
                    outcome=form.cleaned_data.get("outcome") or "",
                    expected_version=version,
                )
        except Invalid as error:
            if "reason" in error.errors:
                error.errors["text"] = error.errors.pop("reason")
            raise
    done = _("%(ref)s is now %(status)s.") % {
        "ref": sr.reference, "status": Status(sr.status).label
    }
    if not form.cleaned_data.get("next_item"):
        return done, reverse("portal:workbench", args=[sr.reference])
    following = _next_item(request, sr)
    if following is None:
        return done + " " + _("Nothing else is waiting in your queue."), _current_queue_url(request)
    return (
        done + " " + _("Here is the next item."),
        reverse("portal:workbench", args=[following.reference]),
    )


def _reply(request: HttpRequest, sr: ServiceRequest, form: Any) -> str:
    request_services.request_reply(
        request=sr, actor=signed_in(request.user), text=form.cleaned_data["text"]
    )
    return _("Your reply was sent to the resident.")


def _note(request: HttpRequest, sr: ServiceRequest, form: Any) -> str:
    request_services.request_note(
        request=sr, actor=signed_in(request.user), text=form.cleaned_data["text"]
    )
    return _("Your note was saved. Residents do not see notes.")


def _duplicate(request: HttpRequest, sr: ServiceRequest, form: DuplicateForm) -> str:
    reference = form.cleaned_data["original"]
    try:
        original = access_request(user=request.user, reference=reference, as_staff=True)
    except NotFound:
        message = _("No such request in your departments.")
        raise Invalid(message, errors={"original": [message]}) from None
    request_services.request_mark_duplicate(
        request=sr, actor=signed_in(request.user),
        original=original, text=form.cleaned_data.get("text", "")
    )
    return _("Closed as a duplicate of %(ref)s; its followers now follow that request.") % {
        "ref": original.reference
    }


def _priority(request: HttpRequest, sr: ServiceRequest, form: PriorityForm) -> str:
    request_services.request_set_priority(
        request=sr,
        actor=signed_in(request.user),
        priority=form.cleaned_data["priority"],
        reason=form.cleaned_data["reason"],
    )
    return _("Priority is now %(priority)s.") % {
        "priority": Priority(form.cleaned_data["priority"]).label
    }


def _release(request: HttpRequest, sr: ServiceRequest, form: Any) -> str:
    request_services.request_unassign(request=sr, actor=signed_in(request.user))
    return _("The request is back in the department's pool.")


def _claim(request: HttpRequest, sr: ServiceRequest, form: Any) -> str:
    request_services.request_assign(request=sr, actor=signed_in(request.user))
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
    request_services.request_assign(
        request=sr, actor=signed_in(request.user), assignee=membership.user
    )
    return _("The request was assigned.")


workbench_transition = _staff_action(
    lambda r: TransitionForm(r.POST), "transition_form", _transition
)
workbench_step = _staff_action(
    lambda r: NextStepForm(r.POST, prefix="step", moves=workflow.all_moves()), "step_form", _step
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
                actor=signed_in(request.user),
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
