"""core.roles.roles_for: the one answer to "what may this user do"."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from core.roles import roles_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_has_no_role() -> None:
    assert roles_for(AnonymousUser()).names() == []


def test_user_with_a_verified_email_is_a_resident(resident) -> None:
    assert roles_for(resident).names() == ["resident"]


def test_user_without_a_verified_email_is_not_yet_a_resident() -> None:
    assert not roles_for(UserFactory(verified=False)).resident


def test_clerk_is_staff_of_their_department_only(clerk_roads, roads, parks) -> None:
    roles = roles_for(clerk_roads)
    assert roles.is_staff_of(roads.pk)
    assert not roles.is_staff_of(parks.pk)
    assert not roles.is_supervisor_of(roads.pk)


def test_supervisor_supervises_their_department(supervisor_roads, roads) -> None:
    assert roles_for(supervisor_roads).is_supervisor_of(roads.pk)


def test_deactivated_user_has_no_role(clerk_roads) -> None:
    clerk_roads.is_active = False
    assert roles_for(clerk_roads).names() == []


def test_membership_of_an_inactive_department_grants_nothing(clerk_roads, roads) -> None:
    roads.is_active = False
    roads.save()
    assert not roles_for(clerk_roads).is_staff_of(roads.pk)


def test_data_officer_and_administrator_roles(data_officer, admin_user) -> None:
    assert "data_officer" in roles_for(data_officer).names()
    assert "administrator" in roles_for(admin_user).names()


def test_clerk_without_totp_enrolled_gets_no_staff_role_until_they_enrol(roads) -> None:
    from tests.factories import MembershipFactory

    clerk = MembershipFactory(department=roads, totp=False).user
    roles = roles_for(clerk)
    assert not roles.is_staff_of(roads.pk)
    assert roles.mfa_required


def test_data_officer_without_totp_cannot_act_as_data_officer() -> None:
    from allauth.mfa.models import Authenticator

    officer = UserFactory(is_data_officer=True)
    Authenticator.objects.filter(user=officer).delete()
    assert not roles_for(officer).data_officer
