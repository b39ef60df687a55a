"""Web portal page routes: public pages, residents, clerks and supervisors, data officers."""

from django.urls import path

from portal.views import photos, public, resident, staff, statistics

app_name = "portal"

REF = "<str:reference>"

urlpatterns = [
    # Public
    path("", public.home, name="home"),
    path("statistics/", statistics.statistics_page, name="statistics"),
    # Residents
    path("report/", resident.request_new, name="request-new"),
    path("my/requests/", resident.my_requests, name="my-requests"),
    path("my/requests/versions.json", resident.my_request_versions, name="my-request-versions"),
    path(f"my/requests/{REF}/", resident.request_detail, name="request-detail"),
    path(f"my/requests/{REF}/comment", resident.request_comment, name="request-comment"),
    path(f"my/requests/{REF}/photos", resident.request_photos, name="request-photos"),
    path(f"my/requests/{REF}/withdraw", resident.request_withdraw, name="request-withdraw"),
    path(f"my/requests/{REF}/confirm", resident.request_confirm, name="request-confirm"),
    path(f"my/requests/{REF}/reopen", resident.request_reopen, name="request-reopen"),
    path(f"my/requests/{REF}/rate", resident.request_rate, name="request-rate"),
    path(f"requests/{REF}/photos/<str:token>", photos.photo, name="photo"),
    # Clerks and supervisors
    path("staff/queue/", staff.queue, name="queue"),
    path("staff/queue/versions.json", staff.queue_versions, name="queue-versions"),
    path(f"staff/requests/{REF}/", staff.workbench, name="workbench"),
    path(f"staff/requests/{REF}/transition", staff.workbench_transition, name="wb-transition"),
    path(f"staff/requests/{REF}/reply", staff.workbench_reply, name="wb-reply"),
    path(f"staff/requests/{REF}/note", staff.workbench_note, name="wb-note"),
    path(f"staff/requests/{REF}/claim", staff.workbench_claim, name="wb-claim"),
    path(f"staff/requests/{REF}/assign", staff.workbench_assign, name="wb-assign"),
    path("staff/team/", staff.team, name="team"),
]
