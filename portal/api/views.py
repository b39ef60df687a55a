"""Project-level API: the caller's profile, and the health check."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.schema import problems
from core.roles import roles_for
from services.models import Department


class MeApi(APIView):
    class DepartmentRoleSerializer(serializers.Serializer):
        department = serializers.CharField()
        role = serializers.CharField()

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        email = serializers.EmailField()
        display_name = serializers.CharField()
        preferred_language = serializers.CharField()
        phone = serializers.CharField()
        roles = serializers.ListField(child=serializers.CharField())
        departments = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        operation_id="me_retrieve",
        summary="The caller's profile and roles",
        responses={200: OutputSerializer, **problems(401)},
    )
    def get(self, request: Request) -> Response:
        user: Any = request.user
        roles = roles_for(user)
        codes = dict(
            Department.objects.filter(id__in=roles.departments).values_list("id", "code")
        )
        data = {
            "id": user.pk,
            "email": user.email,
            "display_name": user.display_name,
            "preferred_language": user.preferred_language,
            "phone": user.phone,
            "roles": roles.names(),
            "departments": [
                {"department": codes[d], "role": r} for d, r in sorted(roles.departments.items())
            ],
        }
        return Response(self.OutputSerializer(data).data)


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # noqa: BLE001 - any failure means "failing"
        return "failing"
    return "ok"


def _check_cache() -> str:
    try:
        cache.set("healthz", "1", 5)
        return "ok" if cache.get("healthz") == "1" else "failing"
    except Exception:  # noqa: BLE001
        return "failing"


def _check_broker() -> str:
    if not settings.REDIS_URL:
        return "ok"  # eager mode: tasks run in-process, there is no broker to fail
    try:
        import redis

        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1
        )
        client.ping()
    except Exception:  # noqa: BLE001
        return "failing"
    return "ok"


def _log_integrity_alarms() -> list[str]:
    from consent.selectors import integrity_alarms

    try:
        return integrity_alarms()
    except Exception:  # noqa: BLE001 - the database check reports the failure
        return []


def healthz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _check_database(),
        "cache": _check_cache(),
        "broker": _check_broker(),
    }
    healthy = all(v == "ok" for v in checks.values())
    # Integrity alarms of the transparency log (failed verification, broken promise of
    # inclusion) are reported here for monitoring; they do not take the server out of a load
    # balancer (the service still works), so they do not change the status code.
    alarms = _log_integrity_alarms()
    return JsonResponse(
        {
            "status": "ok" if healthy else "failing",
            "checks": checks,
            "integrity": {"transparency_log": "alarm" if alarms else "ok", "alarms": alarms},
            "mode": {
                "database": connection.vendor,
                "tasks": "eager" if settings.CELERY_TASK_ALWAYS_EAGER else "celery",
                "channel_layer": "redis" if settings.REDIS_URL else "in-memory",
            },
        },
        status=200 if healthy else 503,
    )
