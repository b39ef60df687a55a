"""Forms of the web portal. They parse and check input; services decide and write."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from django import forms
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from consent.models import EventType, Method
from consent.rights.reveals import REVEAL_FIELDS
from services.attributes import attribute_label, choice_label
from services.models import Category, District, Outcome, Priority, ServiceRequest, Status
from services.workflow import RESOLUTION_OUTCOMES

# Each once-only form carries a random token (portal.views.common.submit_once reads it).
FORM_TOKEN_FIELD = "form_token"  # noqa: S105 - a field name, not a secret


def new_form_token() -> str:
    return secrets.token_urlsafe(18)


def _set_choices(form: forms.Form, name: str, choices: list) -> None:
    field = form.fields[name]
    if isinstance(field, forms.ChoiceField):
        field.choices = choices


def attribute_field_name(category: Category, code: str) -> str:
    return f"attr__{category.code}__{code}"


class AccessibleForm(forms.Form):
    """Points each invalid field at its error message (aria-describedby) for screen readers."""

    def full_clean(self) -> None:
        super().full_clean()
        for name in list(self.errors):
            if name not in self.fields:
                continue
            bound = self[name]
            ids = [f"{bound.auto_id}_errors"]
            if self.fields[name].help_text:
                ids.append(f"{bound.auto_id}_helptext")
            self.fields[name].widget.attrs["aria-describedby"] = " ".join(ids)


class OnceForm(AccessibleForm):
    """A form that carries a once-only token (see portal.views.common.submit_once)."""

    form_token = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault(FORM_TOKEN_FIELD, new_form_token())

    @property
    def token(self) -> str:
        if self.is_bound:
            return str(self.data.get(FORM_TOKEN_FIELD, ""))[:64]
        return str(self.initial.get(FORM_TOKEN_FIELD, ""))


def _attribute_field(attribute: dict[str, Any]) -> forms.Field:
    label = attribute_label(attribute)
    datatype = attribute.get("datatype", "string")
    choices = [(str(v["key"]), choice_label(v)) for v in attribute.get("values", [])]
    if datatype == "number":
        return forms.FloatField(label=label, required=False)
    if datatype == "text":
        return forms.CharField(label=label, required=False, widget=forms.Textarea(
            attrs={"rows": 3}), max_length=2000)
    if datatype == "datetime":
        return forms.DateTimeField(label=label, required=False, widget=forms.DateTimeInput(
            attrs={"type": "datetime-local"}))
    if datatype == "singlevaluelist":
        return forms.ChoiceField(
            label=label, required=False, choices=[("", "—"), *choices]
        )
    if datatype == "multivaluelist":
        return forms.MultipleChoiceField(
            label=label, required=False, choices=choices, widget=forms.CheckboxSelectMultiple
        )
    return forms.CharField(label=label, required=False, max_length=200)


class MultipleImageInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Zero or more photos; the attachment service checks their content."""

    widget = MultipleImageInput

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        accept = {"accept": "image/jpeg,image/png,image/webp"}
        kwargs.setdefault("widget", MultipleImageInput(attrs=accept))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list:
        if not data:
            return []
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleImageField, self).clean(f, initial) for f in files]


