"""The vocabulary of the public register (DPV terms) and the GDPR Art. 30 records built from it.

Records of processing are generated from the Purpose rows every time: never maintained by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from consent.models import LegalBasis, Purpose, RetentionEndAction
from core import city
from core.errors import Invalid

DPV = "https://w3id.org/dpv#"
PD = "https://w3id.org/dpv/pd#"
GDPR = "https://w3id.org/dpv/legal/eu/gdpr#"

# Our category code → (label, DPV personal-data IRI). Where DPV has no exact term the
# nearest broader one is used (see docs/consent.md).
DATA_CATEGORIES: dict[str, tuple[Any, str]] = {
    "account": (_("account (login e-mail, display name)"), PD + "Username"),
    "name": (_("name"), PD + "Name"),
    "email": (_("e-mail address"), PD + "EmailAddress"),
    "phone": (_("phone number"), PD + "TelephoneNumber"),
    "contact": (_("contact details"), PD + "Contact"),
    "exact_location": (_("exact location of a report"), PD + "Location"),
    "address": (_("street address"), PD + "PhysicalAddress"),
    "photos": (_("photos you attach"), PD + "Picture"),
    "free_text": (_("free text you write"), PD + "Communication"),
    "device": (_("device data (app version, push token)"), PD + "DeviceBased"),
    "request_metadata": (_("request category, district, dates, status"), DPV + "NonPersonalData"),
    "consent_choices": (_("your consent choices"), PD + "Preference"),
    # What an SMS about *your* request says (its reference and new status), sent to your
    # number: personal data, unlike the anonymised `request_metadata` of open statistics.
    "request_status": (_("the reference and status of your request"),
                       PD + "ServiceConsumptionBehavior"),
}

# Legal basis → (DPV core IRI, DPV EU-GDPR IRI).
LEGAL_BASES: dict[str, tuple[str, str]] = {
    "consent": (DPV + "Consent", GDPR + "A6-1-a"),
    "contract": (DPV + "Contract", GDPR + "A6-1-b"),
    "legal_obligation": (DPV + "LegalObligation", GDPR + "A6-1-c"),
    "vital_interests": (DPV + "VitalInterest", GDPR + "A6-1-d"),
    "public_task": (DPV + "OfficialAuthorityOfController", GDPR + "A6-1-e"),
}

RECIPIENT_ROLE_LABELS = {
    "processor": _("processor"),
    "controller": _("controller"),
    "recipient": _("recipient"),
    "internal": _("within the city administration"),
}

RECIPIENT_ROLES = {
    "processor": DPV + "DataProcessor",
    "controller": DPV + "DataController",
    "recipient": DPV + "Recipient",
}

RETENTION_ACTIONS = {"delete": DPV + "Erase", "anonymise": DPV + "Anonymise"}


def controller() -> dict[str, Any]:
    """The controller and its data protection officer (Art. 30(1)(a)), from the city settings
    (core.city). `jurisdiction` is the controller's country (ISO 3166-1 alpha-2)."""
    ctrl = city.party("CONTROLLER")
    dpo = city.party("DPO")
    return {
        **ctrl,
        "dpo_email": dpo["email"],
        "dpo": dpo,
        "jurisdiction": ctrl["postal_address"]["country"],
        "jurisdiction_id": city.city()["JURISDICTION_ID"],
        "city": city.city_name("en"),
    }


def controller_address() -> dict[str, str]:
    """The controller's postal address as an object (ISO/IEC TS 27560, schema.org terms)."""
    address = city.party("CONTROLLER")["postal_address"]
    return {
        "streetAddress": address["street_address"],
        "addressLocality": address["locality"],
        "addressRegion": address["region"],
        "postalCode": address["postal_code"],
        "addressCountry": address["country"],
    }


