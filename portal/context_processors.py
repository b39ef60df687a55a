"""Template context: the viewer's roles, so templates show only the links they may follow."""

from django.http import HttpRequest

from core.roles import roles_for


def roles(request: HttpRequest) -> dict[str, object]:
    return {"roles": roles_for(getattr(request, "user", None))}
