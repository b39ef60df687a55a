"""API plumbing shared by every API package: problem details, schema helpers, streaming
exports, session-token authentication, strict serializers and keyset cursors."""
