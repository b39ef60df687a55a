"""REST API routes for the register, consent and the transparency log (under /api/v1/)."""

urlpatterns: list = []
