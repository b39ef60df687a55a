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
