"""Category attributes described as data (Open311 style) and validation of submitted values.

An attribute: {code, datatype, required, description, order, values: [{key, name}]},
datatype one of string, number, datetime, text, singlevaluelist, multivaluelist.
"""

from __future__ import annotations

from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from core.errors import Invalid
from core.i18n import localized
from services.models import Category


def attribute_label(attribute: dict[str, Any]) -> str:
    """An attribute's question in the active language (`description_zh_hans` beside the
    English `description`), else its code."""
    return localized(
        str(attribute.get("description") or attribute.get("code") or ""),
        str(attribute.get("description_zh_hans") or ""),
    )


def choice_label(choice: dict[str, Any]) -> str:
    """A list choice's name in the active language (`name_zh_hans` beside `name`)."""
    return localized(str(choice.get("name") or choice.get("key") or ""),
                     str(choice.get("name_zh_hans") or ""))


DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
MAX_STRING = 200
MAX_TEXT = 2000


def _check(attribute: dict[str, Any], value: Any) -> tuple[Any, str | None]:
    """(normalised value, error message or None)."""
    datatype = attribute.get("datatype", "string")
    keys = [str(v["key"]) for v in attribute.get("values", [])]
    if datatype in ("string", "text"):
        if not isinstance(value, str):
            return None, _("Enter text.")
        limit = MAX_STRING if datatype == "string" else MAX_TEXT
        if len(value) > limit:
            return None, _("Use at most %(n)d characters.") % {"n": limit}
        return value.strip(), None
    if datatype == "number":
        if isinstance(value, bool):
            return None, _("Enter a number.")
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None, _("Enter a number.")
        if number != number or number in (float("inf"), float("-inf")):
            return None, _("Enter a number.")
        return number, None
    if datatype == "datetime":
        try:
            parsed = parse_datetime(value) if isinstance(value, str) else None
        except ValueError:  # well-formed but impossible, e.g. 30 February
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            return None, _("Enter a date and time with a time zone (ISO 8601).")
        return parsed.isoformat(), None
    if datatype == "singlevaluelist":
        if str(value) not in keys:
            return None, _("Choose one of: %(keys)s.") % {"keys": ", ".join(keys)}
        return str(value), None
    if datatype == "multivaluelist":
        items = value if isinstance(value, list) else [value]
        items = [str(v) for v in items]
        bad = [v for v in items if v not in keys]
        if bad or not items:
            return None, _("Choose from: %(keys)s.") % {"keys": ", ".join(keys)}
        return sorted(set(items)), None
    return None, _("This attribute cannot be filled in.")


def validate_attribute_values(*, category: Category, values: dict[str, Any]) -> dict[str, Any]:
    """Check submitted values against the category's attributes; return the cleaned dict."""
    if not isinstance(values, dict):
        raise Invalid(_("Attributes must be an object."), errors={"attributes": [_("Invalid.")]})
    definitions = {a["code"]: a for a in category.attributes or []}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for code in values:
        if code not in definitions:
            errors[f"attributes.{code}"] = [_("Unknown attribute for this category.")]
    for code, attribute in definitions.items():
        value = values.get(code)
        if value in (None, "", []):
            if attribute.get("required"):
                errors[f"attributes.{code}"] = [_("This field is required.")]
            continue
        normalised, error = _check(attribute, value)
        if error:
            errors[f"attributes.{code}"] = [error]
        else:
            cleaned[code] = normalised
    if errors:
        raise Invalid(_("Some attributes are not valid."), errors=errors)
    return cleaned
