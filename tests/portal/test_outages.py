"""Outages answer honestly: Redis down still files (201, routed once later); PostgreSQL down is
a 503 with Retry-After, never a 500 — through the API, Open311 and the portal's form.

The production layout (gunicorn, a Celery worker, beat) runs on a throwaway PostgreSQL cluster
and a throwaway redis-server of this module's own, on free loopback ports (bench/common.py), so
the tests can stop and start them; the shared services on 5432/6379 are never touched.
"""

# ruff: noqa: S310 - every URL here is http://127.0.0.1 of a server this module started

from __future__ import annotations

import http.cookiejar
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402

pytestmark = [pytest.mark.slow]

LAT, LON = 39.02, 115.97  # the demo city's North district


def _issue_open311_key(env: dict[str, str]) -> str:
    code = (
        "import django; django.setup()\n"
        "from services.open311.services import api_key_issue\n"
        "print(api_key_issue(name='outage test', rate_limit_per_minute=10**6)[1])\n"
    )
    out = subprocess.run(
        [common.PYTHON, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=True,
    )
    return out.stdout.strip().splitlines()[-1]


class Stack:
    def __init__(self, workdir: Path) -> None:
        self.redis = common.RedisServer(workdir, aof=True)
        self.pg = common.PostgresCluster(workdir)
        self.workdir = workdir
        self.layout: common.Layout | None = None

    def start(self) -> None:
        self.redis.start()
        self.pg.init()
        self.pg.start()
        self.db_url = self.pg.url("civicdesk_outage")
        common.prepare_database(self.db_url, self.redis.url)
        # Production settings serve pages with the hashed static manifest.
        common.manage(common.app_env(self.db_url, self.redis.url), "collectstatic", "--no-input")
        self.clients = common.seed_clients(
            self.db_url, self.redis.url, residents=2, clerks=0, prefix="outage"
        )
        self.open311_key = _issue_open311_key(common.app_env(self.db_url, self.redis.url))
        self.layout = common.Layout(
            self.db_url, self.redis.url, self.workdir / "logs", web=1, web_workers=1, asgi=0,
            workers=1, worker_concurrency=1, beat=True,
            env_overrides={"DATABASE_POOL_TIMEOUT": "2"},
        ).start()
        self.base = self.layout.url("web-1")

    def stop(self) -> None:
        if self.layout is not None:
            self.layout.stop()
        self.redis.stop()
        self.pg.destroy()

    # --- the three ways in --------------------------------------------------------------

    def post_api(self) -> tuple[int, dict, object]:
        token = self.clients["residents"][0]["token"]
        request = urllib.request.Request(
            self.base + "/api/v1/requests",
            data=json.dumps(
                {"category": "streetlight", "description": "Dark all week.", "lat": LAT,
                 "lon": LON}
            ).encode(),
            headers={"Content-Type": "application/json", "X-Session-Token": token},
            method="POST",
        )
        return _send(request)

    def post_open311(self) -> tuple[int, dict, object]:
        body = urllib.parse.urlencode(
            {"api_key": self.open311_key, "service_code": "streetlight", "lat": LAT,
             "long": LON, "description": "The lamp is out."}
        ).encode()
        return _send(urllib.request.Request(
            self.base + "/open311/v2/requests.json", data=body, method="POST"
        ))

    def portal_form(self) -> PortalForm:
        return PortalForm(self.base, self.clients["residents"][1]["token"])

    def routed_count(self, reference: str) -> int:
        assert re.fullmatch(r"[A-Z0-9-]+", reference), reference
        return int(common.psql(
            self.db_url,
            "SELECT count(*) FROM services_event e JOIN services_servicerequest r "  # noqa: S608
            f"ON r.id = e.request_id WHERE r.reference = '{reference}' AND e.type = 'routed'",
        ))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


class PortalForm:
    """The resident's report form in a browser's shoes: session cookie, CSRF token, form token."""

    def __init__(self, base: str, session_key: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.jar.set_cookie(http.cookiejar.Cookie(
            0, "sessionid", session_key, None, False, "127.0.0.1", False, False, "/", True,
            False, None, False, None, None, {},
        ))
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def load(self) -> dict[str, str]:
        with self.opener.open(self.base + "/report/", timeout=30) as response:
            page = response.read().decode()
        for cookie in self.jar:  # production cookies are Secure; this server is plain http
            cookie.secure = False
        fields = {}
        for name in ("csrfmiddlewaretoken", "form_token"):
            found = re.search(rf'name="{name}" value="([^"]+)"', page)
            assert found, f"{name} not on the form"
            fields[name] = found.group(1)
        return fields

    def submit(self, hidden: dict[str, str]) -> tuple[int, dict, object]:
        body = urllib.parse.urlencode(
            {**hidden, "category": "streetlight", "description": "Dark since Monday.",
             "lat": LAT, "lon": LON}
        ).encode()
        request = urllib.request.Request(
            self.base + "/report/", data=body, method="POST",
            headers={"Referer": self.base + "/report/"},
        )
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()


def _send(request: urllib.request.Request) -> tuple[int, dict, object]:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw)
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        return error.code, dict(error.headers), parsed


@pytest.fixture(scope="module")
def stack():
    if shutil.which("redis-server") is None:
        pytest.skip("NOT RUN: redis-server is not installed")
    try:
        common.pg_bin("initdb")
    except RuntimeError:
        pytest.skip("NOT RUN: PostgreSQL's initdb/pg_ctl are not installed")
    # Not under pytest's basetemp: PostgreSQL runs as the `postgres` user, and every pytest
    # run of root on the machine makes /tmp/pytest-of-root private again.
    workdir = Path(tempfile.mkdtemp(prefix="civicdesk-outage-"))
    stack = Stack(workdir)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for(check, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return check()


def test_with_redis_down_every_way_in_still_files_and_each_report_is_routed_once_it_is_back(
    stack,
):
    form = stack.portal_form()
    hidden = form.load()
    stack.redis.kill()
    try:
        api_status, _, api_body = stack.post_api()
        open311_status, _, open311_body = stack.post_open311()
        form_status, form_headers, _ = form.submit(hidden)
    finally:
        stack.redis.start()

    assert api_status == 201, api_body
    assert open311_status == 200, open311_body
    assert form_status == 302
    references = [
        api_body["reference"],
        open311_body[0]["service_request_id"],
        form_headers["Location"].rstrip("/").rsplit("/", 1)[-1],
    ]
    # The outbox relay (beat, every 5 s) publishes them once Redis is back.
    assert _wait_for(lambda: all(stack.routed_count(ref) >= 1 for ref in references), 90)
    time.sleep(6)  # one more relay round: nothing is published twice
    assert [stack.routed_count(ref) for ref in references] == [1, 1, 1]


def test_with_postgresql_down_every_way_in_answers_503_with_retry_after_never_500(stack):
    form = stack.portal_form()
    hidden = form.load()
    stack.pg.stop("fast")
    try:
        api = stack.post_api()
        open311 = stack.post_open311()
        page = form.submit(hidden)
    finally:
        stack.pg.start()

    status, headers, body = api
    assert status == 503, body
    assert headers["Retry-After"] == "5"
    assert headers["Content-Type"].startswith("application/problem+json")
    assert body["status"] == 503
    assert set(body) >= {"type", "title", "status", "detail"}
    status, headers, body = open311
    assert (status, headers.get("Retry-After")) == (503, "5"), body
    assert body[0]["code"] == 503
    status, headers, body = page
    assert (status, headers.get("Retry-After")) == (503, "5")
    assert b"briefly unavailable" in body


def test_after_postgresql_comes_back_filing_works_again(stack):
    stack.pg.stop("fast")
    stack.pg.start()
    assert _wait_for(lambda: stack.post_api()[0] == 201, 30)
