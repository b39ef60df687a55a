"""The requests REST API: catalog (public), resident and staff endpoints."""
