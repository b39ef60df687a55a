"""docs/setting-up-a-city.md, walked in Chromium from an empty database: `setup_city`, then the
administrator signs in (password, enrols TOTP), publishes a notice, adds a supervisor and a
department, a category with a question, uploads districts and a routing rule; a resident signs
up and files a request, which is routed to that department by that rule."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import serve_portal, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN = "admin@city.example"
ADMIN_PASSWORD = "first-admin-password-2026"  # noqa: S105 - a throwaway test city
SUPERVISOR = "supervisor.roads@city.example"
RESIDENT = "mei@residents.example"
RESIDENT_PASSWORD = "a resident's long password"  # noqa: S105


def _square(lon: float, lat: float) -> dict:
    ring = [[lon, lat], [lon + 0.1, lat], [lon + 0.1, lat + 0.1], [lon, lat + 0.1], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


DISTRICTS = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "properties": {"name": "Harbour District", "code": "harbour",
                                           "name_zh_hans": "港区"},
         "geometry": _square(116.0, 39.0)},
        {"type": "Feature", "properties": {"name": "Hill District", "code": "hill"},
         "geometry": _square(116.1, 39.0)},
    ],
}


@pytest.fixture(scope="module")
def empty_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A portal on an empty database after `migrate` and `setup_city` only (no demo data)."""
    tmp = tmp_path_factory.mktemp("city")
    mail = tmp / "mail"
    with serve_portal(
        tmp,
        [["migrate", "--no-input"], ["setup_city", "--admin-email", ADMIN]],
        CIVICDESK_DEMO="0",
        DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD,
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(mail),
        CIVICDESK_ROUTER_MODEL_PATH=str(tmp / "router.json"),
    ) as base:
        yield base, mail


@pytest.fixture
def page_for(empty_city, chromium):
    """Pages on the empty city's server, from the session's one Chromium (a second Playwright
    cannot start inside the first one's event loop)."""
    base, _mail = empty_city
    contexts = []

    def make():
        context = chromium.new_context(base_url=base, locale="en-GB",
                                       viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def _totp(secret: str) -> str:
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def _messages(page) -> str:
    return page.inner_text("ul.messagelist") if page.locator("ul.messagelist").count() else ""


def _admin_signs_in_and_enrols_totp(page) -> None:
    page.goto("/admin/")
    page.wait_for_url(re.compile(r"/accounts/login/"))
    page.fill("main input[name=login]", ADMIN)
    page.fill("main input[name=password]", ADMIN_PASSWORD)
    page.click("main button[type=submit]")
    # No TOTP yet: the admin sends the administrator to enrol it (after the password again).
    page.wait_for_url(re.compile(r"/accounts/(reauthenticate|2fa/totp/activate)/"))
    if "/reauthenticate/" in page.url:
        page.fill("main input[name=password]", ADMIN_PASSWORD)
        page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/accounts/2fa/totp/activate/"))
    secret = page.input_value("#authenticator_secret")
    page.fill("main input[name=code]", _totp(secret))
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    page.goto("/admin/")
    assert page.is_visible("#site-name"), page.url


def _admin_publishes_the_service_notice(page) -> str:
    page.goto("/admin/consent/noticedraft/")
    page.click("#result_list a:text-is('service-delivery')")
    page.wait_for_selector("[data-notice-hashes]")
    assert "(when published)" in page.inner_text("[data-notice-hashes]")
    page.click("input[name=_publish]")
    page.wait_for_selector("ul.messagelist")
    published = re.search(r"sha256 ([0-9a-f]{64})", _messages(page))
    assert published, _messages(page)
    # The published notice is read-only and shows the recorded hash.
    assert page.locator("textarea[name=text_en]").count() == 0
    assert page.inner_text("[data-notice-hashes] code[data-sha256]").strip() == (
        published.group(1)
    )
    shot(page, "city-setup-notice-published")
    return published.group(1)


def _admin_adds_the_supervisor_account(page) -> None:
    page.goto("/admin/accounts/user/add/")
    page.fill("input[name=email]", SUPERVISOR)
    page.fill("input[name=password1]", "supervisor-long-password-1")
    page.fill("input[name=password2]", "supervisor-long-password-1")
    if page.locator("input[name=usable_password][value=true]").count():
        page.check("input[name=usable_password][value=true]")
    page.click("input[name=_save]")
    page.wait_for_selector("ul.messagelist")
    assert "was added successfully" in _messages(page)


def _admin_creates_a_department_with_its_supervisor(page) -> None:
    page.goto("/admin/services/department/add/")
    page.fill("input[name=code]", "roads")
    page.fill("input[name=name_en]", "Roads")
    page.fill("input[name=name_zh_hans]", "道路管理处")
    page.click("input[name=_continue]")
    page.wait_for_selector("ul.messagelist")
    # Nobody staffs it yet: the page says what that means.
    assert "No active staff" in _messages(page)
    assert "No supervisor" in _messages(page)
    shot(page, "city-setup-department-unstaffed")
    page.click(".add-row a")
    row = page.locator("tr.dynamic-members").first
    row.locator(".select2-selection").click()
    page.fill(".select2-search__field", "supervisor.roads")
    page.click(f".select2-results__option:has-text('{SUPERVISOR}')")
    row.locator("select[name$='-role']").select_option("supervisor")
    page.click("input[name=_continue]")
    page.wait_for_selector("ul.messagelist")
    assert "No active staff" not in page.content()
    assert "No supervisor" not in page.content()


def _admin_creates_a_category_with_a_question(page) -> None:
    page.goto("/admin/services/category/add/")
    page.fill("input[name=code]", "pothole")
    page.fill("input[name=name_en]", "Pothole")
    page.fill("input[name=name_zh_hans]", "路面坑洞")
    page.fill("input[name=sla_hours]", "72")
    row = "rows-attributes-0"
    page.fill(f"input[name={row}-code]", "size")
    page.fill(f"input[name={row}-description]", "How big is it?")
    page.select_option(f"select[name={row}-datatype]", "singlevaluelist")
    page.check(f"input[name={row}-required]")
    page.click("input[name=_save]")
    # A list answer without choices: an error on that field, nothing saved.
    page.wait_for_selector(f"#id_{row}-values_errors")
    assert "at least one choice" in page.inner_text(f"#id_{row}-values_errors")
    page.fill(f"textarea[name={row}-values]",
              "small | Smaller than a plate | 比盘子小\nlarge | Larger than a car wheel")
    page.click("input[name=_save]")
    page.wait_for_selector("ul.messagelist")
    assert "was added successfully" in _messages(page)
    assert page.is_visible("#result_list a:text-is('pothole')")


def _admin_uploads_districts(page, tmp_path: Path) -> None:
    page.goto("/admin/services/district/")
    page.click("a[data-upload-districts]")
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                   '"properties": {}, "geometry": {"type": "Point", "coordinates": [1, 2]}}]}')
    page.set_input_files("input[name=file]", str(bad))
    page.click("input[name=_upload]")
    page.wait_for_selector("#id_file_errors")
    assert "no “name” property" in page.inner_text("#id_file_errors")
    good = tmp_path / "districts.geojson"
    good.write_text(json.dumps(DISTRICTS))
    page.set_input_files("input[name=file]", str(good))
    page.click("input[name=_upload]")
    page.wait_for_selector("ul.messagelist")
    assert "2 new" in _messages(page)
    assert page.is_visible("#result_list a:text-is('harbour')")
    shot(page, "city-setup-districts")


