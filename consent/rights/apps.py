from django.apps import AppConfig


class RightsConfig(AppConfig):
    name = "consent.rights"
    label = "rights"
    verbose_name = "Residents' data rights"

    def ready(self) -> None:
        from consent.rights import tasks  # lazy: it imports models; the registry is ready now

        tasks.outbox_publishers_register()
        tasks.staff_view_recorders_register()
