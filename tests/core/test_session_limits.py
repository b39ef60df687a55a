"""The one app-token lookup (`core.session_limits.app_token_session`) that the HTTP middleware
and the sockets share: the session and the user, bound to that session's second factor."""

from __future__ import annotations

import pytest

from core.roles import roles_for
from core.session_limits import app_token_session
from tests.sessions import app_login_password_only, app_login_with_totp

pytestmark = pytest.mark.django_db


def test_an_app_token_gives_its_session_and_user(resident):
    _client, token = app_login_with_totp(resident)
    found = app_token_session(token)
    assert found is not None
    assert (found.user, found.session_key) == (resident, found.session.session_key)


def test_a_clerks_token_after_the_second_factor_carries_the_clerks_powers(clerk_roads, roads):
    _client, token = app_login_with_totp(clerk_roads)
    found = app_token_session(token)
    assert found is not None
    assert roles_for(found.user).is_staff_of(roads.pk)


def test_a_clerks_token_after_the_password_alone_signs_no_one_in(clerk_roads):
    assert app_token_session(app_login_password_only(clerk_roads)) is None


def test_a_well_formed_token_of_no_session_gives_nothing(db):
    assert app_token_session("k" * 32) is None


@pytest.mark.parametrize("token", ["", "x" * 129, "tök-123456", "abc\ndef12",
                                   "bad token with spaces", None, 12345678])
def test_what_cannot_be_a_token_is_refused_without_a_lookup(token, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert app_token_session(token) is None
