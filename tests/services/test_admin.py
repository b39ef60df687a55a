"""Admin forms refuse configuration that would break submission or routing."""

from __future__ import annotations

import pytest

from services.admin import CategoryForm, DistrictForm

pytestmark = pytest.mark.django_db

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[116.0, 39.0], [116.1, 39.0], [116.1, 39.1], [116.0, 39.1], [116.0, 39.0]]],
}
BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[116.0, 39.0], [116.1, 39.1], [116.1, 39.0], [116.0, 39.1], [116.0, 39.0]]],
}


def _district(boundary):
    return DistrictForm(
        data={"code": "north", "name_en": "North", "name_zh_hans": "北区", "boundary": boundary}
    )


def test_a_valid_polygon_is_accepted():
    import json

    assert _district(json.dumps(SQUARE)).is_valid()


@pytest.mark.parametrize(
    "boundary",
    ['{"type": "Point", "coordinates": [116, 39]}', "[1, 2]"],
)
def test_a_district_boundary_must_be_a_polygon(boundary):
    form = _district(boundary)
    assert not form.is_valid()
    assert "boundary" in form.errors


def test_a_self_intersecting_polygon_is_refused():
    import json

    form = _district(json.dumps(BOWTIE))
    assert not form.is_valid()
    assert "boundary" in form.errors


@pytest.mark.parametrize(
    "attributes",
    [
        '[{"datatype": "string"}]',
        '[{"code": "a", "datatype": "colour"}]',
        '[{"code": "a"}, {"code": "a"}]',
        '[{"code": "size", "datatype": "singlevaluelist"}]',
    ],
)
def test_category_attributes_are_checked(roads, attributes):
    form = CategoryForm(
        data={
            "code": "pothole",
            "kind": "request",
            "name_en": "Pothole",
            "department": roads.pk,
            "sla_hours": 72,
            "attributes": attributes,
            "is_active": True,
        }
    )
    assert not form.is_valid()
    assert "attributes" in form.errors

