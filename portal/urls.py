"""URL configuration: pages, the REST API (/api/v1/), allauth, Open311, admin."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal.account_language import language_switch
from portal.api.views import MeApi, healthz

api_v1: list[URLPattern | URLResolver] = [
    path("me", MeApi.as_view(), name="me"),
    path("", include("services.urls")),
    path("", include("consent.urls")),
    path("", include("consent.rights.urls")),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI with its init script at ?script and its styles in a file: no inline code, so
    # the Content-Security-Policy needs nothing beyond 'self' (templates/portal/api/).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", template_name="portal/api/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
    # The switcher also stores the choice on a signed-in person's account.
    path("i18n/setlang/", language_switch, name="set_language"),
    path("admin/", admin.site.urls),
    path("open311/", include("services.open311.urls")),
    path("", include("portal.pages")),
]

# A database outage met outside a view (e.g. loading the signed-in user) answers 503, not 500.
handler500 = "core.unavailable.server_error"
