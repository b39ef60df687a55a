"""The city a deployment serves: its names, controller and DPO, public URL, SMS gateway.

Read from the environment once (settings.CIVICDESK["CITY"], see docs/deployment.md "The city");
every receipt, record of processing, e-mail link, Open311 answer and WebSocket origin check
asks this module, and the deploy check refuses production while a value is the demo's.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any
from urllib.parse import urlsplit

ADDRESS_FIELDS = ("street_address", "locality", "region", "postal_code", "country")

_DEMO_ADDRESS = {
    "street_address": "1 Civic Square",
    "locality": "Example City",
    "region": "",
    "postal_code": "",
    "country": "CN",
}

# The demo city's values: what `make run` shows and what production must replace.
DEMO_CITY: dict[str, Any] = {
    "NAME": {"en": "Example City", "zh-hans": "示例市"},
    "JURISDICTION_ID": "civicdesk.city",
    "PORTAL_URL": "http://127.0.0.1:8000",
    "CONTROLLER": {
        "name": "City of Example — Citizen Service Center",
        "email": "service@civicdesk.example.city",
        "phone": "",
        "address": dict(_DEMO_ADDRESS),
    },
    "DPO": {
        "name": "Data protection officer, City of Example",
        "email": "dpo@civicdesk.example.city",
        "phone": "",
        "address": dict(_DEMO_ADDRESS),
    },
    "SMS_BACKEND": "",
}

# Environment variable of each setting (docs and the deploy check name them).
ENV_NAMES: dict[str, str] = {
    "NAME.en": "CIVICDESK_CITY_NAME",
    "NAME.zh-hans": "CIVICDESK_CITY_NAME_ZH_HANS",
    "JURISDICTION_ID": "CIVICDESK_JURISDICTION_ID",
    "PORTAL_URL": "CIVICDESK_PORTAL_URL",
    "CONTROLLER.name": "CIVICDESK_CONTROLLER_NAME",
    "CONTROLLER.email": "CIVICDESK_CONTROLLER_EMAIL",
    "CONTROLLER.phone": "CIVICDESK_CONTROLLER_PHONE",
    "DPO.name": "CIVICDESK_DPO_NAME",
    "DPO.email": "CIVICDESK_DPO_EMAIL",
    "DPO.phone": "CIVICDESK_DPO_PHONE",
    "SMS_BACKEND": "CIVICDESK_SMS_BACKEND",
}
for _who in ("CONTROLLER", "DPO"):
    for _field in ADDRESS_FIELDS:
        ENV_NAMES[f"{_who}.address.{_field}"] = f"CIVICDESK_{_who}_{_field.upper()}"

# Values that may stay at the demo's in production: empty phones and address parts are
# allowed to be empty, and no SMS gateway is a valid choice (SMS is then not offered).
OPTIONAL = frozenset(
    {"CONTROLLER.phone", "DPO.phone", "SMS_BACKEND"}
    | {f"{who}.address.{f}" for who in ("CONTROLLER", "DPO") for f in ("region", "postal_code")}
    | {f"DPO.address.{f}" for f in ADDRESS_FIELDS}  # defaults to the controller's address
)


def city_from_env(env: Any, *, port: int) -> dict[str, Any]:
    """The CITY settings section from environment variables (django-environ's Env)."""
    demo = deepcopy(DEMO_CITY)
    demo["PORTAL_URL"] = f"http://127.0.0.1:{port}"
    values: dict[str, Any] = deepcopy(demo)

    def read(path: str, default: str) -> str:
        return str(env.str(ENV_NAMES[path], default=default)).strip()

    values["NAME"] = {lang: read(f"NAME.{lang}", demo["NAME"][lang]) for lang in demo["NAME"]}
    legacy = env.str("CIVICDESK_OPEN311_JURISDICTION", default=demo["JURISDICTION_ID"])
    values["JURISDICTION_ID"] = read("JURISDICTION_ID", legacy)
    values["PORTAL_URL"] = read("PORTAL_URL", demo["PORTAL_URL"]).rstrip("/")
    for who in ("CONTROLLER", "DPO"):
        for key in ("name", "email", "phone"):
            values[who][key] = read(f"{who}.{key}", demo[who][key])
    for field in ADDRESS_FIELDS:
        values["CONTROLLER"]["address"][field] = read(
            f"CONTROLLER.address.{field}", demo["CONTROLLER"]["address"][field]
        )
    for field in ADDRESS_FIELDS:
        values["DPO"]["address"][field] = read(
            f"DPO.address.{field}", values["CONTROLLER"]["address"][field]
        )
    values["SMS_BACKEND"] = read("SMS_BACKEND", "")
    values["DEMO"] = demo
    return values


def check_portal_url(url: str) -> str | None:
    """Why this is not a usable public portal URL, or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http(s) URL such as https://service.city.gov"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must be the site's origin (no path, query or fragment)"
    return None


def _get(section: dict[str, Any], path: str) -> Any:
    value: Any = section
    for part in path.split("."):
        value = value.get(part, "") if isinstance(value, dict) else ""
    return value


def demo_values_left(section: dict[str, Any]) -> list[str]:
    """Environment variables whose setting is still at the demo value (required ones only)."""
    demo = section.get("DEMO") or DEMO_CITY
    left = []
    for path, name in ENV_NAMES.items():
        if path in OPTIONAL:
            continue
        value = str(_get(section, path))
        if path.endswith(".country"):
            if len(value) != 2:  # ISO 3166-1 alpha-2; the demo's "CN" may be the real one
                left.append(name)
        elif not value or value == _get(demo, path) or _looks_like_demo(value):
            left.append(name)
    return left


def _looks_like_demo(value: str) -> bool:
    lowered = value.lower()
    return any(
        marker in lowered for marker in ("example", "127.0.0.1", "localhost", "civicdesk.local")
    )


# --- Access for the rest of the code ---------------------------------------------------------


def city() -> dict[str, Any]:
    from django.conf import settings

    section = getattr(settings, "CIVICDESK", {}).get("CITY")
    return section if isinstance(section, dict) else DEMO_CITY


def city_name(language: str | None = None) -> str:
    """The city's name in a language (default: the active one), English if none is set."""
    from django.utils import translation

    names = city()["NAME"]
    language = language or translation.get_language() or "en"
    return str(names.get(language) or names.get("zh-hans" if language.startswith("zh") else "")
               or names["en"])


def portal_url(path: str = "") -> str:
    """An absolute link on the public portal (e-mails, receipts, Open311, exports)."""
    base = str(city()["PORTAL_URL"]).rstrip("/")
    if path and not path.startswith("/"):
        path = "/" + path
    return base + path


def portal_origin() -> str:
    parts = urlsplit(portal_url())
    return f"{parts.scheme}://{parts.netloc}"


def format_address(address: dict[str, str]) -> str:
    """One line, as printed on a receipt: street, postal code and locality, region, country."""
    locality = " ".join(p for p in (address.get("postal_code", ""), address.get("locality", ""))
                        if p)
    parts = (address.get("street_address", ""), locality, address.get("region", ""),
             address.get("country", ""))
    return ", ".join(p for p in parts if p)


def party(who: str) -> dict[str, Any]:
    """The controller or the DPO: name, email, phone, structured and one-line address."""
    entry = city()[who]
    address = {f: str(entry.get("address", {}).get(f, "")) for f in ADDRESS_FIELDS}
    return {
        "name": entry["name"],
        "email": entry["email"],
        "phone": entry.get("phone", ""),
        "address": format_address(address),
        "postal_address": address,
    }
