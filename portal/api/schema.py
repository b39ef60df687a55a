"""OpenAPI helpers shared by every API module: the problem-details error body."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ProblemSerializer = inline_serializer(
    name="Problem",
    fields={
        "type": serializers.CharField(),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "detail": serializers.CharField(),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()), required=False
        ),
    },
)


def problems(*codes: int) -> dict[int, OpenApiResponse]:
    """`responses=` entries for the given error status codes."""
    return {
        code: OpenApiResponse(response=ProblemSerializer, description="Problem details")
        for code in codes
    }


def problem_media_types(result: dict, generator: object, request: object, public: bool) -> dict:
    """drf-spectacular hook: error responses are served as application/problem+json.

    Every documented 4xx/5xx body in the schema gets that media type, so clients and the
    fuzzer see exactly what portal.api.errors sends.
    """
    for path in result.get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict):
                continue
            for code, response in operation.get("responses", {}).items():
                content = response.get("content") if isinstance(response, dict) else None
                if not content or not str(code).isdigit() or int(code) < 400:
                    continue
                if "application/json" in content:
                    content.setdefault("application/problem+json", content.pop("application/json"))
    return result