class RequestForm(OnceForm):
    """File a service request or a complaint."""

    category = forms.ChoiceField(label=_("What is it about?"))
    description = forms.CharField(
        label=_("Describe the problem"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("What is wrong, and since when? Please do not include other people's names."),
    )
    address = forms.CharField(
        label=_("Address or landmark"),
        max_length=300,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "street-address"}),
        help_text=_("An address the city knows (e.g. “8 Jianshe Road”) is placed on the map "
                    "for you; anything else is passed on as you wrote it."),
    )
    district = forms.ChoiceField(label=_("District"), required=False)
    lat = forms.FloatField(
        label=_("Latitude"), required=False, min_value=-90, max_value=90,
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    lon = forms.FloatField(
        label=_("Longitude"), required=False, min_value=-180, max_value=180,
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    location = forms.CharField(required=False, widget=forms.HiddenInput)
    is_private_address = forms.BooleanField(
        label=_("This is my home or another private address"),
        required=False,
        help_text=_("Staff then see the exact place only when they need it, and you can see when."),
    )
    is_public = forms.BooleanField(
        label=_("Publish my description and photos on the public list of requests"),
        required=False,
    )
    photos = MultipleImageField(
        label=_("Photos (optional)"),
        required=False,
        help_text=_("JPEG, PNG or WebP. Location data inside photos is removed."),
    )
    related_request = forms.ChoiceField(
        label=_("Earlier request this complaint is about (optional)"), required=False
    )

    def __init__(
        self,
        *args: Any,
        categories: Iterable[Category],
        districts: Iterable[District],
        own_requests: Iterable[ServiceRequest] = (),
        with_photos: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.categories = list(categories)
        self.districts = list(districts)
        _set_choices(self, "category", [(c.code, c.name) for c in self.categories])
        _set_choices(
            self, "district", [("", _("I don't know"))] + [(d.code, d.name) for d in self.districts]
        )
        earlier = [(r.reference, f"{r.reference} · {r.category.name}") for r in own_requests]
        _set_choices(self, "related_request", [("", "—"), *earlier])
        if not with_photos:
            del self.fields["photos"]
        # With JavaScript, the address field suggests the gazetteer's addresses as one types.
        self.fields["address"].widget.attrs["data-address-search"] = reverse(
            "api:address-search"
        )
        self.attribute_groups: list[tuple[Category, list[str]]] = []
        for category in self.categories:
            names = []
            for attribute in sorted(category.attributes or [], key=lambda a: a.get("order", 0)):
                name = attribute_field_name(category, attribute["code"])
                field = _attribute_field(attribute)
                field.widget.attrs["data-required"] = "true" if attribute.get("required") else ""
                self.fields[name] = field
                names.append(name)
            if names:
                self.attribute_groups.append((category, names))

    @property
    def attribute_fieldsets(self) -> list[tuple[Category, list[forms.BoundField]]]:
        return [(c, [self[n] for n in names]) for c, names in self.attribute_groups]

    @property
    def kinds(self) -> dict[str, str]:
        return {c.code: c.kind for c in self.categories}

    def chosen_category(self) -> Category | None:
        code = self.cleaned_data.get("category")
        return next((c for c in self.categories if c.code == code), None)

    def chosen_district(self) -> District | None:
        code = self.cleaned_data.get("district")
        return next((d for d in self.districts if d.code == code), None)

    def attribute_values(self, category: Category) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for attribute in category.attributes or []:
            value = self.cleaned_data.get(attribute_field_name(category, attribute["code"]))
            if value in (None, "", []):
                continue
            if hasattr(value, "isoformat"):
                value = value.isoformat()
            values[attribute["code"]] = value
        return values

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("lat") is None) != (data.get("lon") is None):
            self.add_error("lat", _("Give both latitude and longitude, or neither."))
        return data


class CommentForm(OnceForm):
    text = forms.CharField(
        label=_("Add a comment"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )


class ReopenForm(OnceForm):
    text = forms.CharField(
        label=_("What is still wrong?"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )


class RatingForm(OnceForm):
    rating = forms.TypedChoiceField(
        label=_("How satisfied are you with how this was handled?"),
        coerce=int,
        choices=[(5, _("5 – very satisfied")), (4, "4"), (3, "3"), (2, "2"),
                 (1, _("1 – not satisfied"))],
        widget=forms.RadioSelect,
    )
    feedback = forms.CharField(
        label=_("Anything you want to tell us (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class TransitionForm(OnceForm):
    """A staff move on a request; `to_status` must be one of the moves offered."""

    to_status = forms.ChoiceField(choices=Status.choices, widget=forms.HiddenInput)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    text = forms.CharField(
        label=_("Reply to the resident / reason"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    outcome = forms.ChoiceField(
        label=_("Outcome"), required=False, choices=[("", "—"), *Outcome.choices]
    )


class NextStepForm(OnceForm):
    """The workbench's one "Next step" control: a move of the workflow table and its fields.

    `moves` are the moves this viewer may make now (their names are the choices); the
    service decides again when the form is sent.
    """

    step = forms.ChoiceField(label=_("Next step"), widget=forms.RadioSelect)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    outcome = forms.ChoiceField(label=_("Outcome"), required=False)
    original = forms.CharField(
        label=_("Reference of the original request"), required=False, max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    text = forms.CharField(
        label=_("Reply to the resident / reason"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    next_item = forms.BooleanField(
        label=_("Then open the next item in my queue"), required=False, initial=True
    )

    def __init__(self, *args: Any, moves: Iterable[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "step", [(m.name, m.name) for m in moves])
        _set_choices(self, "outcome", [("", "—"), *[
            (o.value, o.label) for o in Outcome if o in RESOLUTION_OUTCOMES
        ]])


class BulkActionForm(AccessibleForm):
    """Several queue items at once: each is still checked and changed one by one."""

    ACTIONS = (
        ("start", _("Start work")),
        ("assign", _("Assign")),
        ("resolve", _("Resolve")),
    )

    action = forms.ChoiceField(label=_("With the selected items"), choices=ACTIONS)
    assignee = forms.ChoiceField(label=_("Assign to"), required=False)
    outcome = forms.ChoiceField(label=_("Outcome"), required=False)
    text = forms.CharField(
        label=_("Reply to the residents (when resolving)"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, assignees: Iterable[tuple[str, str]] = (),
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "assignee", [("me", _("Me")), *assignees])
        _set_choices(self, "outcome", [("", "—"), *[
            (o.value, o.label) for o in Outcome if o in RESOLUTION_OUTCOMES
        ]])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") == "resolve":
            if not data.get("outcome"):
                self.add_error("outcome", _("Choose an outcome."))
            if not (data.get("text") or "").strip():
                self.add_error("text", _("Write the reply the residents will see."))
        return data


class SavedFilterForm(AccessibleForm):
    name = forms.CharField(label=_("Save this filter as"), max_length=60)
    query = forms.CharField(required=False, max_length=500, widget=forms.HiddenInput)


class ReplyForm(OnceForm):
    text = forms.CharField(
        label=_("Public reply to the resident"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class NoteForm(OnceForm):
    text = forms.CharField(
        label=_("Internal note"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )


class QueueFilterForm(AccessibleForm):
    status = forms.ChoiceField(label=_("Status"), required=False)
    category = forms.ChoiceField(label=_("Category"), required=False)
    district = forms.ChoiceField(label=_("District"), required=False)
    priority = forms.TypedChoiceField(
        label=_("Priority"), required=False, coerce=int, empty_value=None,
        choices=[("", _("Any")), *Priority.choices],
    )
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)
    q = forms.CharField(label=_("Search"), required=False, max_length=100)

    def __init__(
        self,
        *args: Any,
        categories: Iterable[Category] = (),
        districts: Iterable[District] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "status", [("", _("All open"))] + list(Status.choices))
        _set_choices(self, "category", [("", _("Any"))] + [(c.code, c.name) for c in categories])
        _set_choices(self, "district", [("", _("Any"))] + [(d.code, d.name) for d in districts])


class TimeRangeMixin:
    """Log filters with `since` and `until`: the end must come after the start."""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}  # type: ignore[misc]
        since, until = data.get("since"), data.get("until")
        if since and until and until <= since:
            self.add_error("until", _("Choose a time after the start."))  # type: ignore[attr-defined]
        return data


class ConsentLogFilterForm(TimeRangeMixin, AccessibleForm):
    """Filters of the data officer's consent log (the consent app's selector decides)."""

    purpose = forms.ChoiceField(label=_("Purpose"), required=False)
    decision = forms.ChoiceField(label=_("Decision"), required=False)
    method = forms.ChoiceField(label=_("Method"), required=False)
    pseudonym = forms.CharField(label=_("Pseudonym"), required=False, max_length=40)
    notice_version = forms.IntegerField(label=_("Notice version"), required=False, min_value=1)
    since = forms.DateTimeField(
        label=_("From"), required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    until = forms.DateTimeField(
        label=_("Until"), required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args: Any, purposes: Iterable[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "purpose", [("", _("Any"))] + [(p.code, p.title) for p in purposes])
        _set_choices(self, "decision", [("", _("Any"))] + list(EventType.choices))
        _set_choices(self, "method", [("", _("Any"))] + list(Method.choices))


class RevealForm(AccessibleForm):
    """Staff choose what to see and why; each reveal is logged and shown to the resident."""

    FIELD_CHOICES = (
        ("name", _("name")),
        ("email", _("e-mail address")),
        ("phone", _("phone number")),
        ("exact_location", _("exact location")),
        ("photos", _("photos")),
    )
    REASON_CHOICES = (
        ("contact_resident", _("to contact the resident about this request")),
        ("locate_problem", _("to find the exact spot")),
        ("review_photos", _("to look at the photos")),
        ("coordinate_contractor", _("to arrange the repair with the contractor")),
    )

    show = forms.MultipleChoiceField(
        label=_("Show"), choices=FIELD_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    purpose = forms.ChoiceField(label=_("Purpose (from the data-use register)"))
    reason = forms.ChoiceField(label=_("Why"), choices=REASON_CHOICES)

    def __init__(self, *args: Any, purposes: Iterable[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        purposes = list(purposes)
        labels = dict(self.FIELD_CHOICES)

        def permitted(purpose: Any) -> list[str]:
            declared = set(purpose.data_categories or [])
            return [f for f, _label in self.FIELD_CHOICES if REVEAL_FIELDS[f] & declared]

        # Each purpose says which fields it permits, so a clerk need not guess and fail.
        _set_choices(self, "purpose", [
            (p.code, _("%(title)s — may show: %(fields)s")
             % {"title": p.title, "fields": ", ".join(str(labels[f]) for f in permitted(p))})
            for p in purposes
        ])
        # The default is the purpose that permits the most (contacting the resident first).
        best = max(purposes, key=lambda p: (len(permitted(p)), "name" in permitted(p)),
                   default=None)
        if best is not None and not self.is_bound:
            self.initial.setdefault("purpose", best.code)


class AccessLogFilterForm(TimeRangeMixin, AccessibleForm):
    """Filters of the data officer's access log (the rights app's selector decides)."""

    actor = forms.IntegerField(
        label=_("Staff account #"), required=False, min_value=1,
        help_text=_("The number shown after the role, e.g. 12 for #12."),
    )
    kind = forms.ChoiceField(label=_("Kind"), required=False)
    department = forms.ChoiceField(label=_("Department"), required=False)
    purpose = forms.ChoiceField(label=_("Purpose"), required=False)
    since = forms.DateTimeField(
        label=_("From"), required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    until = forms.DateTimeField(
        label=_("Until"), required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(
        self, *args: Any, purposes: Iterable[Any] = (), departments: Iterable[Any] = (),
        kinds: Iterable[tuple[str, Any]] = (), **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "kind", [("", _("Any")), *kinds])
        _set_choices(self, "department", [("", _("Any"))] + [(d.code, d.name) for d in departments])
        _set_choices(self, "purpose", [("", _("Any"))] + [(p.code, p.title) for p in purposes])


class CounterDsrForm(OnceForm):
    """A data-subject request made in person; the rights service checks and records it."""

    kind = forms.ChoiceField(label=_("What does the resident ask for?"), widget=forms.RadioSelect)
    subject_email = forms.EmailField(
        label=_("The resident's login e-mail address"), required=False, max_length=254,
        help_text=_("Check the resident's identity first. Leave empty if they have no account."),
    )
    outcome = forms.CharField(
        label=_("Note for the resident (optional)"), required=False, max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, kinds: Iterable[tuple[str, Any]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "kind", list(kinds))


class PriorityForm(OnceForm):
    """Raise or lower an open request's priority; the reason stays on the internal timeline."""

    priority = forms.TypedChoiceField(
        label=_("Priority"), coerce=int, choices=Priority.choices
    )
    reason = forms.CharField(
        label=_("Why (staff only)"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )


class DuplicateForm(OnceForm):
    """Close a request as a duplicate of another one (the workflow service decides)."""

    original = forms.CharField(
        label=_("Reference of the original request"), max_length=16,
        help_text=_("For example CD-7K3M9QX. It must be a request of your departments."),
    )
    text = forms.CharField(
        label=_("Message to the resident (optional)"), required=False, max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean_original(self) -> str:
        return str(self.cleaned_data.get("original", "")).strip().upper()


class ConsentRateFilterForm(AccessibleForm):
    """Which purpose, how grouped and which days the consent-rate charts show."""

    purpose = forms.ChoiceField(label=_("Purpose"), required=False)
    per = forms.ChoiceField(
        label=_("Group by"), required=False,
        choices=[("week", _("week")), ("month", _("month"))],
    )
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("The last day included."),
    )

    def __init__(self, *args: Any, purposes: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "purpose", [("", _("All"))] + [(p.code, p.title) for p in purposes])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", _("Choose a day on or after the start."))
        return data


class CounterRequestForm(RequestForm):
    """A request filed at the counter by a clerk for a walk-in resident: the request's own
    fields, who the resident is (account or contact details, all optional) and the consents
    asked on the spot (one answer per consent-based purpose, for the notice version shown)."""

    ACCOUNT_CHOICES = (
        ("no", _("No account (contact details optional)")),
        ("yes", _("Has an account")),
    )
    CONSENT_ANSWERS = (
        ("", _("not asked")),
        ("give", _("agrees")),
        ("refuse", _("does not agree")),
    )

    has_account = forms.ChoiceField(
        label=_("Does the resident have an account?"), choices=ACCOUNT_CHOICES, initial="no",
        widget=forms.RadioSelect,
    )
    email = forms.EmailField(
        label=_("E-mail address"), required=False, max_length=254,
        help_text=_("With an account: its login address (check the resident's identity). "
                    "Without: the reference is e-mailed there and the details are kept for "
                    "this request."),
    )
    name = forms.CharField(label=_("Name"), required=False, max_length=100)
    phone = forms.CharField(label=_("Phone"), required=False, max_length=32)
    language = forms.ChoiceField(
        label=_("Language for messages"), choices=(("en", "English"), ("zh-hans", "简体中文")),
        initial="en",
    )

    def __init__(self, *args: Any, purposes: Iterable[Any] = (),
                 notices: dict[int, Any] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("with_photos", False)
        super().__init__(*args, **kwargs)
        del self.fields["related_request"]
        self.consent_purposes: list[tuple[Any, Any]] = []
        for purpose in purposes:
            notice = (notices or {}).get(purpose.pk)
            if notice is None:
                continue
            self.fields[f"consent_{purpose.code}"] = forms.ChoiceField(
                label=purpose.title, required=False, choices=self.CONSENT_ANSWERS,
                widget=forms.RadioSelect, initial="",
            )
            self.fields[f"notice_{purpose.code}"] = forms.IntegerField(
                widget=forms.HiddenInput, initial=notice.version, min_value=1, required=False
            )
            self.consent_purposes.append((purpose, notice))

    @property
    def consent_fields(self) -> list[tuple[Any, Any, forms.BoundField, forms.BoundField]]:
        return [
            (p, n, self[f"consent_{p.code}"], self[f"notice_{p.code}"])
            for p, n in self.consent_purposes
        ]

    def consent_answers(self) -> dict[str, tuple[str, int]]:
        return {
            p.code: (self.cleaned_data.get(f"consent_{p.code}") or "",
                     int(self.cleaned_data.get(f"notice_{p.code}") or 0))
            for p, _n in self.consent_purposes
        }
