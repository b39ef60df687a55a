from django.apps import AppConfig, apps

from core import security_log
from portal import checks  # noqa: F401  (importing it registers the deploy checks)


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "CivicDesk portal"

    def ready(self) -> None:
        from allauth.mfa.signals import authenticator_added  # lazy: app registry

        from core.roles import on_second_factor_added  # lazy: app registry

        # The kernel's security log is told which model holds staff roles (it imports no app).
        security_log.connect(membership_model=apps.get_model("services", "DepartmentMembership"))
        authenticator_added.connect(on_second_factor_added, dispatch_uid="roles.mfa_added")
