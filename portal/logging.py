"""Structured JSON logs that never carry personal data or secrets.

The filter redacts anything shaped like an email address, phone number or token in the message
and its arguments, drops query strings of routes that carry search text and blanks free-text
parameters, as a safety net: code should not log such values in the first place.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w-])\+?\d[\d ()-]{7,}\d(?!\w)")
_TOKEN = re.compile(r"(?i)(x-session-token|token|password|secret|api_key|authorization)"
                    r"([\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;]+")

# Routes whose query strings may carry search text (older clients, hand-typed URLs): an
# access-log line keeps the path and drops the whole query string. Elsewhere, parameters that
# carry free text are blanked.
QUERY_FREE_PATHS = ("/api/v1/queue", "/staff/queue", "/open311/", "/api/v1/officer/")
_QUERY_FREE = re.compile(
    r"((?:" + "|".join(re.escape(p) for p in QUERY_FREE_PATHS) + r")[^\s?\"']*)\?[^\s\"']*"
)
_FREE_TEXT_PARAM = re.compile(r"([?&](?:q|search|address|description|text)=)[^&\s\"']*")

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def redact(text: str) -> str:
    text = _QUERY_FREE.sub(r"\1?[query dropped]", text)
    text = _FREE_TEXT_PARAM.sub(r"\1[redacted]", text)
    text = _EMAIL.sub("[email]", text)
    text = _TOKEN.sub(r"\1\2[redacted]", text)
    return _PHONE.sub("[phone]", text)


class RedactPersonalDataFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                # Objects (e.g. Django's `request` on django.request records, whose repr
                # holds the full URL) are redacted like the message.
                payload[key] = (
                    value if isinstance(value, str | int | float | bool) else redact(str(value))
                )
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False)
