"""Following a neighbour's request: it is listed in My requests with an unfollow button, the
follower is told so, and sees the city's words but not the reporter's."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from services import services as request_services
from services.models import Follow
from services.routing import request_route
from tests.factories import CategoryFactory
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    return mfa_login(Client(), user)


@pytest.fixture
def filed(resident, roads, triage, django_capture_on_commit_callbacks):
    category = CategoryFactory(code="pothole", name_en="Pothole", department=roads)
    with django_capture_on_commit_callbacks(execute=False):
        sr = request_services.request_submit(
            reporter=resident, category=category,
            description="Hole outside my flat, call me on 138 0000", address="Main Street 1",
        )
    request_route(request_id=sr.pk)
    sr.refresh_from_db()
    return sr


def follow(client: Client, sr):
    return client.post(reverse("portal:request-follow", args=[sr.reference]), follow=True)


def test_following_confirms_it_and_names_my_requests(other_resident, filed):
    page = follow(browser(other_resident), filed).content.decode()
    assert f"You now follow {filed.reference}" in page
    assert "You follow this request" in page
    assert reverse("portal:request-unfollow", args=[filed.reference]) in page


def test_a_followed_request_is_listed_in_my_requests_with_an_unfollow_button(
    other_resident, filed
):
    client = browser(other_resident)
    follow(client, filed)
    page = client.get(reverse("portal:my-requests")).content.decode()
    following = page.split('id="following"', 1)[1]
    assert filed.reference in following
    assert reverse("portal:request-unfollow", args=[filed.reference]) in following


def test_my_requests_does_not_show_the_reporters_unpublished_text_to_a_follower(
    other_resident, filed
):
    client = browser(other_resident)
    follow(client, filed)
    for url in (reverse("portal:my-requests"),
                reverse("portal:request-detail", args=[filed.reference])):
        assert "138 0000" not in client.get(url).content.decode()


def test_a_follower_sees_a_published_description(other_resident, filed):
    filed.is_public = True
    filed.save(update_fields=["is_public"])
    client = browser(other_resident)
    follow(client, filed)
    page = client.get(reverse("portal:request-detail", args=[filed.reference])).content.decode()
    assert "Hole outside my flat" in page


def test_a_follower_sees_the_city_reply_but_not_the_reporters_comment(
    resident, other_resident, clerk_roads, filed
):
    request_services.request_comment(request=filed, actor=resident, text="My number is 139 1111")
    request_services.request_reply(request=filed, actor=clerk_roads, text="Crew booked Monday.")
    client = browser(other_resident)
    follow(client, filed)
    page = client.get(reverse("portal:request-detail", args=[filed.reference])).content.decode()
    assert "Crew booked Monday." in page
    assert "139 1111" not in page


def test_unfollowing_removes_it_from_my_requests_and_says_so(other_resident, filed):
    client = browser(other_resident)
    follow(client, filed)
    response = client.post(
        reverse("portal:request-unfollow", args=[filed.reference]), follow=True
    )
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("portal:my-requests")
    assert f"You no longer follow {filed.reference}" in page
    assert reverse("portal:request-unfollow", args=[filed.reference]) not in page
    assert not Follow.objects.filter(user=other_resident).exists()


def test_unfollowing_a_request_i_do_not_follow_is_a_404(other_resident, filed):
    response = browser(other_resident).post(
        reverse("portal:request-unfollow", args=[filed.reference])
    )
    assert response.status_code == 404


def test_unfollow_goes_back_only_to_a_local_page(other_resident, filed):
    client = browser(other_resident)
    follow(client, filed)
    response = client.post(
        reverse("portal:request-unfollow", args=[filed.reference]),
        {"next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("portal:my-requests")


def test_the_live_poll_of_my_requests_includes_followed_requests(other_resident, filed):
    client = browser(other_resident)
    follow(client, filed)
    data = client.get(reverse("portal:my-request-versions")).json()
    assert data["requests"][filed.reference] == [filed.status, filed.version]