def validate_purpose_fields(
    *, data_categories: list[str], recipients: list[dict[str, Any]], legal_basis: str,
    requires_consent: bool,
) -> None:
    """Field-level checks for a register entry (admin forms and the demo seed use it)."""
    errors: dict[str, list[str]] = {}
    unknown = [c for c in data_categories if c not in DATA_CATEGORIES]
    if unknown:
        errors["data_categories"] = [
            gettext("Unknown categories: %(codes)s.") % {"codes": ", ".join(unknown)}
        ]
    for i, r in enumerate(recipients):
        if not isinstance(r, dict) or not r.get("name") or r.get("role") not in RECIPIENT_ROLES:
            errors.setdefault("recipients", []).append(
                gettext("Recipient %(n)s: needs a name and a role (%(roles)s).")
                % {"n": i, "roles": ", ".join(RECIPIENT_ROLES)}
            )
        elif not (isinstance(r.get("country"), str) and len(r["country"]) == 2):
            errors.setdefault("recipients", []).append(
                gettext("Recipient %(n)s: country must be an ISO 3166-1 alpha-2 code.") % {"n": i}
            )
    if legal_basis not in LEGAL_BASES:
        errors["legal_basis"] = [gettext("Unknown legal basis.")]
    if requires_consent != (legal_basis == "consent"):
        errors["requires_consent"] = [
            gettext(
                "Consent is needed exactly when consent is the legal basis (Recital 43: a public "
                "authority uses consent only for optional purposes)."
            )
        ]
    if errors:
        raise Invalid(gettext("The register entry is not valid."), errors=errors)


def category_json(code: str) -> dict[str, str]:
    label, iri = DATA_CATEGORIES.get(code, (code, DPV + "PersonalData"))
    return {"code": code, "label": str(label), "dpv": iri}


def basis_json(basis: str) -> dict[str, str]:
    core, gdpr = LEGAL_BASES.get(basis, ("", ""))
    return {"code": basis, "label": str(LegalBasis(basis).label), "dpv": core, "gdpr": gdpr}


def retention_json(purpose: Purpose) -> dict[str, Any]:
    action = purpose.retention_end_action
    return {
        "days": purpose.retention_days,
        "starts": purpose.retention_trigger,
        "end_action": action,
        "end_action_label": str(RetentionEndAction(action).label)
        if action in RetentionEndAction.values else action,
        "dpv": RETENTION_ACTIONS.get(purpose.retention_end_action, ""),
    }


def recipients_json(purpose: Purpose) -> list[dict[str, Any]]:
    departments = [
        {"name": d.name, "role": "internal", "country": controller()["jurisdiction"],
         "department": d.code, "role_label": str(RECIPIENT_ROLE_LABELS["internal"])}
        for d in purpose.departments.all()
    ]
    outside = [
        {**r, "dpv": RECIPIENT_ROLES.get(r.get("role", ""), DPV + "Recipient"),
         "role_label": str(RECIPIENT_ROLE_LABELS.get(r.get("role", ""), r.get("role", "")))}
        for r in purpose.recipients
    ]
    return departments + outside


def processing_records(purposes: Iterable[Purpose]) -> dict[str, Any]:
    """GDPR Art. 30(1) records of processing activities, one per active purpose."""
    ctrl = controller()
    records = []
    for p in purposes:
        recips = recipients_json(p)
        transfers = sorted(
            {r["country"] for r in p.recipients if r.get("country") and
             r["country"] != ctrl["jurisdiction"]}
        )
        records.append(
            {
                "purpose": {"code": p.code, "title": p.title, "description": p.description,
                            "dpv": p.dpv_purpose},
                "legal_basis": basis_json(p.legal_basis),
                "legal_reference": p.legal_reference_text,
                "data_subject_categories": [gettext("residents who use the service center")],
                "personal_data_categories": [category_json(c) for c in p.data_categories],
                "recipient_categories": recips,
                "third_country_transfers": transfers,
                "retention": {**retention_json(p), "starts": p.retention_trigger_text},
                "requires_consent": p.requires_consent,
                "security_measures": [
                    gettext("access limited by role and department; staff reveal contact "
                            "details only on demand with a stated purpose"),
                    gettext("consent changes recorded in a tamper-evident Merkle-tree log with "
                            "signed tree heads"),
                    gettext("pseudonymised log entries; per-resident keys are destroyed on "
                            "erasure"),
                    gettext("TLS in transit; backups encrypted"),
                ],
                "last_changed": p.updated_at,
            }
        )
    return {
        "controller": {
            "name": ctrl["name"],
            "address": ctrl["address"],
            "postal_address": ctrl["postal_address"],
            "email": ctrl["email"],
            "phone": ctrl["phone"],
        },
        "data_protection_officer": {
            "name": ctrl["dpo"]["name"],
            "address": ctrl["dpo"]["address"],
            "postal_address": ctrl["dpo"]["postal_address"],
            "email": ctrl["dpo"]["email"],
            "phone": ctrl["dpo"]["phone"],
        },
        "generated_from": gettext(
            "the public data-use register (GET /api/v1/register/purposes)"),
        "records": records,
    }
