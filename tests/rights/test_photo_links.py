"""Photo links are per viewer and short-lived; every staff look is that viewer's access event.

Before, the URL a clerk's reveal returned was the photo's permanent token: a colleague could
open it without a logged reveal of their own, and the resident's "who looked at my data"
never showed them.
"""

from __future__ import annotations

import pytest
from django.test import Client

from consent.rights.models import AccessEvent
from tests.factories import MembershipFactory
from tests.sessions import mfa_login

pytestmark = pytest.mark.usefixtures("register")


def reveal_photo_url(client, reference) -> str:
    response = client.post(
        f"/api/v1/staff/requests/{reference}/reveal",
        {"fields": ["photos"], "purpose": "service-delivery"}, content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()["values"]["photos"][0]["url"]


@pytest.fixture
def colleague(lighting):
    return MembershipFactory(department=lighting).user


def test_a_revealed_photo_link_works_for_the_clerk_who_revealed_it(
    clerk_lighting, li_request
) -> None:
    clerk = mfa_login(Client(), clerk_lighting)
    url = reveal_photo_url(clerk, li_request.reference)
    response = clerk.get(url)
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"


def test_a_revealed_photo_link_does_not_work_for_a_colleague(
    clerk_lighting, colleague, li_request
) -> None:
    url = reveal_photo_url(mfa_login(Client(), clerk_lighting), li_request.reference)
    assert mfa_login(Client(), colleague).get(url).status_code == 404


def test_the_photos_own_token_does_not_work_for_staff(clerk_lighting, li_request) -> None:
    token = li_request.attachments.get().token
    clerk = mfa_login(Client(), clerk_lighting)
    assert clerk.get(
        f"/api/v1/requests/{li_request.reference}/attachments/{token}"
    ).status_code == 404
    assert clerk.get(f"/requests/{li_request.reference}/photos/{token}").status_code == 404


def test_a_photo_link_stops_working_after_its_lifetime(
    settings, clerk_lighting, li_request
) -> None:
    clerk = mfa_login(Client(), clerk_lighting)
    url = reveal_photo_url(clerk, li_request.reference)
    # A lifetime already over for any link: as if PHOTO_LINK_SECONDS had passed.
    settings.CIVICDESK = {**settings.CIVICDESK, "PHOTO_LINK_SECONDS": -1}
    assert clerk.get(url).status_code == 404


def test_each_viewer_of_a_photo_has_their_own_access_event_the_resident_sees(
    clerk_lighting, colleague, li_request, resident
) -> None:
    first = reveal_photo_url(mfa_login(Client(), clerk_lighting), li_request.reference)
    mine = mfa_login(Client(), colleague)
    assert mine.get(first).status_code == 404  # the colleague's own look needs a reveal
    assert mine.get(reveal_photo_url(mine, li_request.reference)).status_code == 200

    viewers = set(AccessEvent.objects.filter(subject=resident).values_list("actor_id", flat=True))
    assert viewers == {clerk_lighting.pk, colleague.pk}
    log = mfa_login(Client(), resident).get("/api/v1/me/access-log").json()
    assert len(log) == 2
    assert all("photo" in row["text"] for row in log)


def test_the_workbench_shows_revealed_photos_through_links_for_this_clerk_only(
    clerk_lighting, colleague, li_request
) -> None:
    clerk = mfa_login(Client(), clerk_lighting)
    url = reveal_photo_url(clerk, li_request.reference)
    grant = url.rsplit("/", 1)[1]
    page_url = f"/requests/{li_request.reference}/photos/{grant}"
    assert clerk.get(page_url).status_code == 200
    assert mfa_login(Client(), colleague).get(page_url).status_code == 404
