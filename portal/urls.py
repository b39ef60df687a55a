"""URL configuration: pages, the REST API (/api/v1/), allauth, Open311, admin."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

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
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("accounts/", include("allauth.urls")),
    path("_allauth/", include("allauth.headless.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("open311/", include("services.open311.urls")),
    path("", include("portal.pages")),
]

# A database outage met outside a view (e.g. loading the signed-in user) answers 503, not 500.
handler500 = "core.unavailable.server_error"
