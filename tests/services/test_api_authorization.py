"""Authorization matrix: every requests endpoint × every kind of caller → expected status.

Other people's requests are 404 (never revealed); visible but not allowed is 403.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from services.models import Status
from tests.services.conftest import image_bytes

ROLES = [
    "anonymous",
    "owner",
    "other_resident",
    "clerk_same_dept",
    "clerk_other_dept",
    "supervisor",
    "data_officer",
]


def _photo():
    return {"photos": [SimpleUploadedFile("p.jpg", image_bytes(), content_type="image/jpeg")]}


# name: (method, path template, body or factory, request status, expected per role)
ENDPOINTS = {
    "categories": ("get", "/api/v1/categories", None, None, [200] * 7),
    "districts": ("get", "/api/v1/districts", None, None, [200] * 7),
    "my_requests": ("get", "/api/v1/requests", None, None, [401] + [200] * 6),
    "file_request": (
        "post",
        "/api/v1/requests",
        {"category": "streetlight", "description": "Dark.", "lat": 39.05, "lon": 116.05},
        None,
        [401] + [201] * 6,
    ),
    "nearby": (
        "get",
        "/api/v1/requests/nearby?category=streetlight&lat=39.05&lon=116.05",
        None,
        None,
        [401] + [200] * 6,
    ),
    "detail": ("get", "/api/v1/requests/{ref}", None, Status.ROUTED,
               [401, 200, 404, 200, 404, 200, 404]),
    "comment": ("post", "/api/v1/requests/{ref}/comments", {"text": "Still dark."},
                Status.ROUTED, [401, 201, 404, 403, 404, 403, 404]),
    "attach": ("post", "/api/v1/requests/{ref}/attachments", _photo, Status.ROUTED,
               [401, 201, 404, 201, 404, 201, 404]),
    "withdraw": ("post", "/api/v1/requests/{ref}/withdraw", None, Status.ROUTED,
                 [401, 200, 404, 403, 404, 403, 404]),
    "confirm": ("post", "/api/v1/requests/{ref}/confirm", None, Status.RESOLVED,
                [401, 200, 404, 403, 404, 403, 404]),
    "reopen": ("post", "/api/v1/requests/{ref}/reopen", {"reason": "Still broken."},
               Status.RESOLVED, [401, 200, 404, 403, 404, 403, 404]),
    "not_fixed": ("post", "/api/v1/requests/{ref}/not-fixed", {}, Status.RESOLVED,
                  [401, 200, 404, 403, 404, 403, 404]),
    "rating": ("post", "/api/v1/requests/{ref}/rating", {"rating": 4}, Status.CLOSED,
               [401, 200, 404, 403, 404, 403, 404]),
    "follow": ("post", "/api/v1/requests/{ref}/follow", None, Status.ROUTED,
               [401, 200, 201, 201, 201, 201, 201]),
    "unfollow": ("delete", "/api/v1/requests/{ref}/follow", None, Status.ROUTED,
                 [401, 404, 404, 404, 404, 404, 404]),
    "queue": ("get", "/api/v1/queue", None, Status.ROUTED,
              [401, 403, 403, 200, 200, 200, 403]),
    "queue_counts": ("get", "/api/v1/queue/counts", None, Status.ROUTED,
                     [401, 403, 403, 200, 200, 200, 403]),
    "staff_detail": ("get", "/api/v1/staff/requests/{ref}", None, Status.ROUTED,
                     [401, 404, 404, 200, 404, 200, 404]),
    "assign": ("post", "/api/v1/staff/requests/{ref}/assign", {}, Status.ROUTED,
               [401, 404, 404, 200, 404, 200, 404]),
    "unassign": ("post", "/api/v1/staff/requests/{ref}/unassign", {}, Status.ROUTED,
                 [401, 404, 404, 200, 404, 200, 404]),
    "priority": ("post", "/api/v1/staff/requests/{ref}/priority",
                 {"priority": "high", "reason": "School route."}, Status.ROUTED,
                 [401, 404, 404, 200, 404, 200, 404]),
    "transition": ("post", "/api/v1/staff/requests/{ref}/transition",
                   {"to_status": "in_progress"}, Status.ROUTED,
                   [401, 404, 404, 200, 404, 200, 404]),
    "reply": ("post", "/api/v1/staff/requests/{ref}/reply", {"text": "On our list."},
              Status.ROUTED, [401, 404, 404, 201, 404, 201, 404]),
    "note": ("post", "/api/v1/staff/requests/{ref}/notes", {"text": "Needs a lift."},
             Status.ROUTED, [401, 404, 404, 201, 404, 201, 404]),
    "return": ("post", "/api/v1/staff/requests/{ref}/return", {"reason": "Not ours."},
               Status.ROUTED, [401, 404, 404, 200, 404, 200, 404]),
    "duplicate": ("post", "/api/v1/staff/requests/{ref}/duplicate", {"original": "{orig}"},
                  Status.ROUTED, [401, 404, 404, 200, 404, 200, 404]),
}

CASES = [
    pytest.param(name, role, expected[i], id=f"{name}-{role}")
    for name, (_m, _p, _b, _s, expected) in ENDPOINTS.items()
    for i, role in enumerate(ROLES)
]


@pytest.fixture
def callers(resident, other_resident, clerk_roads, clerk_parks, supervisor_roads, data_officer):
    return {
        "anonymous": None,
        "owner": resident,
        "other_resident": other_resident,
        "clerk_same_dept": clerk_roads,
        "clerk_other_dept": clerk_parks,
        "supervisor": supervisor_roads,
        "data_officer": data_officer,
    }


@pytest.mark.parametrize(("name", "role", "expected"), CASES)
def test_authorization_matrix(
    client_for, callers, make_request, streetlight, name, role, expected
):
    method, path, body, status, _ = ENDPOINTS[name]
    target = make_request(status=status) if status else None
    original = make_request(status=Status.IN_PROGRESS) if name == "duplicate" else None
    url = path.format(
        ref=target.reference if target else "", orig=original.reference if original else ""
    )
    if callable(body):
        data, fmt = body(), "multipart"
    else:
        data, fmt = body, "json"
    if isinstance(data, dict) and original is not None:
        data = {k: v.format(orig=original.reference) for k, v in data.items()}
    client = client_for(callers[role])
    response = getattr(client, method)(url, data, format=fmt) if data is not None else getattr(
        client, method
    )(url)
    assert response.status_code == expected, (response.status_code, response.content[:300])
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == expected
