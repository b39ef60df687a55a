"""OpenAPI helpers shared by every API module: the problem-details error body, component names."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

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
    fuzzer see exactly what core.api.problems sends.
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


def forbidden_response() -> dict:
    return {403: OpenApiResponse(response=ProblemSerializer, description="Not allowed")}


def name_nested_serializers(namespace: dict[str, Any]) -> None:
    """Give each API class's nested serializers a unique OpenAPI component name.

    `QueueApi.OutputSerializer` becomes "QueueOutput" instead of a bare "Output" that clashes
    with every other API class's OutputSerializer.
    """
    for view_name, view in list(namespace.items()):
        if not (isinstance(view, type) and issubclass(view, APIView)):
            continue
        if view.__module__ != namespace.get("__name__"):
            continue
        prefix = view_name.removesuffix("Api")
        for attr, nested in list(vars(view).items()):
            if isinstance(nested, type) and issubclass(nested, serializers.BaseSerializer):
                extend_schema_serializer(
                    component_name=prefix + attr.removesuffix("Serializer")
                )(nested)
