"""Open311 GeoReport v2 adapter: the standard's endpoints over CivicDesk's services."""
