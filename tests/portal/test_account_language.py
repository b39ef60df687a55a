"""The account's language applies from sign-in on, whatever the browser asks for, and the
language switcher stores a signed-in person's choice on their account."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def sign_in(user, *, accept_language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=accept_language)
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def test_a_chinese_account_gets_the_chinese_portal_after_signing_in_from_an_english_browser():
    user = UserFactory(preferred_language="zh-hans")

    page = sign_in(user, accept_language="en").get("/").content.decode()

    assert '<html lang="zh-hans">' in page
    assert "我的诉求" in page


def test_an_english_account_gets_english_from_a_chinese_browser():
    user = UserFactory(preferred_language="en")

    page = sign_in(user, accept_language="zh-hans").get("/").content.decode()

    assert '<html lang="en">' in page


def test_the_switcher_stores_the_choice_on_the_account():
    user = UserFactory(preferred_language="en")
    client = sign_in(user)

    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})

    user.refresh_from_db()
    assert response.status_code == 302
    assert user.preferred_language == "zh-hans"
    assert '<html lang="zh-hans">' in client.get("/").content.decode()


def test_the_stored_choice_follows_the_person_to_a_new_browser():
    user = UserFactory(preferred_language="en")
    sign_in(user).post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})

    page = sign_in(user, accept_language="en").get("/").content.decode()

    assert '<html lang="zh-hans">' in page


def test_an_unknown_language_changes_nothing():
    user = UserFactory(preferred_language="en")
    client = sign_in(user)

    client.post("/i18n/setlang/", {"language": "xx", "next": "/"})

    user.refresh_from_db()
    assert user.preferred_language == "en"


def test_anonymous_visitors_still_switch_by_cookie():
    client = Client(HTTP_ACCEPT_LANGUAGE="en")

    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})

    assert '<html lang="zh-hans">' in client.get("/").content.decode()
