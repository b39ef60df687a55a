"""A JSON list of objects (category attributes, register recipients) edited as rows of ordinary
form fields in the admin: each row is a small form, so bad input is a field-level error.

A ModelForm lists its row fields in `rows`; the admin template `admin/rows_change_form.html`
renders them under the model's own fields. Nothing is saved unless every row is valid.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.forms.formsets import BaseFormSet, formset_factory
from django.utils.translation import gettext_lazy as _


class RowForm(forms.Form):
    """One object of the list. Subclasses convert between the stored dict and the fields."""

    @classmethod
    def initial_from(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item.get(name) for name in cls.base_fields}

    def to_item(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name) for name in self.base_fields}


class RowFormSet(BaseFormSet):
    """Rows with a key field that must be unique across the list (`unique_field`)."""

    unique_field: ClassVar[str] = ""

    def clean(self) -> None:
        if any(self.errors) or not self.unique_field:
            return
        seen: set[Any] = set()
        for form in self.forms:
            if not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            value = form.cleaned_data.get(self.unique_field)
            if value in seen:
                form.add_error(self.unique_field, _("Used twice in this list."))
            seen.add(value)


def row_formset(form: type[RowForm], *, unique_field: str = "", extra: int = 2) -> type[Any]:
    base = type("RowFormSet", (RowFormSet,), {"unique_field": unique_field})
    return formset_factory(form, formset=base, extra=extra, can_delete=True)


class RowsModelForm(forms.ModelForm):
    """A ModelForm whose JSON-list fields (named in `rows`) are edited as rows of forms.

    `rows = {"attributes": (AttributeRowFormSet, "Attributes")}`; list the same names in
    `Meta.exclude` so the JSON textarea is not shown.
    """

    rows: ClassVar[dict[str, tuple[type[Any], Any]]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.row_formsets: dict[str, Any] = {}
        for name, (formset_class, label) in self.rows.items():
            items = getattr(self.instance, name, None) or []
            initial = [
                formset_class.form.initial_from(item) for item in items if isinstance(item, dict)
            ]
            formset = formset_class(
                data=self.data if self.is_bound else None, prefix=f"rows-{name}",
                initial=initial,
            )
            formset.label = label
            self.row_formsets[name] = formset

    def full_clean(self) -> None:
        super().full_clean()
        if not self.is_bound:
            return
        for formset in self.row_formsets.values():
            if not formset.is_valid():
                self.add_error(
                    None, _("Correct the rows of “%(list)s” below.") % {"list": formset.label}
                )

    def row_values(self, name: str) -> list[dict[str, Any]]:
        """The list as the rows say (valid forms only; deleted and blank rows left out)."""
        return [
            form.to_item()
            for form in self.row_formsets[name].forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]

    def save(self, commit: bool = True) -> Any:  # noqa: FBT001, FBT002 - Django's signature
        for name in self.row_formsets:
            setattr(self.instance, name, self.row_values(name))
        return super().save(commit=commit)
