"""Demo data for the data-use register (filled by the consent work)."""


def seed_register() -> None:
    """Create the demo city's purposes and notices; idempotent."""
