from django.apps import AppConfig, apps

from core import security_log
from portal import checks  # noqa: F401  (importing it registers the deploy checks)


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "CivicDesk portal"

    def ready(self) -> None:
        # The kernel's security log is told which model holds staff roles (it imports no app).
        security_log.connect(membership_model=apps.get_model("services", "DepartmentMembership"))
