"""The web portal's pages × roles. Shares the world and the check with the API matrix."""

from __future__ import annotations

import pytest

from tests.security.matrix import (
    OK,
    ROLES,
    Row,
    World,
    check,
    client_for_role,
    everyone,
    prepare,
    ref,
    resolved,
)

pytestmark = pytest.mark.django_db

PUBLIC = everyone(200)
SIGNED_IN = {**everyone(200), "anonymous": 302}
# The resident's request page: the owner, and the department's staff (who see it anyway);
# nobody else learns it exists.
OWNER_PAGE = {
    "anonymous": 302,
    "owner": 200,
    "other_resident": 404,
    "clerk_same": 200,
    "clerk_other": 404,
    "supervisor": 200,
    "data_officer": 404,
    "admin": 404,
}
# Residents' moves: the department's staff see the page but the move is refused (400 with
# the reason on the page).
OWNER_POST = {**OWNER_PAGE, "owner": OK, "clerk_same": 400, "supervisor": 400}
# Staff opening the resident's page are sent to their workbench for the same request.
OWNER_VIEW = {**OWNER_PAGE, "clerk_same": 302, "supervisor": 302}
# Withdraw and confirm by staff: refused with a message, back to the workbench.
OWNER_MOVE = {**OWNER_POST, "clerk_same": 302, "supervisor": 302}
# The photo's own token works for its reporter only: staff need a link from their own logged
# reveal (tests/rights/test_photo_links.py).
PHOTO = {**OWNER_PAGE, "clerk_same": 404, "supervisor": 404}
STAFF_PAGE = {
    **everyone(403),
    "anonymous": 302,
    "clerk_same": 200,
    "clerk_other": 200,
    "supervisor": 200,
}
# Staff pages: non-staff are refused (403); staff of another department do not see the
# request at all (404).
DEPT_PAGE = {
    **everyone(403),
    "anonymous": 302,
    "clerk_same": 200,
    "clerk_other": 404,
    "supervisor": 200,
}
DEPT_POST = {**DEPT_PAGE, "clerk_same": OK, "supervisor": OK}
SUPERVISOR_PAGE = {**STAFF_PAGE, "clerk_same": 403, "clerk_other": 403}
OFFICER_PAGE = {**everyone(403), "anonymous": 302, "data_officer": 200}
OFFICER_POST = {**OFFICER_PAGE, "data_officer": OK}
# Data-subject requests made in person: counter staff (any department) and data officers.
COUNTER_PAGE = {**STAFF_PAGE, "data_officer": 200}
COUNTER_POST = {**COUNTER_PAGE, "clerk_same": OK, "clerk_other": OK, "supervisor": OK,
                "data_officer": OK}



# Queue-wide staff actions: non-staff are refused; each item is then checked on its own (a
# clerk of another department gets "skipped", never a change: tests/portal/test_clerk_speed.py).
STAFF_POST = {**STAFF_PAGE, "clerk_same": OK, "clerk_other": OK, "supervisor": OK}
# A clerk's own saved filter: others do not learn it exists.
OWN_FILTER_POST = {**STAFF_PAGE, "clerk_same": OK, "clerk_other": 404, "supervisor": 404}


def saved_filter(world: World) -> None:
    from services.models import SavedQueueFilter

    saved = SavedQueueFilter.objects.create(user=world.users["clerk_same"], name="Mine")
    world.extra["saved_filter"] = saved.pk


def published(world: World) -> None:
    """The reporter publishes the request (description and photos) on the public list."""
    from services.models import ServiceRequest

    ServiceRequest.objects.filter(reference=world.reference).update(is_public=True)


def followed(world: World) -> None:
    from services.models import Follow, ServiceRequest

    request = ServiceRequest.objects.get(reference=world.reference)
    Follow.objects.create(user=world.users["other_resident"], request=request)


