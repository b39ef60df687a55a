"""Resident pages: file a request or complaint, my requests (live), one request's page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from core.i18n import age_text
from core.users import signed_in
from portal.forms import (
    CommentForm,
    RatingForm,
    ReopenForm,
    RequestForm,
    attribute_field_name,
    new_form_token,
)
from portal.map_tiles import map_start
from portal.views.common import (
    apply_errors,
    is_resident,
    role_required,
    submit_once,
)
from portal.views.timeline import annotate_events, attribute_rows
from services import services as request_services
from services import workflow
from services.attachments import photos_prepare
from services.gazetteer import ResolvedLocation
from services.live import STAFF_ROLES
from services.models import Category, Channel, District, ServiceRequest, Status
from services.selectors import (
    access_follow_target,
    access_request,
    access_request_to_follow,
    actor_kinds,
    events_for_resident,
    requests_followed_by,
    requests_nearby,
    requests_of_resident,
)

MY_REQUESTS_PAGE = 50


def form_categories() -> list[Category]:
    return list(Category.objects.filter(is_active=True).select_related("department"))


def form_districts() -> list[District]:
    return list(District.objects.all())


def form_location(form: RequestForm) -> dict[str, Any]:
    """The place as the resident gave it: coordinates, the address text (resolved through the
    address gazetteer by `request_submit`), the chosen district. Nothing is invented: a
    district alone stays a district (no point)."""
    return {
        "lat": form.cleaned_data.get("lat"),
        "lon": form.cleaned_data.get("lon"),
        "address": form.cleaned_data.get("address") or "",
        "district": form.cleaned_data.get("district") or "",
    }


def nearby_rows(
    *, category: Category, place: ResolvedLocation, viewer_id: int | None
) -> list[dict[str, Any]]:
    """Open reports of others that may be the same problem, as the report pages show them."""
    now = timezone.now()
    rows = []
    for c in requests_nearby(category=category, place=place, limit=5, viewer_id=viewer_id):
        r = c.request
        rows.append({
            "reference": r.reference,
            "category": r.category.name,
            "age": age_text(r.created_at, now),
            "street": r.street,
            "district": r.district.name if r.district_id and r.district else "",
            "match": c.match,
            "distance_m": None if c.distance_m is None else int(round(c.distance_m / 5.0) * 5),
            "description": r.description if r.is_public else "",
            "photo_url": reverse("portal:report-photo", args=[r.reference, c.photo_token])
            if c.photo_token else "",
            "followers": c.followers,
        })
    return rows


def form_errors_map(form: RequestForm, category: Category | None, error: DomainError) -> None:
    if category is not None and error.errors:
        renamed = {}
        for key, texts in error.errors.items():
            if key.startswith("attributes."):
                key = attribute_field_name(category, key.split(".", 1)[1])
            elif key == "location":
                key = "address"  # shown at the first place a resident can give a location
            renamed[key] = texts
        error = Invalid(error.detail, errors=renamed)
    apply_errors(form, error)


@role_required(is_resident)
@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest) -> HttpResponse:
    categories, districts = form_categories(), form_districts()
    own = requests_of_resident(user=request.user).select_related("category")[:20]
    if request.method != "POST":
        initial = {}
        if request.GET.get("category"):
            initial["category"] = request.GET["category"][:50]
        form = RequestForm(
            initial=initial, categories=categories, districts=districts, own_requests=own
        )
        return _render_new(request, form)
    form = RequestForm(
        request.POST, request.FILES, categories=categories, districts=districts, own_requests=own
    )
    if not form.is_valid():
        return _render_new(request, form, status=400)

    def work() -> HttpResponse:
        category = form.chosen_category()
        if category is None:  # the choice field only admits listed codes
            return _render_new(request, form, status=400)
        files = form.cleaned_data.get("photos") or []
        try:
            photos = photos_prepare(uploads=files) if files else []
            submitted, _created = request_services.request_file(
                reporter=signed_in(request.user),
                category=category.code,
                description=form.cleaned_data["description"],
                **form_location(form),
                attribute_values=form.attribute_values(category),
                channel=Channel.WEB,
                related_request=form.cleaned_data.get("related_request") or None,
                is_public=form.cleaned_data.get("is_public", False),
                is_private_address=form.cleaned_data.get("is_private_address", False),
                photos=photos,
                idempotency_key=f"web:{form.token}" if form.token else f"web:{id(form)}",
            )
        except DomainError as error:
            form_errors_map(form, category, error)
            return _render_new(request, form, status=400)
        messages.success(
            request,
            _("Thank you. Your reference is %(ref)s. We will keep you posted here.")
            % {"ref": submitted.reference},
        )
        return HttpResponseRedirect(
            reverse("portal:request-detail", args=[submitted.reference])
        )

    return submit_once(request, form.token, work)


def _render_new(request: HttpRequest, form: RequestForm, status: int = 200) -> HttpResponse:
    tile_url = settings.CIVICDESK.get("MAP_TILE_URL", "")
    return render(
        request,
        "portal/resident/request_new.html",
        {
            "form": form,
            "kinds": form.kinds,
            "map_tile_url": tile_url,
            "map_start": map_start(form.districts) if tile_url else None,
            "map_attribution": settings.CIVICDESK.get("MAP_ATTRIBUTION", ""),
            "max_photos": settings.CIVICDESK["MAX_PHOTOS_PER_REQUEST"],
        },
        status=status,
    )


@role_required(is_resident)
@require_GET
def my_requests(request: HttpRequest) -> HttpResponse:
    rows = list(
        requests_of_resident(user=request.user)
        .select_related("category", "department")
        .order_by("-updated_at")[:MY_REQUESTS_PAGE]
    )
    followed = list(requests_followed_by(user=request.user)[:MY_REQUESTS_PAGE])
    return render(
        request, "portal/resident/my_requests.html", {"rows": rows, "followed": followed}
    )


@role_required(is_resident)
@require_GET
def my_request_versions(request: HttpRequest) -> JsonResponse:
    """The polling fallback of the live page: reference → [status, version] of my requests."""
    rows = list(
        requests_of_resident(user=request.user)
        .order_by("-updated_at")
        .values_list("reference", "status", "version")[:MY_REQUESTS_PAGE]
    )
    rows += list(
        requests_followed_by(user=request.user).values_list("reference", "status", "version")[
            :MY_REQUESTS_PAGE
        ]
    )
    return JsonResponse({"requests": {ref: [s, v] for ref, s, v in rows}})


def _detail_context(
    request: HttpRequest, sr: ServiceRequest, **forms: Any
) -> dict[str, Any]:
    kinds = actor_kinds(user=request.user, request=sr)
    # By target status, so the page follows the workflow table whatever a move is called.
    targets = {
        m.target
        for m in workflow.allowed_moves(source=sr.status, actor_kinds=kinds)
        if workflow.RESIDENT in m.actors and not getattr(m, "dedicated", False)
    }
    is_reporter = workflow.RESIDENT in kinds
    events = annotate_events(events_for_resident(request=sr))
    viewer_id = int(request.user.pk or 0)
    is_follower = not is_reporter and sr.followers.filter(user_id=viewer_id).exists()
    if not is_reporter:
        # A follower sees the city's words, not the reporter's (as in live pushes).
        for event in events:
            if event.actor_role not in STAFF_ROLES:
                event.text = ""
                event.explanation = ""  # type: ignore[attr-defined]
    return {
        "sr": sr,
        "events": events,
        "is_follower": is_follower,
        "show_description": is_reporter or sr.is_public,
        "attributes": attribute_rows(sr),
        "attachments": list(sr.attachments.all()) if is_reporter else [],
        "is_reporter": is_reporter,
        "can_withdraw": is_reporter and Status.WITHDRAWN in targets,
        "can_confirm": is_reporter and Status.CLOSED in targets,
        "can_reopen": is_reporter and Status.REOPENED in targets,
        "can_rate": is_reporter and sr.status == Status.CLOSED and sr.rating is None,
        "can_add": is_reporter and sr.is_open,
        "comment_form": forms.get("comment_form") or CommentForm(),
        "reopen_form": forms.get("reopen_form") or ReopenForm(),
        "rating_form": forms.get("rating_form") or RatingForm(),
        "photo_error": forms.get("photo_error"),
        "tokens": {name: new_form_token() for name in ("confirm", "photos", "withdraw")},
        "status_choices": Status.choices,
    }


def _access(request: HttpRequest, reference: str) -> ServiceRequest:
    try:
        return access_request(user=request.user, reference=reference[:16])
    except NotFound as error:
        raise Http404(error.detail) from error


@role_required(is_resident)
@require_GET
def request_detail(request: HttpRequest, reference: str) -> HttpResponse:
    sr = _access(request, reference)
    kinds = actor_kinds(user=request.user, request=sr)
    if workflow.RESIDENT not in kinds and kinds & workflow.STAFF:
        # Staff work on a request in the workbench, which shows what they may see and do.
        return HttpResponseRedirect(reverse("portal:workbench", args=[sr.reference]))
    return render(request, "portal/resident/request_detail.html", _detail_context(request, sr))


@role_required(is_resident)
@require_POST
def request_follow(request: HttpRequest, reference: str) -> HttpResponse:
    """Follow a request found nearby instead of filing the same problem again."""
    try:
        sr = access_request_to_follow(user=request.user, reference=reference[:16])
    except NotFound as error:
        raise Http404(error.detail) from error
    request_services.request_follow(request=sr, user=signed_in(request.user))
    messages.success(
        request,
        _("You now follow %(ref)s. You will see its updates here, and it is listed under "
          "My requests, where you can unfollow it.") % {"ref": sr.reference},
    )
    return HttpResponseRedirect(reverse("portal:request-detail", args=[sr.reference]))


@role_required(is_resident)
@require_POST
def request_unfollow(request: HttpRequest, reference: str) -> HttpResponse:
    """Stop following a request; back to where the button was (a local page) or My requests."""
    try:
        sr = access_follow_target(user=request.user, reference=reference[:16])
    except NotFound as error:
        raise Http404(error.detail) from error
    request_services.request_unfollow(request=sr, user=signed_in(request.user))
    messages.success(
        request, _("You no longer follow %(ref)s.") % {"ref": sr.reference}
    )
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ) or not target.startswith("/"):
        target = reverse("portal:my-requests")
    return HttpResponseRedirect(target)


@require_GET
def request_link(request: HttpRequest, reference: str) -> HttpResponse:
    """The short link in notification e-mails: the request's page for whoever may see it."""
    return HttpResponseRedirect(reverse("portal:request-detail", args=[reference[:16]]))


