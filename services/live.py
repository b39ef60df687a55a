"""Live updates over Channels (filled by the live-updates work)."""


def push_event(*, event_id: int) -> None:
    """Send the event to the groups allowed to see it. Idempotent for clients (by version)."""
