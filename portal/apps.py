from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "CivicDesk portal"

    def ready(self) -> None:
        from portal import checks, security_log  # noqa: F401  (checks: registers them)

        security_log.connect()
