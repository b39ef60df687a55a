from typing import Any

from django.apps import AppConfig


def _email_changed(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    from portal.accounts.services import email_change_record  # lazy: models need the app registry

    email_change_record(user=user)


class AccountsConfig(AppConfig):
    name = "portal.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # allauth's own hook for "a confirmed address became the primary one" (its verified
        # change flow): the person's profile history records it.
        from allauth.account.signals import email_changed

        email_changed.connect(_email_changed, dispatch_uid="civicdesk-email-changed")
