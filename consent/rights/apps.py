from django.apps import AppConfig


class RightsConfig(AppConfig):
    name = "consent.rights"
    label = "rights"
    verbose_name = "Residents' data rights"
