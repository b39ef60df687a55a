"""Browser tests: the real portal in Debian's Chromium, driven by Playwright for Python.

A session-wide server runs in a subprocess: one daphne (HTTP + WebSockets, so live updates go
through the real consumers) on its own fresh SQLite database, migrated and seeded with the demo
city, with eager Celery and the in-memory channel layer — one process, like `make run`. The
tests talk to it only through the browser (as a person would); nothing here touches the test
process's database.

Never downloads a browser: it uses /usr/bin/chromium, and the tests are skipped with a reason
when that (or the playwright package) is missing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DEMO_PASSWORD = "civicdesk-demo-2026"  # printed by `make run`; demo accounts only
STAFF_WITH_TOTP = ("clerk.", "supervisor.", "dpo@")


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[dev]')"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _missing()
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The report form's map loads tiles from here: a port nothing listens on (other tests' tiles
# fail at once, and the form works without them); the map test serves tiles with a route.
MAP_TILES = f"http://127.0.0.1:{_free_port()}/tiles"


def _server_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        SQLITE_PATH=str(tmp / "portal.sqlite3"),
        MEDIA_ROOT=str(tmp / "media"),
        DJANGO_DEBUG="1",
        CIVICDESK_TESTING="1",
        DJANGO_SETTINGS_MODULE="portal.settings",
        PYTHONUNBUFFERED="1",
        CIVICDESK_MAP_TILE_URL=MAP_TILES + "/{z}/{x}/{y}.png",
        CIVICDESK_MAP_ATTRIBUTION="Test tiles",
    )
    return env


@contextmanager
def serve_portal(tmp: Path, commands: list[list[str]], **extra_env: str) -> Iterator[str]:
    """Run `manage.py <command>` for each command on a fresh database in `tmp`, then serve
    the portal with daphne; yields its base URL."""
    env = {**_server_env(tmp), **extra_env}
    python = sys.executable
    for command in commands:
        subprocess.run(
            [python, "manage.py", *command], cwd=ROOT, env=env, check=True,
            stdout=subprocess.DEVNULL, timeout=300,
        )
    port = _free_port()
    log = (tmp / "daphne.log").open("w")
    server = subprocess.Popen(
        [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "portal.asgi:application"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp / "daphne.log").read_text()[-3000:])
            time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="session")
def live_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a freshly migrated and seeded portal served by daphne."""
    tmp = tmp_path_factory.mktemp("portal")
    with serve_portal(tmp, [["migrate", "--no-input"], ["seed_demo"]]) as base:
        yield base


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_context(chromium, live_portal):
    """Factory of isolated browser contexts (separate cookies: one person each)."""
    contexts = []

    def make(**kwargs):
        context = chromium.new_context(
            base_url=live_portal, viewport=kwargs.pop("viewport", {"width": 1280, "height": 900}),
            locale=kwargs.pop("locale", "en-GB"), **kwargs,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def totp_code() -> str:
    from portal.demo import demo_totp_code

    return demo_totp_code()


_SIGNED_IN: dict[str, list] = {}


def sign_in(page, email: str) -> None:
    """Sign in through the real allauth pages (with the demo TOTP for staff).

    The session cookie is reused for later contexts of the same person: a TOTP code is
    accepted once, so a second full sign-in within 30 s would have to wait for the next one.
    """
    if email in _SIGNED_IN:
        page.context.add_cookies(_SIGNED_IN[email])
        page.goto("/")
        if page.locator("form[action='/accounts/logout/']").count():
            return
    page.goto("/accounts/login/")
    page.fill("main input[name=login]", email)
    page.fill("main input[name=password]", DEMO_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    for _attempt in range(3):
        if "/2fa/authenticate" not in page.url:
            break
        page.fill("main input[name=code]", totp_code())
        page.click("main button[type=submit]")
        page.wait_for_load_state()
        if "/2fa/authenticate" in page.url:
            time.sleep(30 - time.time() % 30 + 1)  # a code is used once: wait for the next one
    assert "/accounts/" not in page.url, f"sign-in failed for a demo account: {page.url}"
    _SIGNED_IN[email] = page.context.cookies()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
