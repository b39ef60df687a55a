"""DRF authentication with the allauth headless app session token (X-Session-Token)."""

from allauth.headless.contrib.rest_framework.authentication import XSessionTokenAuthentication
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from core.roles import session_bind
from core.session_activity import session_activity_track
from core.session_limits import app_session_recall, app_token_shaped


class SessionTokenAuthentication(XSessionTokenAuthentication):
    """X-Session-Token; a token that is present but invalid or expired is a 401, not anonymous.

    Declaring `authenticate_header` makes DRF answer 401 (with WWW-Authenticate) instead of 403
    when a request to a protected endpoint carries no credentials.
    """

    def authenticate(self, request: Request):  # type: ignore[no-untyped-def, override]
        token = self.get_session_token(request)
        if not token:
            return None
        if not app_token_shaped(token):
            raise AuthenticationFailed("The session token is invalid or has expired.")
        # The session middleware already found this token's session and user (and bound
        # them) for this request: no second lookup.
        recalled = app_session_recall(request._request, token)
        if recalled is not None:
            user, session = recalled
        else:
            result = super().authenticate(request)
            if result is None:
                raise AuthenticationFailed("The session token is invalid or has expired.")
            user, session = result
            # Staff powers need this token's own sign-in to have passed the second factor.
            session_bind(user, session)
        session_activity_track(request._request, user=user, session=session)
        return user, session

    def authenticate_header(self, request: Request) -> str:
        return 'X-Session-Token realm="api"'


class SessionTokenScheme(OpenApiAuthenticationExtension):
    """Describes X-Session-Token in the OpenAPI schema."""

    target_class = SessionTokenAuthentication
    name = "sessionToken"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Session-Token",
            "description": "Session token from the allauth headless app API (/_allauth/app/v1/).",
        }