PAGE_MATRIX: dict[str, list[Row]] = {
    "portal:home": [Row("get", ref("/"), PUBLIC)],
    "portal:statistics": [Row("get", ref("/statistics/"), PUBLIC)],
    "portal:statistics-json": [Row("get", ref("/statistics/open-data.json"), PUBLIC)],
    "portal:statistics-csv": [Row("get", ref("/statistics/open-data.csv"), PUBLIC)],
    "portal:register": [Row("get", ref("/data-use/"), PUBLIC)],
    "portal:log": [Row("get", ref("/log/"), PUBLIC)],
    "portal:verifier-download": [Row("get", ref("/log/civicdesk_verify.py"), PUBLIC)],
    "portal:receipt": [
        Row("get", lambda w: f"/my/data/receipts/{w.receipt_event_id}",
            {**everyone(404), "anonymous": 302, "owner": 200}),
    ],
    "portal:request-new": [Row("get", ref("/report/"), SIGNED_IN)],
    "portal:guided-start": [Row("get", ref("/report/steps/"), everyone(302))],
    "portal:guided": [Row("get", ref("/report/steps/what/"), SIGNED_IN)],
    "portal:guided-thanks": [
        Row("get", ref("/report/steps/thanks/{ref}/"),
            {**everyone(404), "anonymous": 302, "owner": 200}),
    ],
    # Public reports: only what the reporter published, to everyone; nothing else exists.
    "portal:reports": [Row("get", ref("/reports/"), PUBLIC)],
    "portal:report": [
        Row("get", ref("/reports/{ref}/"), everyone(404)),
        Row("get", ref("/reports/{ref}/"), PUBLIC, setup=published),
    ],
    "portal:report-photo": [
        Row("get", ref("/reports/{ref}/photos/{token}"), everyone(404)),
        Row("get", ref("/reports/{ref}/photos/{token}"), PUBLIC, setup=published),
    ],
    "portal:request-unfollow": [
        Row("post", ref("/my/requests/{ref}/unfollow"), {**everyone(404), "anonymous": 302}),
        Row("post", ref("/my/requests/{ref}/unfollow"),
            {**everyone(404), "anonymous": 302, "other_resident": 302}, setup=followed),
    ],
    "portal:my-requests": [Row("get", ref("/my/requests/"), SIGNED_IN)],
    "portal:my-request-versions": [Row("get", ref("/my/requests/versions.json"), SIGNED_IN)],
    "portal:request-detail": [Row("get", ref("/my/requests/{ref}/"), OWNER_VIEW)],
    "portal:request-comment": [
        Row("post", ref("/my/requests/{ref}/comment"), OWNER_POST, body={"text": "Hi"}),
    ],
    "portal:request-photos": [Row("post", ref("/my/requests/{ref}/photos"), OWNER_POST)],
    "portal:request-withdraw": [Row("post", ref("/my/requests/{ref}/withdraw"), OWNER_MOVE)],
    "portal:request-confirm": [
        Row("post", ref("/my/requests/{ref}/confirm"), OWNER_MOVE, setup=resolved),
    ],
    "portal:request-reopen": [
        Row("post", ref("/my/requests/{ref}/reopen"), OWNER_POST, body={"reason": "No"},
            setup=resolved),
    ],
    "portal:request-rate": [
        Row("post", ref("/my/requests/{ref}/rate"), OWNER_POST, body={"rating": 4}),
    ],
    "portal:request-follow": [
        Row("post", ref("/my/requests/{ref}/follow"), {**everyone(OK), "anonymous": 302}),
    ],
    # The short link in e-mails redirects everyone; access is checked where it leads.
    "portal:request-link": [Row("get", ref("/requests/{ref}/"), everyone(302))],
    "portal:photo": [Row("get", ref("/requests/{ref}/photos/{token}"), PHOTO)],
    "portal:my-data": [Row("get", ref("/my/data/"), SIGNED_IN)],
    "portal:profile": [
        Row("get", ref("/my/profile/"), SIGNED_IN),
        Row("post", ref("/my/profile/"), {**everyone(OK), "anonymous": 302},
            body={"display_name": "New name"}),
    ],
    "portal:consent-change": [
        Row("post", ref("/my/data/consents/satisfaction-survey"),
            {**everyone(OK), "anonymous": 302}, body={"decision": "give"}),
    ],
    "portal:export-request": [
        Row("post", ref("/my/data/export"), {**everyone(OK), "anonymous": 302}),
    ],
    # Staff accounts cannot erase themselves here (a data officer handles it): redirected
    # back to "my data" with the reason.
    "portal:delete-account": [
        Row("get", ref("/my/data/delete/"), {**everyone(302), "owner": 200,
                                             "other_resident": 200}),
    ],
    "portal:queue": [Row("get", ref("/staff/queue/"), STAFF_PAGE)],
    "portal:queue-versions": [Row("get", ref("/staff/queue/versions.json"), STAFF_PAGE)],
    "portal:queue-bulk": [
        Row("post", ref("/staff/queue/bulk"), STAFF_POST,
            body={"action": "start", "items": "CD-XXXXXXX@1"}),
    ],
    "portal:queue-filter-save": [
        Row("post", ref("/staff/queue/filters"), STAFF_POST, body={"name": "Urgent"}),
    ],
    "portal:queue-filter-delete": [
        Row("post", lambda w: f"/staff/queue/filters/{w.extra['saved_filter']}/delete",
            OWN_FILTER_POST, setup=saved_filter),
    ],
    "portal:workbench": [Row("get", ref("/staff/requests/{ref}/"), DEPT_PAGE)],
    "portal:wb-transition": [
        Row("post", ref("/staff/requests/{ref}/transition"), DEPT_POST,
            body={"to_status": "in_progress"}),
    ],
    "portal:wb-step": [
        Row("post", ref("/staff/requests/{ref}/step"), DEPT_POST,
            body={"step-step": "start"}),
    ],
    "portal:wb-reply": [
        Row("post", ref("/staff/requests/{ref}/reply"), DEPT_POST, body={"text": "On it"}),
    ],
    "portal:wb-note": [
        Row("post", ref("/staff/requests/{ref}/note"), DEPT_POST, body={"text": "Crew B"}),
    ],
    "portal:wb-claim": [Row("post", ref("/staff/requests/{ref}/claim"), DEPT_POST)],
    "portal:wb-assign": [Row("post", ref("/staff/requests/{ref}/assign"), DEPT_POST)],
    "portal:wb-release": [Row("post", ref("/staff/requests/{ref}/release"), DEPT_POST)],
    "portal:wb-priority": [
        Row("post", ref("/staff/requests/{ref}/priority"), DEPT_POST,
            body={"prio-priority": "3", "prio-reason": "School route."}),
    ],
    "portal:wb-reveal": [
        Row("post", ref("/staff/requests/{ref}/reveal"), DEPT_POST,
            body={"fields": "phone", "purpose": "service-delivery"}),
    ],
    "portal:wb-duplicate": [
        Row("post", ref("/staff/requests/{ref}/duplicate"), DEPT_POST,
            body={"dup-original": "CD-NOPE000"}),
    ],
    "portal:counter-dsr": [
        Row("get", ref("/staff/data-requests/new"), COUNTER_PAGE),
        Row("post", ref("/staff/data-requests/new"), COUNTER_POST, body={"kind": "access"}),
    ],
    "portal:counter": [
        Row("get", ref("/staff/counter/"), STAFF_PAGE),
        # An empty form: staff get the form back with its errors, everyone else no further.
        Row("post", ref("/staff/counter/"), {**STAFF_PAGE, "clerk_same": 400,
                                             "clerk_other": 400, "supervisor": 400}),
    ],
    # A receipt is shown only to the clerk who filed it, in the same session.
    "portal:counter-receipt": [
        Row("get", ref("/staff/counter/{ref}/receipt"), {**STAFF_PAGE, "clerk_same": 404,
                                                        "clerk_other": 404, "supervisor": 404}),
    ],
    "portal:team": [Row("get", ref("/staff/team/"), SUPERVISOR_PAGE)],
    "portal:dpo": [Row("get", ref("/data-protection/"), OFFICER_PAGE)],
    "portal:dpo-consent-log": [Row("get", ref("/data-protection/consent-log/"), OFFICER_PAGE)],
    "portal:dpo-consent-rates": [
        Row("get", ref("/data-protection/consent-rates/"), OFFICER_PAGE),
    ],
    "portal:dpo-records": [Row("get", ref("/data-protection/records/"), OFFICER_PAGE)],
    "portal:dpo-access-log": [Row("get", ref("/data-protection/access-log/"), OFFICER_PAGE)],
    "portal:dpo-dsr": [Row("get", ref("/data-protection/requests/"), OFFICER_PAGE)],
    "portal:dpo-dsr-update": [
        Row("post", lambda w: f"/data-protection/requests/{w.dsr_reference}", OFFICER_POST,
            body={"status": "in_progress"}),
    ],
    "portal:dpo-verify": [Row("post", ref("/data-protection/verify"), OFFICER_POST)],
}


def _cases() -> list:
    return [
        pytest.param(name, row, role, id=f"{name}-{row.method}-{role}")
        for name, rows in PAGE_MATRIX.items()
        for row in rows
        for role in ROLES
    ]


@pytest.mark.parametrize(("name", "row", "role"), _cases())
def test_role_gets_the_expected_page_outcome(
    world: World, name: str, row: Row, role: str
) -> None:
    prepare(world, name, row)
    client = client_for_role(world, role)
    path = row.path(world)
    response = client.get(path) if row.method == "get" else client.post(path, row.body or {})
    expected = row.expect[role]
    check(response, expected, role)
    if expected == 302 and role == "anonymous" and name != "portal:request-link":
        assert "/accounts/login/" in response["Location"]
