"""Timeline entries in words: the routing reason and outcome labels for templates."""

from __future__ import annotations

from typing import Any

from core.i18n import current_language
from services.attributes import attribute_label, choice_label
from services.models import Event, Outcome


def annotate_events(events: list[Event]) -> list[Event]:
    """Attach `explanation` (routing reason in the viewer's language) and `outcome_label`."""
    language = current_language()
    outcomes = dict(Outcome.choices)
    for event in events:
        data: dict[str, Any] = event.data or {}
        explanation = data.get("explanation")
        text = ""
        if isinstance(explanation, dict):
            text = explanation.get(language) or explanation.get("en") or ""
        event.explanation = text or event.text  # type: ignore[attr-defined]
        if event.type == Event.Type.ROUTED and text:
            event.text = ""  # shown once, as the explanation
        event.outcome_label = outcomes.get(data.get("outcome", ""), "")  # type: ignore[attr-defined]
    return events


def attribute_rows(request: Any) -> list[tuple[str, str]]:
    """The request's extra attributes as (label, value) in words, in the category's order."""
    values: dict[str, Any] = request.attribute_values or {}
    rows = []
    definitions = sorted(request.category.attributes or [], key=lambda a: a.get("order", 0))
    for attribute in definitions:
        code = attribute.get("code")
        if code not in values:
            continue
        names = {str(v["key"]): choice_label(v) for v in attribute.get("values", [])}
        value = values[code]
        items = value if isinstance(value, list) else [value]
        shown = ", ".join(names.get(str(v), str(v)) for v in items)
        rows.append((attribute_label(attribute), shown))
    # Values a client app sent for codes the category does not define (Open311), by code.
    defined = {a.get("code") for a in definitions}
    for code, value in values.items():
        if code not in defined:
            items = value if isinstance(value, list) else [value]
            rows.append((code, ", ".join(str(v) for v in items)))
    return rows
