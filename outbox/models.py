from __future__ import annotations

from django.db import models


class OutboxMessage(models.Model):
    """Work to publish after commit; the relay republishes rows the fast path missed."""

    topic = models.CharField(max_length=60)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        # The table was created by the services app (services/migrations/0001_initial.py) and
        # keeps its name: operations queries and the chaos bench read it.
        db_table = "services_outboxmessage"
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["id"],
                name="outbox_unpublished",
                condition=models.Q(published_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"outbox #{self.pk} {self.topic}"
