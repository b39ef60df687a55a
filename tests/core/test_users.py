"""core.users.signed_in: where a view already required a sign-in, services get an account."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied

from core.users import signed_in
from tests.factories import UserFactory


def test_a_visitor_is_refused_rather_than_handed_to_a_service() -> None:
    with pytest.raises(PermissionDenied):
        signed_in(AnonymousUser())


def test_a_signed_in_account_is_passed_on_as_it_is(db) -> None:
    user = UserFactory()
    assert signed_in(user) is user
