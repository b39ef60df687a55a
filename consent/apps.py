from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Data use and consent"

    def ready(self) -> None:
        from consent import tasks  # lazy: it imports models; the app registry is ready now

        tasks.outbox_publishers_register()
