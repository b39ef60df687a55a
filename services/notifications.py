"""Resident notifications (filled by the routing/notifications work)."""


def notify_event(*, event_id: int) -> None:
    """Notify the resident about a public change, if the event is one they should hear of."""
