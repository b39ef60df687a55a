"""The city names itself from configuration: receipts, Art. 30 records, e-mail links, Open311
and WebSocket origins follow the settings, and production refuses the demo city's values."""

from __future__ import annotations

import os
import subprocess
import sys
from copy import deepcopy
from pathlib import Path

import pytest
from django.core import mail

from consent import ledger, policy, services
from consent.demo import seed_register
from consent.receipts import receipt_for_event
from portal import checks
from services.models import Event, Status
from services.notifications import notification_deliver
from services.services import event_record
from tests.factories import CategoryFactory, ServiceRequestFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]

REAL_CITY = {
    "CIVICDESK_CITY_NAME": "Xiong'an New Area",
    "CIVICDESK_CITY_NAME_ZH_HANS": "雄安新区",
    "CIVICDESK_JURISDICTION_ID": "xiongan.gov.cn",
    "CIVICDESK_PORTAL_URL": "https://service.xiongan.gov.cn",
    "CIVICDESK_CONTROLLER_NAME": "Xiong'an Citizen Service Center",
    "CIVICDESK_CONTROLLER_EMAIL": "service@xiongan.gov.cn",
    "CIVICDESK_CONTROLLER_STREET_ADDRESS": "88 Civic Avenue",
    "CIVICDESK_CONTROLLER_LOCALITY": "Rongcheng",
    "CIVICDESK_CONTROLLER_REGION": "Hebei",
    "CIVICDESK_CONTROLLER_POSTAL_CODE": "071700",
    "CIVICDESK_CONTROLLER_COUNTRY": "CN",
    "CIVICDESK_DPO_NAME": "Data Protection Office",
    "CIVICDESK_DPO_EMAIL": "dpo@xiongan.gov.cn",
    "CIVICDESK_DPO_PHONE": "+86 312 555 0100",
    "CIVICDESK_DEMO": "0",
}


@pytest.fixture
def city(settings):
    """The settings section as the real city's environment above produces it."""
    import environ

    from core.city import city_from_env

    conf = deepcopy(settings.CIVICDESK)
    env = environ.Env()
    saved = {k: os.environ.get(k) for k in REAL_CITY}
    os.environ.update(REAL_CITY)
    try:
        conf["CITY"] = city_from_env(env, port=8000)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value
    conf["DEMO"] = REAL_CITY["CIVICDESK_DEMO"] == "1"
    conf["PORTAL_URL"] = conf["CITY"]["PORTAL_URL"]
    conf["OPEN311_JURISDICTION"] = conf["CITY"]["JURISDICTION_ID"]
    conf["WEBSOCKET_ALLOWED_ORIGINS"] = [conf["CITY"]["PORTAL_URL"]]
    settings.CIVICDESK = conf
    return conf["CITY"]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "CIVICDESK_")) and k != "PORT"
    }
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True,
        text=True, timeout=60,
    )


PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "a-long-random-production-secret-key-for-the-deploy-check-0123456789",
    "DJANGO_ALLOWED_HOSTS": "service.xiongan.gov.cn",
    "CIVICDESK_TESTING": "0",
}


@pytest.mark.slow
def test_check_deploy_fails_in_production_while_the_city_is_the_demo_city():
    result = manage("check", "--deploy", **PRODUCTION)

    assert result.returncode != 0
    for name in ("CIVICDESK_CITY_NAME", "CIVICDESK_PORTAL_URL", "CIVICDESK_CONTROLLER_NAME",
                 "CIVICDESK_DPO_EMAIL", "CIVICDESK_JURISDICTION_ID"):
        assert name in result.stderr


@pytest.mark.slow
def test_check_deploy_passes_in_production_once_the_city_is_named():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, **REAL_CITY)

    assert result.returncode == 0, result.stderr


def test_the_deploy_check_names_each_value_left_at_the_demo(settings):
    settings.DEBUG = False

    errors = checks.check_city_is_configured()

    named = " ".join(e.msg for e in errors)
    assert {e.id for e in errors} >= {"civicdesk.E101", "civicdesk.E102"}
    assert "CIVICDESK_CONTROLLER_EMAIL" in named
    assert "CIVICDESK_CITY_NAME_ZH_HANS" in named


def test_the_deploy_check_is_quiet_for_a_named_city(settings, city):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["service.xiongan.gov.cn"]

    assert checks.check_city_is_configured() == []


def test_a_portal_host_outside_allowed_hosts_fails_the_deploy_check(settings, city):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["other.gov.cn"]

    assert [e.id for e in checks.check_city_is_configured()] == ["civicdesk.E103"]


@pytest.mark.slow
def test_the_portal_url_follows_port_when_the_city_set_none():
    code = "from core.city import portal_url; print(portal_url('/requests/CD-X/'))"

    result = manage("shell", "-c", code, PORT="8123")

    assert result.stdout.strip().splitlines()[-1] == "http://127.0.0.1:8123/requests/CD-X/"


