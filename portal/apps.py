from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "CivicDesk portal"

    def ready(self) -> None:
        from portal import security_log

        security_log.connect()