def _admin_adds_a_routing_rule(page) -> None:
    page.goto("/admin/services/routingrule/add/")
    page.fill("input[name=order]", "10")
    page.select_option("select[name=category]", label="Pothole")
    page.select_option("select[name=district]", label="Harbour District")
    page.select_option("select[name=department]", label="Roads")
    page.click("input[name=_save]")
    page.wait_for_selector("ul.messagelist")
    assert "was added successfully" in _messages(page)


def _resident_signs_up(page, mail: Path) -> None:
    page.goto("/accounts/signup/")
    page.fill("main input[name=email]", RESIDENT)
    page.fill("main input[name=password1]", RESIDENT_PASSWORD)
    page.fill("main input[name=password2]", RESIDENT_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/accounts/confirm-email/"))
    message = max(mail.iterdir(), key=lambda f: f.stat().st_mtime).read_text()
    code = re.search(r"^([A-Z0-9]{4}-?[A-Z0-9]{4})$", message, re.MULTILINE)
    assert code, message
    page.fill("main input[name=code]", code.group(1))
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    if "/accounts/login/" in page.url:
        page.fill("main input[name=login]", RESIDENT)
        page.fill("main input[name=password]", RESIDENT_PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_load_state()
    assert page.locator("form[action='/accounts/logout/']").count(), page.url


def _resident_files_a_pothole_in_the_harbour(page) -> str:
    page.goto("/report/")
    page.check("#cat-pothole")
    page.select_option("select[name='attr__pothole__size']", "large")
    page.fill("textarea[name=description]", "A deep hole by the ferry terminal.")
    page.select_option("select[name=district]", label="Harbour District")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/my/requests/CD-[A-Z0-9]{7}/$"))
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def test_a_city_follows_the_guide_from_an_empty_database_to_its_first_routed_request(
    empty_city, page_for, tmp_path
):
    _base, mail = empty_city
    admin = page_for()
    _admin_signs_in_and_enrols_totp(admin)
    _admin_publishes_the_service_notice(admin)
    _admin_adds_the_supervisor_account(admin)
    _admin_creates_a_department_with_its_supervisor(admin)
    _admin_creates_a_category_with_a_question(admin)
    _admin_uploads_districts(admin, tmp_path)
    _admin_adds_a_routing_rule(admin)

    resident = page_for()
    _resident_signs_up(resident, mail)
    reference = _resident_files_a_pothole_in_the_harbour(resident)

    resident.reload()
    assert resident.is_visible(f"text={reference}")
    assert resident.is_visible(
        "text=Sent to Roads because you chose 'Pothole' in Harbour District."
    ), resident.inner_text("main")
    shot(resident, "city-setup-first-routed-request")
