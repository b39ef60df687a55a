"""Celery tasks: thin wrappers that take ids and call a service."""

from celery import shared_task


@shared_task(name="services.tasks.route_request")
def route_request(request_id: int) -> None:
    """Route one request (filled by the routing work)."""


@shared_task(name="services.tasks.relay_outbox")
def relay_outbox() -> int:
    from services.outbox import outbox_relay

    return outbox_relay()
