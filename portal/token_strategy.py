"""allauth's app session tokens (X-Session-Token), each looked up in one cache round trip.

allauth's default strategy asks whether the session exists (a cache EXISTS) and then loads it
(a cache GET); every API call pays both. allauth's own one-step lookup loads it at once (a
missing or expired session clears the key): the same answer, one round trip.
"""

from __future__ import annotations

from allauth.headless.internal import sessionkit
from allauth.headless.tokens.strategies.sessions import SessionTokenStrategy
from django.contrib.sessions.backends.base import SessionBase


class OneLookupSessionTokenStrategy(SessionTokenStrategy):
    def lookup_session(self, session_token: str) -> SessionBase | None:
        return sessionkit.lookup_session(session_token)