def _resident_action(
    form_class: type | None,
    form_key: str,
    act: Callable[[HttpRequest, ServiceRequest, Any], str],
) -> Callable[[HttpRequest, str], HttpResponse]:
    """One POST endpoint per action on a resident's request: parse, call a service, redirect."""

    @role_required(is_resident)
    def view(request: HttpRequest, reference: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        sr = _access(request, reference)
        form = form_class(request.POST, request.FILES) if form_class else None
        target = reverse("portal:request-detail", args=[sr.reference])

        def work() -> HttpResponse:
            if form is not None and not form.is_valid():
                return _rerender(request, sr, form_key, form)
            try:
                done = act(request, sr, form)
            except Invalid as error:
                if form is None:
                    messages.error(request, error.detail)
                    return HttpResponseRedirect(target)
                apply_errors(form, error)
                return _rerender(request, sr, form_key, form)
            except (Conflict, Forbidden) as error:
                messages.error(request, error.detail)
                return HttpResponseRedirect(target)
            except NotFound as error:
                raise Http404(error.detail) from error
            messages.success(request, done)
            return HttpResponseRedirect(target)

        token = str(request.POST.get("form_token", ""))
        return submit_once(request, token, work)

    return view


def _rerender(request: HttpRequest, sr: ServiceRequest, key: str, form: Any) -> HttpResponse:
    sr.refresh_from_db()
    context = _detail_context(request, sr, **{key: form})
    return render(request, "portal/resident/request_detail.html", context, status=400)


def _comment(request: HttpRequest, sr: ServiceRequest, form: CommentForm) -> str:
    request_services.request_comment(
        request=sr, actor=signed_in(request.user), text=form.cleaned_data["text"]
    )
    return _("Your comment was added.")


def _photos(request: HttpRequest, sr: ServiceRequest, form: Any) -> str:
    uploads = request.FILES.getlist("photos")
    if not uploads:
        raise Invalid(_("Add a photo."), errors={"photos": [_("Choose at least one photo.")]})
    photos = photos_prepare(uploads=uploads, existing=sr.attachments.count())
    request_services.request_attach(request=sr, actor=signed_in(request.user), photos=photos)
    return _("Your photos were added.")


def _withdraw(request: HttpRequest, sr: ServiceRequest, form: Any) -> str:
    request_services.request_withdraw(request=sr, actor=signed_in(request.user))
    return _("Your request was withdrawn.")


def _confirm(request: HttpRequest, sr: ServiceRequest, form: Any) -> str:
    request_services.request_confirm(request=sr, actor=signed_in(request.user))
    return _("Thank you for confirming. The request is closed.")


def _reopen(request: HttpRequest, sr: ServiceRequest, form: ReopenForm) -> str:
    request_services.request_reopen(
        request=sr, actor=signed_in(request.user), reason=form.cleaned_data["text"], not_fixed=True
    )
    return _("The request was reopened and goes back to the department.")


def _rate(request: HttpRequest, sr: ServiceRequest, form: RatingForm) -> str:
    request_services.request_rate(
        request=sr,
        actor=signed_in(request.user),
        rating=form.cleaned_data["rating"],
        feedback=form.cleaned_data.get("feedback", ""),
    )
    return _("Thank you for your rating.")


class _PhotoForm:
    """Photos come from request.FILES; errors are shown next to the photo field."""

    def __init__(self, *args: Any) -> None:
        self.errors: list[str] = []

    def is_valid(self) -> bool:
        return True

    def add_error(self, field: str | None, text: str) -> None:
        self.errors.append(text)

    fields: dict[str, Any] = {"photos": None}  # noqa: RUF012


request_comment = _resident_action(CommentForm, "comment_form", _comment)
request_photos = _resident_action(_PhotoForm, "photo_error", _photos)
request_withdraw = _resident_action(None, "", _withdraw)
request_confirm = _resident_action(None, "", _confirm)
request_reopen = _resident_action(ReopenForm, "reopen_form", _reopen)
request_rate = _resident_action(RatingForm, "rating_form", _rate)
