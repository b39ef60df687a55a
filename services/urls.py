"""REST API routes for requests, complaints and queues (mounted under /api/v1/)."""

from django.urls import path

from services.api import catalog, resident, staff

REF = "<str:reference>"

urlpatterns = [
    path("categories", catalog.CategoryListApi.as_view(), name="category-list"),
    path("districts", catalog.DistrictListApi.as_view(), name="district-list"),
    path("addresses", catalog.AddressSearchApi.as_view(), name="address-search"),
    # Resident
    path("requests", resident.RequestCollectionApi.as_view(), name="request-list"),
    path("requests/nearby", resident.NearbyApi.as_view(), name="request-nearby"),
    path(f"requests/{REF}", resident.RequestDetailApi.as_view(), name="request-detail"),
    path(f"requests/{REF}/comments", resident.CommentCreateApi.as_view(), name="request-comment"),
    path(
        f"requests/{REF}/attachments",
        resident.AttachmentCreateApi.as_view(),
        name="request-attachments",
    ),
    path(
        f"requests/{REF}/attachments/<str:token>",
        resident.AttachmentFileApi.as_view(),
        name="request-attachment-file",
    ),
    path(f"requests/{REF}/withdraw", resident.WithdrawApi.as_view(), name="request-withdraw"),
    path(f"requests/{REF}/confirm", resident.ConfirmApi.as_view(), name="request-confirm"),
    path(f"requests/{REF}/reopen", resident.ReopenApi.as_view(), name="request-reopen"),
    path(f"requests/{REF}/not-fixed", resident.NotFixedApi.as_view(), name="request-not-fixed"),
    path(f"requests/{REF}/rating", resident.RatingApi.as_view(), name="request-rating"),
    path(f"requests/{REF}/follow", resident.FollowApi.as_view(), name="request-follow"),
    # Staff
    path("queue", staff.QueueApi.as_view(), name="queue"),
    path("queue/counts", staff.QueueCountsApi.as_view(), name="queue-counts"),
    path(f"staff/requests/{REF}", staff.StaffRequestDetailApi.as_view(), name="staff-request"),
    path(f"staff/requests/{REF}/assign", staff.AssignApi.as_view(), name="staff-assign"),
    path(f"staff/requests/{REF}/unassign", staff.UnassignApi.as_view(), name="staff-unassign"),
    path(f"staff/requests/{REF}/priority", staff.PriorityApi.as_view(), name="staff-priority"),
    path(
        f"staff/requests/{REF}/transition",
        staff.TransitionApi.as_view(),
        name="staff-transition",
    ),
    path(f"staff/requests/{REF}/reply", staff.ReplyApi.as_view(), name="staff-reply"),
    path(f"staff/requests/{REF}/notes", staff.NoteApi.as_view(), name="staff-notes"),
    path(f"staff/requests/{REF}/return", staff.ReturnApi.as_view(), name="staff-return"),
    path(
        f"staff/requests/{REF}/duplicate",
        staff.DuplicateApi.as_view(),
        name="staff-duplicate",
    ),
]
