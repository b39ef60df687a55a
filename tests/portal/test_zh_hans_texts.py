"""zh-hans holes closed: API problem titles and the workbench's routing method speak the
caller's language, in words for people rather than codes."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.portal.test_pages import browser, filed, pothole  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

ENGLISH_WORDS = re.compile(r"[A-Za-z]{3,}(?: [A-Za-z]{2,})+")


def _zh_api(user=None) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="zh-hans")
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.mark.parametrize(("who", "method", "path", "body", "status"), [
    ("anonymous", "get", "/api/v1/me", None, 401),
    ("resident", "get", "/api/v1/requests/CD-2222222", None, 404),
    ("resident", "post", "/api/v1/requests", {"description": ""}, 400),
    ("resident", "delete", "/api/v1/me", None, 405),
])
def test_api_problems_have_a_chinese_title_under_zh_hans(who, method, path, body,
                                                                     status):
    user = UserFactory(preferred_language="zh-hans") if who == "resident" else None

    response = getattr(_zh_api(user), method)(path, body, format="json") if body is not None \
        else getattr(_zh_api(user), method)(path)

    problem = response.json()
    assert response.status_code == status
    assert not ENGLISH_WORDS.search(problem["title"]), problem
    assert re.search(r"[\u4e00-\u9fff]", problem["title"]), problem


def test_the_workbench_phrases_the_routing_method_for_people(clerk_roads, filed):  # noqa: F811
    page = browser(clerk_roads).get(
        reverse("portal:workbench", args=[filed.reference]),
        HTTP_ACCEPT_LANGUAGE="en",
    ).content.decode()

    assert "the department the category belongs to" in page
    assert ">category_default<" not in page


def test_the_workbench_routing_method_is_chinese_for_a_chinese_clerk(clerk_roads, filed):  # noqa: F811
    clerk_roads.preferred_language = "zh-hans"
    clerk_roads.save()

    page = browser(clerk_roads).get(reverse("portal:workbench", args=[filed.reference])).content
    assert "该类别所属的部门" in page.decode()
