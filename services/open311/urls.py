"""Open311 routes (mounted at /open311/): discovery and the GeoReport v2 endpoint /open311/v2/.

Every resource takes a `.json` or `.xml` suffix; without one the answer is XML.
"""

from django.urls import re_path

from services.open311 import api

FMT = r"(?:\.(?P<format>json|xml))?$"

app_name = "open311"

urlpatterns = [
    re_path(r"^discovery" + FMT, api.DiscoveryApi.as_view(), name="discovery"),
    re_path(r"^v2/discovery" + FMT, api.DiscoveryApi.as_view(), name="discovery-v2"),
    re_path(r"^v2/services" + FMT, api.ServiceListApi.as_view(), name="services"),
    re_path(
        r"^v2/services/(?P<service_code>[-\w]+)" + FMT,
        api.ServiceDefinitionApi.as_view(),
        name="service",
    ),
    re_path(r"^v2/requests" + FMT, api.RequestListCreateApi.as_view(), name="requests"),
    re_path(
        r"^v2/requests/(?P<service_request_id>[-\w]+)" + FMT,
        api.RequestDetailApi.as_view(),
        name="request",
    ),
    re_path(r"^v2/tokens/(?P<token>[-\w]+)" + FMT, api.TokenApi.as_view(), name="token"),
    re_path(
        r"^v2/servicerequestupdates" + FMT, api.UpdateListApi.as_view(), name="updates"
    ),
    re_path(r"^(?:v2/)?.*?" + FMT, api.UnknownApi.as_view(), name="unknown"),
]
