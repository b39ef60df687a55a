from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "CivicDesk portal"

    def ready(self) -> None:
        from allauth.mfa.signals import authenticator_added

        from portal import checks, security_log  # noqa: F401  (checks: registers them)
        from portal.roles import on_second_factor_added

        security_log.connect()
        authenticator_added.connect(on_second_factor_added, dispatch_uid="roles.mfa_added")
