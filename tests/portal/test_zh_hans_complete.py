"""zh-hans is complete: every page a resident, a clerk or a data officer opens, and the API's
problem details, are in Chinese when they ask for it.

The check is a heuristic: visible text (text nodes and the attributes people see or hear:
placeholder, aria-label, alt, title, the data-msg-* texts the scripts show) must not contain
an English word of four letters or more, outside a short allow-list of names and codes. Text
marked as another language (`lang="en"`), code (`<code>`, `.mono`) and what the resident
typed themselves are not the interface and are skipped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from consent.demo import seed_register
from consent.rights.erasure import account_erase
from consent.rights.reveals import contact_details_reveal
from services import services as request_services
from services.demo import seed_city
from services.models import Category, Department, DepartmentMembership, Status
from services.routing import request_route
from tests.factories import MembershipFactory, UserFactory
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db

ENGLISH_WORD = re.compile(r"[A-Za-z]{4,}")
# Names and codes that stay as they are in any language.
ALLOWED = {
    "CivicDesk", "English", "Open311", "GeoJSON", "JSON", "OpenAPI", "Swagger", "Redoc",
    "Merkle", "Python", "WebP",
    # The verifier's command line, quoted in the log page's instructions.
    "python", "consistency", "proof",
}
ACRONYM = re.compile(r"^[A-Z0-9]+$")  # GDPR, TOTP, DELETE: codes, the same in every language
# Tokens that are data, not words: references, e-mail addresses, URLs, IRIs, hashes, codes.
NOT_WORDS = re.compile(
    r"(?:CD|DSR)-[0-9A-Z]{7}"
    r"|[\w.+-]+@[\w.-]+"
    r"|(?:https?://|/)[^\s<>\"']*"
    r"|\b[0-9a-f]{16,}\b"
    r"|\b[a-z0-9]+(?:[-_][a-z0-9]+)+\b"
    r"|\b[\w-]+(?:\.[\w-]+)+(?:/[\w./-]*)?"  # host names, file names
)
VISIBLE_ATTRIBUTES = {"placeholder", "aria-label", "alt", "title", "data-busy-text",
                      "data-confirm", "data-template"}
SKIP_TAGS = {"script", "style", "code", "pre", "svg"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr", "param"}


class VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, skipped)
        self.texts: list[str] = []

    @property
    def skipping(self) -> bool:
        return any(skipped for _, skipped in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        lang = (values.get("lang") or "").lower()
        skipped = (
            tag in SKIP_TAGS
            or "mono" in (values.get("class") or "").split()
            or (bool(lang) and not lang.startswith("zh"))
            or values.get("translate") == "no"  # names and addresses, as HTML marks them
            or (tag == "input" and values.get("type") == "hidden")
        )
        if not (skipped or self.skipping):
            for name, value in attrs:
                if value and (name in VISIBLE_ATTRIBUTES or name.startswith("data-msg")):
                    self.texts.append(value)
            if tag == "input" and values.get("type") in ("submit", "button") and values.get(
                    "value"):
                self.texts.append(values["value"] or "")
        if tag not in VOID:
            self.stack.append((tag, skipped))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if not self.skipping and data.strip():
            self.texts.append(data)


def english_words(text: str) -> list[str]:
    stripped = NOT_WORDS.sub(" ", text)
    return [w for w in ENGLISH_WORD.findall(stripped)
            if w not in ALLOWED and not ACRONYM.match(w)]


def page_holes(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return [t.strip()[:120] for t in parser.texts if english_words(t)]


@pytest.fixture
def city(settings):
    seed_city()
    seed_register()
    return Category.objects.get(code="pothole")


def zh(user, **kwargs) -> Client:
    user.preferred_language = "zh-hans"
    user.save()
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    if user.memberships.exists() or user.is_data_officer or user.is_superuser:
        mfa_login(client, user)
    else:
        client.force_login(user)
    return client


@pytest.fixture
def world(city, django_capture_on_commit_callbacks):
    resident = UserFactory(display_name="李伟", preferred_language="zh-hans")
    roads = Department.objects.get(code="roads")
    clerk = MembershipFactory(department=roads, user__display_name="王芳").user
    supervisor = MembershipFactory(department=roads, role=DepartmentMembership.Role.SUPERVISOR,
                                   user__display_name="张敏").user
    officer = UserFactory(is_data_officer=True, display_name="陈静")
    with django_capture_on_commit_callbacks(execute=False):
        sr = request_services.request_submit(
            reporter=resident, category=city, description="人行道上有一个很深的坑。",
            address="主街 1 号", attribute_values={"size": "large"}, is_private_address=True,
        )
    request_route(request_id=sr.pk)
    sr.refresh_from_db()
    request_services.request_reply(request=sr, actor=clerk, text="我们明天去修。")
    contact_details_reveal(actor=clerk, reference=sr.reference, fields=["phone"],
                           purpose="service-delivery", reason="contact_resident")
    request_services.request_transition(request=sr, actor=clerk, to_status=Status.IN_PROGRESS)
    request_services.request_transition(request=sr, actor=clerk, to_status=Status.RESOLVED,
                                        outcome="fixed", text="已修好。")
    sr.refresh_from_db()
    return {"resident": resident, "clerk": clerk, "supervisor": supervisor,
            "officer": officer, "sr": sr}


def _walk(client: Client, paths: list[str]) -> dict[str, list[str]]:
    holes = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        found = page_holes(response.content.decode())
        if found:
            holes[path] = found
    return holes


def test_the_parser_finds_english_and_skips_codes_and_names():
    html = ('<p>你好 <a href="/x">Read more</a></p><code>service-delivery</code>'
            '<span class="mono">CD-7K3MQ2X</span><option lang="en">English words</option>'
            '<input placeholder="Search here"><p>CivicDesk · CD-7K3MQ2X · GDPR</p>'
            '<span translate="no">Example Ltd.</span><p>civicdesk_verify.py</p>')
    assert page_holes(html) == ["Read more", "Search here"]


def test_public_pages_are_all_chinese(world):
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    sr = world["sr"]
    holes = _walk(client, ["/", "/statistics/", "/reports/", "/data-use/", "/log/"])
    assert holes == {}, holes
    del sr


def test_resident_pages_are_all_chinese(world):
    sr = world["sr"]
    client = zh(world["resident"])
    holes = _walk(client, [
        "/report/", "/report/steps/what/", "/my/requests/", f"/my/requests/{sr.reference}/",
        "/my/data/", "/my/profile/", "/my/data/delete/",
    ])
    assert holes == {}, holes


def test_clerk_pages_are_all_chinese(world):
    sr = world["sr"]
    clerk = zh(world["clerk"])
    filed = clerk.post("/staff/counter/", {
        "has_account": "no", "language": "zh-hans", "category": "pothole",
        "description": "路面有坑。", "address": "主街 2 号", "attr__pothole__size": "small",
        "email": "walkin@example.org", "form_token": "zh-walk",
    })
    assert filed.status_code == 302, filed.content.decode()[:2000]
    holes = _walk(clerk, [filed["Location"],
        "/staff/queue/", f"/staff/requests/{sr.reference}/", "/staff/counter/",
        "/staff/data-requests/new",
    ])
    holes.update(_walk(zh(world["supervisor"]), ["/staff/team/"]))
    assert holes == {}, holes


def test_data_officer_pages_are_all_chinese(world):
    holes = _walk(zh(world["officer"]), [
        "/data-protection/", "/data-protection/records/", "/data-protection/access-log/",
        "/data-protection/requests/", "/data-protection/consent-log/",
    ])
    assert holes == {}, holes


def test_the_erasure_plan_is_all_chinese(world):
    resident = world["resident"]
    with translation.override("zh-hans"):
        result = account_erase(user=resident, dry_run=True)
    plan = result.plan
    texts = [item.get(key, "") for item in plan.removed + plan.kept
             for key in ("what", "detail", "why")]
    texts.append(plan.finality["explanation"])
    assert [t for t in texts if english_words(str(t))] == []


API_ERRORS = [
    ("anonymous", "get", "/api/v1/me", None),
    ("resident", "get", "/api/v1/requests/CD-2222222", None),
    ("resident", "post", "/api/v1/requests", {"description": ""}),
    ("resident", "post", "/api/v1/requests", {"category": "nope", "description": "坑",
                                              "address": "主街"}),
    ("resident", "post", "/api/v1/requests", {"category": "pothole", "description": "坑"}),
    ("resident", "delete", "/api/v1/me", None),
    ("resident", "get", "/api/v1/queue", None),
    ("resident", "post", "/api/v1/me/consents/satisfaction-survey",
     {"decision": "x", "notice_version": 1}),
    ("resident", "post", "/api/v1/me/consents/service-delivery",
     {"decision": "give", "notice_version": 1}),
    ("resident", "post", "/api/v1/me/consents/satisfaction-survey",
     {"decision": "give", "notice_version": 99}),
    ("clerk", "post", "/api/v1/staff/requests/{ref}/reveal", {"fields": []}),
    ("clerk", "get", "/api/v1/staff/requests/CD-2222222", None),
]


@pytest.mark.parametrize(("who", "method", "path", "body"), API_ERRORS,
                         ids=[f"{m}-{p}-{i}" for i, (_w, m, p, _b) in enumerate(API_ERRORS)])
def test_api_problem_details_are_all_chinese(world, who, method, path, body):
    client = APIClient(HTTP_ACCEPT_LANGUAGE="zh-hans")
    if who != "anonymous":
        user = world[who]
        user.preferred_language = "zh-hans"
        user.save()
        if who == "clerk":
            from tests.sessions import app_login_with_totp

            _c, token = app_login_with_totp(user, client)
            client.credentials(HTTP_X_SESSION_TOKEN=token)
        else:
            client.force_authenticate(user)
    path = path.format(ref=world["sr"].reference)
    call = getattr(client, method)
    response = call(path, body, format="json") if body is not None else call(path)
    assert response.status_code >= 400, response.content
    problem = response.json()
    texts = [problem.get("title", ""), problem.get("detail", "")]
    texts += [str(m) for messages in (problem.get("errors") or {}).values()
              for m in (messages if isinstance(messages, list) else [messages])]
    assert [t for t in texts if english_words(str(t))] == [], problem
