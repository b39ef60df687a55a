"""REST API routes for residents' data rights (mounted under /api/v1/)."""

from django.urls import path

from consent.rights import api

urlpatterns = [
    path("staff/requests/<str:reference>/reveal", api.RevealApi.as_view(), name="staff-reveal"),
    path("me/access-log", api.MyAccessLogApi.as_view(), name="me-access-log"),
    path("me/export", api.ExportCollectionApi.as_view(), name="me-export"),
    path("me/export/<str:job_id>", api.ExportDetailApi.as_view(), name="me-export-detail"),
    path("me/export/<str:job_id>/download", api.ExportDownloadApi.as_view(),
         name="me-export-download"),
    path("me/delete", api.AccountDeleteApi.as_view(), name="me-delete"),
    path("officer/access-events", api.OfficerAccessEventListApi.as_view(),
         name="officer-access-events"),
    path("officer/access-events/export", api.OfficerAccessEventExportApi.as_view(),
         name="officer-access-export"),
    path("officer/data-subject-requests", api.DsrCollectionApi.as_view(),
         name="officer-dsr-list"),
    path("officer/data-subject-requests/<str:reference>", api.DsrDetailApi.as_view(),
         name="officer-dsr-detail"),
]
