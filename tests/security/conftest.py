"""The world the authorization matrices run in: one routed request in Roads, with a photo."""

from __future__ import annotations

import pytest

from services.attachments import photos_prepare
from services.models import Category, Status
from services.routing import request_route
from services.services import request_attach, request_submit
from tests.factories import CategoryFactory, MembershipFactory, UserFactory
from tests.security.matrix import World, png


@pytest.fixture
def world(django_capture_on_commit_callbacks, roads, parks, triage) -> World:
    owner = UserFactory()
    users = {
        "anonymous": None,
        "owner": owner,
        "other_resident": UserFactory(),
        "clerk_same": MembershipFactory(department=roads).user,
        "clerk_other": MembershipFactory(department=parks).user,
        "supervisor": MembershipFactory(department=roads, role="supervisor").user,
        "data_officer": UserFactory(is_data_officer=True),
        "admin": UserFactory(is_superuser=True, is_staff=True),
    }
    category = CategoryFactory(code="pothole-m", department=roads, kind=Category.Kind.REQUEST)
    with django_capture_on_commit_callbacks(execute=True):
        request = request_submit(
            reporter=owner, category=category, description="Deep pothole", lat=39.05, lon=116.05
        )
    # Route now, whether Celery runs eagerly (SQLite) or through a broker (CI).
    request_route(request_id=request.pk)
    request.refresh_from_db()
    assert request.status == Status.ROUTED
    assert request.department_id == roads.pk
    [attachment] = request_attach(
        request=request, actor=owner, photos=photos_prepare(uploads=[png()])
    )
    return World(users=users, reference=request.reference, attachment_token=attachment.token)