@pytest.mark.slow
def test_city_info_prints_the_city_and_its_portal_url():
    result = manage("city_info", PORT="8123", **{
        k: v for k, v in REAL_CITY.items() if k != "CIVICDESK_PORTAL_URL"
    })

    assert "Xiong'an New Area / 雄安新区" in result.stdout
    assert "Portal: http://127.0.0.1:8123/" in result.stdout


@pytest.mark.django_db
def test_email_links_point_at_the_configured_portal(city, roads, clerk_roads):
    category = CategoryFactory(department=roads)
    request = ServiceRequestFactory(category=category, department=roads, status=Status.ROUTED,
                                    reporter=UserFactory())
    event = event_record(request=request, type=Event.Type.PUBLIC_REPLY, actor=clerk_roads,
                         text="Fixed on Tuesday.")

    notification_deliver(event_id=event.pk, user_id=request.reporter_id, channel="email")

    assert f"https://service.xiongan.gov.cn/requests/{request.reference}/" in mail.outbox[0].body


@pytest.mark.django_db
def test_a_consent_receipt_names_the_configured_controller_and_dpo(city, resident):
    seed_register()
    change = services.consent_decide(subject=resident, purpose_code=policy.PURPOSE_SMS,
                                     decision="give", notice_version=1)
    ledger.publish_tree_head()

    receipt = receipt_for_event(change.event)

    [controller] = receipt["piiControllers"]
    assert controller["piiController"] == "Xiong'an Citizen Service Center"
    assert controller["contact"] == "Data Protection Office"
    assert controller["email"] == "dpo@xiongan.gov.cn"
    assert controller["phone"] == "+86 312 555 0100"
    assert controller["address"] == {
        "streetAddress": "88 Civic Avenue", "addressLocality": "Rongcheng",
        "addressRegion": "Hebei", "postalCode": "071700", "addressCountry": "CN",
    }
    assert receipt["policyUrl"].startswith(
        "https://service.xiongan.gov.cn/api/v1/register/purposes/")


@pytest.mark.django_db
def test_art_30_records_carry_the_structured_controller_and_dpo(city, client):
    seed_register()

    body = client.get("/api/v1/register/processing-records").json()

    assert body["controller"]["name"] == "Xiong'an Citizen Service Center"
    assert body["controller"]["postal_address"] == {
        "street_address": "88 Civic Avenue", "locality": "Rongcheng", "region": "Hebei",
        "postal_code": "071700", "country": "CN",
    }
    assert body["data_protection_officer"]["email"] == "dpo@xiongan.gov.cn"
    assert body["data_protection_officer"]["name"] == "Data Protection Office"


@pytest.mark.django_db
def test_open311_discovery_names_the_portal_url_and_the_controller(city, client):
    body = client.get("/open311/discovery.json").json()

    assert body["endpoints"][0]["url"] == "https://service.xiongan.gov.cn/open311/v2"
    assert "service@xiongan.gov.cn" in body["contact"]


@pytest.mark.django_db
def test_open311_accepts_the_configured_jurisdiction_and_refuses_others(city, client):
    assert client.get("/open311/v2/services.json?jurisdiction_id=xiongan.gov.cn").status_code \
        == 200
    assert client.get("/open311/v2/services.json?jurisdiction_id=civicdesk.city").status_code \
        == 404


@pytest.mark.django_db(transaction=True)
def test_browser_sockets_are_accepted_only_from_the_portal_origin_in_production(
    city, settings, resident
):
    from channels.db import database_sync_to_async

    from tests.services.test_consumers import open_socket, run, session_cookie

    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["service.xiongan.gov.cn", "other.xiongan.gov.cn"]

    async def scenario():
        cookie = await database_sync_to_async(session_cookie)(resident)
        portal = await open_socket("/ws/resident/", cookie=cookie,
                                   origin="https://service.xiongan.gov.cn")
        other = await open_socket("/ws/resident/", cookie=cookie,
                                  origin="https://other.xiongan.gov.cn")
        await portal.disconnect()
        assert (portal.accepted, other.accepted) == (True, False)

    run(scenario)


def test_the_deploy_check_refuses_the_demo_mode_in_production(settings):
    settings.DEBUG = False
    settings.CIVICDESK = {**settings.CIVICDESK, "DEMO": True}

    assert "civicdesk.E104" in [e.id for e in checks.check_city_is_configured()]


def test_the_deploy_check_accepts_a_real_city_out_of_demo_mode(settings, city):
    settings.DEBUG = False
    settings.CIVICDESK = {**settings.CIVICDESK, "DEMO": False}

    assert "civicdesk.E104" not in [e.id for e in checks.check_city_is_configured()]
