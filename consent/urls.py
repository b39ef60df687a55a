"""REST API routes for the register, consent and the transparency log (under /api/v1/)."""

from django.urls import path

from consent import api

urlpatterns = [
    path("register/purposes", api.PurposeListApi.as_view(), name="register-purposes"),
    path("register/purposes/<str:code>/notices/<str:version>", api.PurposeNoticeApi.as_view(),
         name="register-purpose-notice"),
    path("register/processing-records", api.ProcessingRecordsApi.as_view(),
         name="register-processing-records"),
    path("log/tree-head", api.TreeHeadApi.as_view(), name="log-tree-head"),
    path("log/tree-heads", api.TreeHeadHistoryApi.as_view(), name="log-tree-heads"),
    path("log/proof/inclusion", api.InclusionProofApi.as_view(), name="log-proof-inclusion"),
    path("log/proof/consistency", api.ConsistencyProofApi.as_view(),
         name="log-proof-consistency"),
    path("log/entries", api.EntryListApi.as_view(), name="log-entries"),
    path("me/consents", api.MyConsentListApi.as_view(), name="me-consents"),
    path("me/consents/history", api.MyConsentHistoryApi.as_view(), name="me-consents-history"),
    path("me/consents/receipts/<str:event_id>", api.MyReceiptApi.as_view(),
         name="me-consents-receipt"),
    path("me/consents/<str:purpose>", api.MyConsentDecideApi.as_view(),
         name="me-consents-decide"),
    path("counter/consents", api.CounterConsentApi.as_view(), name="counter-consents"),
    path("officer/consent/events", api.OfficerEventListApi.as_view(),
         name="officer-consent-events"),
    path("officer/consent/export", api.OfficerEventExportApi.as_view(),
         name="officer-consent-export"),
    path("officer/consent/aggregates", api.OfficerAggregatesApi.as_view(),
         name="officer-consent-aggregates"),
    path("officer/log/integrity", api.OfficerIntegrityApi.as_view(),
         name="officer-log-integrity"),
]
