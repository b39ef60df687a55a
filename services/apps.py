from django.apps import AppConfig


class ServicesConfig(AppConfig):
    name = "services"
    verbose_name = "Service requests"

    def ready(self) -> None:
        # Live sockets close when their session ends or the user's roles change (the admin
        # and allauth change these without going through our services).
        from allauth.mfa.models import Authenticator
        from allauth.usersessions.models import UserSession
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_delete, post_save

        from services import live, reference, tasks  # lazy: they import models (registry ready)

        DepartmentMembership = self.get_model("DepartmentMembership")  # noqa: N806
        tasks.outbox_publishers_register()
        user_logged_out.connect(live.on_user_logged_out, dispatch_uid="live.logout")
        post_delete.connect(live.on_user_session_deleted, sender=UserSession,
                            dispatch_uid="live.session_deleted")
        post_save.connect(live.on_roles_changed, sender=DepartmentMembership,
                          dispatch_uid="live.membership_saved")
        post_delete.connect(live.on_roles_changed, sender=DepartmentMembership,
                            dispatch_uid="live.membership_deleted")
        # Staff roles need TOTP enrolled (core.roles): enrolling or removing it counts.
        post_save.connect(live.on_second_factor_changed, sender=Authenticator,
                          dispatch_uid="live.mfa_saved")
        post_delete.connect(live.on_second_factor_changed, sender=Authenticator,
                            dispatch_uid="live.mfa_deleted")
        post_save.connect(live.on_user_saved, sender=get_user_model(),
                          dispatch_uid="live.user_saved")
        # Reference data is cached per process (services.reference): edits drop the copies.
        for model in reference.REFERENCE_MODELS:
            for signal in (post_save, post_delete):
                signal.connect(reference.on_reference_changed, sender=model,
                               dispatch_uid=f"reference.{model.__name__}.{id(signal)}")
