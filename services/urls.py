"""REST API routes for requests, complaints and queues (mounted under /api/v1/)."""

urlpatterns: list = []
