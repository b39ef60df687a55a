"""Public reference data: categories (localized by Accept-Language), districts and the
address gazetteer's search."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.schema import name_nested_serializers, problems
from core.api.serializers import StrictSerializer
from services.api.common import CodeNameSerializer, code_name
from services.attributes import attribute_label, choice_label
from services.gazetteer import address_search
from services.selectors import categories_active, district_by_code, districts_all

LANGUAGE_HEADER = OpenApiParameter(
    "Accept-Language",
    str,
    OpenApiParameter.HEADER,
    description="`en` (default) or `zh-hans`; names and descriptions follow it.",
)


class AttributeValueSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()


class CategoryAttributeSerializer(serializers.Serializer):
    code = serializers.CharField()
    datatype = serializers.ChoiceField(
        choices=[
            "string",
            "number",
            "datetime",
            "text",
            "singlevaluelist",
            "multivaluelist",
        ]
    )
    required = serializers.BooleanField()  # type: ignore[assignment]
    description = serializers.CharField()
    order = serializers.IntegerField()
    values = AttributeValueSerializer(many=True)


class CategoryListApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        kind = serializers.ChoiceField(choices=["request", "complaint"])
        name = serializers.CharField()
        description = serializers.CharField()
        group = serializers.CharField()
        sla_hours = serializers.IntegerField()
        attributes = CategoryAttributeSerializer(many=True)

    @extend_schema(
        operation_id="categories_list",
        summary="Categories residents can file under (public)",
        parameters=[LANGUAGE_HEADER],
        responses={200: OutputSerializer(many=True)},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        data = [
            {
                "code": c.code,
                "kind": c.kind,
                "name": c.name,
                "description": c.description,
                "group": c.group_name,
                "sla_hours": c.sla_hours,
                "attributes": [
                    {
                        "code": a.get("code", ""),
                        "datatype": a.get("datatype", "string"),
                        "required": bool(a.get("required", False)),
                        "description": attribute_label(a),
                        "order": int(a.get("order", 0)),
                        "values": [
                            {"key": str(v.get("key", "")), "name": choice_label(v)}
                            for v in a.get("values", [])
                        ],
                    }
                    for a in sorted(c.attributes or [], key=lambda a: a.get("order", 0))
                ],
            }
            for c in categories_active()
        ]
        return Response(self.OutputSerializer(data, many=True).data)


class DistrictListApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        name = serializers.CharField()
        boundary = serializers.JSONField(help_text="GeoJSON Polygon or MultiPolygon.")

    @extend_schema(
        operation_id="districts_list",
        summary="Districts of the city with their boundaries (public)",
        parameters=[LANGUAGE_HEADER],
        responses={200: OutputSerializer(many=True)},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        data = [{"code": d.code, "name": d.name, "boundary": d.boundary} for d in districts_all()]
        return Response(self.OutputSerializer(data, many=True).data)


class AddressSearchApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    class FilterSerializer(StrictSerializer):
        q = serializers.CharField(min_length=2, max_length=100)
        district = serializers.CharField(max_length=50, required=False, allow_blank=True)

    class OutputSerializer(serializers.Serializer):
        text = serializers.CharField()
        street = serializers.CharField()
        district = CodeNameSerializer(allow_null=True)

    @extend_schema(
        operation_id="addresses_search",
        summary="Addresses of the city's gazetteer matching what is typed (public)",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer(many=True), **problems(400)},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = params.validated_data
        district = district_by_code(code=filters.get("district", ""))
        found = address_search(query=filters["q"], district=district)
        data = [
            {"text": a.text, "street": a.street, "district": code_name(a.district)}
            for a in found
        ]
        return Response(self.OutputSerializer(data, many=True).data)


name_nested_serializers(globals())
