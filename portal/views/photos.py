"""Photos of a request, served only to the people who may see them (never a public URL)."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET

from core.errors import NotFound
from portal.views.common import role_required
from services.selectors import access_attachment


@role_required(lambda roles: roles.authenticated)
@require_GET
def photo(request: HttpRequest, reference: str, token: str) -> FileResponse:
    try:
        attachment = access_attachment(
            user=request.user, reference=reference[:16], token=token[:300]
        )
    except NotFound as error:
        raise Http404(error.detail) from error
    response = FileResponse(attachment.file.open("rb"), content_type=attachment.content_type)
    # Staff links expire within minutes; the browser must not keep the photo longer.
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
