"""Web portal page routes: public pages, residents, clerks and supervisors, data officers."""

from django.urls import path

from portal.views import (
    consent_rates,
    counter,
    guided,
    photos,
    privacy,
    profile,
    public,
    reports,
    resident,
    rights,
    staff,
    statistics,
)

app_name = "portal"

REF = "<str:reference>"

urlpatterns = [
    # Public
    path("", public.home, name="home"),
    path("statistics/", statistics.statistics_page, name="statistics"),
    path("statistics/open-data.json", statistics.statistics_json, name="statistics-json"),
    path("statistics/open-data.csv", statistics.statistics_csv, name="statistics-csv"),
    path("reports/", reports.reports_list, name="reports"),
    path(f"reports/{REF}/", reports.report_detail, name="report"),
    path(f"reports/{REF}/photos/<str:token>", reports.report_photo, name="report-photo"),
    path("data-use/", privacy.register_page, name="register"),
    path("log/", privacy.log_page, name="log"),
    path("log/civicdesk_verify.py", privacy.verifier_download, name="verifier-download"),
    # Residents
    path("report/", resident.request_new, name="request-new"),
    path("report/steps/", guided.guided_start, name="guided-start"),
    path("report/steps/thanks/<str:reference>/", guided.guided_thanks, name="guided-thanks"),
    path("report/steps/<slug:step>/", guided.guided_step, name="guided"),
    path("my/requests/", resident.my_requests, name="my-requests"),
    path("my/requests/versions.json", resident.my_request_versions, name="my-request-versions"),
    path(f"my/requests/{REF}/", resident.request_detail, name="request-detail"),
    path(f"my/requests/{REF}/comment", resident.request_comment, name="request-comment"),
    path(f"my/requests/{REF}/photos", resident.request_photos, name="request-photos"),
    path(f"my/requests/{REF}/withdraw", resident.request_withdraw, name="request-withdraw"),
    path(f"my/requests/{REF}/confirm", resident.request_confirm, name="request-confirm"),
    path(f"my/requests/{REF}/reopen", resident.request_reopen, name="request-reopen"),
    path(f"my/requests/{REF}/rate", resident.request_rate, name="request-rate"),
    path(f"my/requests/{REF}/follow", resident.request_follow, name="request-follow"),
    path(f"my/requests/{REF}/unfollow", resident.request_unfollow, name="request-unfollow"),
    path(f"requests/{REF}/", resident.request_link, name="request-link"),
    path(f"requests/{REF}/photos/<str:token>", photos.photo, name="photo"),
    path("my/data/", privacy.my_data, name="my-data"),
    path("my/profile/", profile.profile, name="profile"),
    path("my/data/consents/<slug:purpose>", privacy.consent_change, name="consent-change"),
    path("my/data/receipts/<str:event_id>", privacy.receipt_page, name="receipt"),
    path("my/data/export", rights.export_request, name="export-request"),
    path("my/data/delete/", rights.delete_account, name="delete-account"),
    # Clerks and supervisors
    path("staff/queue/", staff.queue, name="queue"),
    path("staff/queue/versions.json", staff.queue_versions, name="queue-versions"),
    path(f"staff/requests/{REF}/", staff.workbench, name="workbench"),
    path(f"staff/requests/{REF}/transition", staff.workbench_transition, name="wb-transition"),
    path(f"staff/requests/{REF}/reply", staff.workbench_reply, name="wb-reply"),
    path(f"staff/requests/{REF}/note", staff.workbench_note, name="wb-note"),
    path(f"staff/requests/{REF}/claim", staff.workbench_claim, name="wb-claim"),
    path(f"staff/requests/{REF}/assign", staff.workbench_assign, name="wb-assign"),
    path(f"staff/requests/{REF}/release", staff.workbench_release, name="wb-release"),
    path(f"staff/requests/{REF}/priority", staff.workbench_priority, name="wb-priority"),
    path(f"staff/requests/{REF}/reveal", staff.reveal, name="wb-reveal"),
    path(f"staff/requests/{REF}/duplicate", staff.workbench_duplicate, name="wb-duplicate"),
    path("staff/data-requests/new", rights.counter_dsr_new, name="counter-dsr"),
    path("staff/counter/", counter.counter_new, name="counter"),
    path(f"staff/counter/{REF}/receipt", counter.counter_receipt, name="counter-receipt"),
    path("staff/team/", staff.team, name="team"),
    # Data officers
    path("data-protection/", privacy.officer_home, name="dpo"),
    path("data-protection/consent-log/", privacy.officer_consent_log, name="dpo-consent-log"),
    path("data-protection/consent-rates/", consent_rates.officer_consent_rates,
         name="dpo-consent-rates"),
    path("data-protection/records/", privacy.officer_records, name="dpo-records"),
    path("data-protection/access-log/", rights.officer_access_log, name="dpo-access-log"),
    path("data-protection/requests/", rights.officer_dsr_list, name="dpo-dsr"),
    path("data-protection/requests/<str:reference>", rights.officer_dsr_update,
         name="dpo-dsr-update"),
    path("data-protection/verify", privacy.officer_verify, name="dpo-verify"),
]
