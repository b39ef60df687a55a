"""The city's admin pages: attributes as rows of fields, districts as GeoJSON files, warnings
on departments nobody staffs. Bad input is a field error that changes nothing, never a 500."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from services.models import Category, District
from tests.factories import DepartmentFactory, DistrictFactory, MembershipFactory
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[116.0, 39.0], [116.1, 39.0], [116.1, 39.1], [116.0, 39.1], [116.0, 39.0]]],
}
BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[116.0, 39.0], [116.1, 39.1], [116.1, 39.0], [116.0, 39.1], [116.0, 39.0]]],
}


@pytest.fixture
def admin_client(admin_user):
    return mfa_login(Client(), admin_user)


def _category_post(roads, rows, *, total=None):
    data = {
        "code": "pothole", "kind": "request", "name_en": "Pothole", "name_zh_hans": "",
        "description_en": "", "description_zh_hans": "", "group": "", "keywords": "",
        "department": roads.pk, "sla_hours": "72", "is_active": "on", "is_public": "on",
        "rows-attributes-TOTAL_FORMS": str(len(rows) if total is None else total),
        "rows-attributes-INITIAL_FORMS": "0",
        "rows-attributes-MIN_NUM_FORMS": "0", "rows-attributes-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"rows-attributes-{i}-{key}"] = value
    return data


SIZE = {
    "code": "size", "description": "How big is it?", "description_zh_hans": "有多大？",
    "datatype": "singlevaluelist", "required": "on", "order": "1",
    "values": "small | Smaller than a plate | 比盘子小\nlarge | Larger than a wheel",
}


def test_an_attribute_and_its_choices_are_saved_from_the_form_rows(admin_client, roads):
    response = admin_client.post("/admin/services/category/add/", _category_post(roads, [SIZE]))

    assert response.status_code == 302
    assert Category.objects.get(code="pothole").attributes == [{
        "code": "size", "datatype": "singlevaluelist", "required": True,
        "description": "How big is it?", "order": 1, "description_zh_hans": "有多大？",
        "values": [
            {"key": "small", "name": "Smaller than a plate", "name_zh_hans": "比盘子小"},
            {"key": "large", "name": "Larger than a wheel"},
        ],
    }]


def test_the_category_page_shows_attributes_as_fields_not_json(admin_client, roads):
    from tests.factories import CategoryFactory

    category = CategoryFactory(department=roads, attributes=[
        {"code": "size", "datatype": "singlevaluelist", "description": "How big?",
         "values": [{"key": "small", "name": "Small"}]},
    ])

    page = admin_client.get(f"/admin/services/category/{category.pk}/change/").content.decode()

    assert 'name="rows-attributes-0-code" value="size"' in page
    assert "small | Small" in page
    assert 'name="attributes"' not in page


@pytest.mark.parametrize(("row", "field"), [
    ({**SIZE, "code": ""}, "code"),
    ({**SIZE, "code": "not a slug!"}, "code"),
    ({**SIZE, "datatype": "colour"}, "datatype"),
    ({**SIZE, "values": ""}, "values"),
    ({**SIZE, "datatype": "number"}, "values"),
    ({**SIZE, "values": "a | b | c | d"}, "values"),
    ({**SIZE, "values": "a | A\na | again"}, "values"),
    ({**SIZE, "order": "first"}, "order"),
])
def test_a_bad_attribute_row_is_a_field_error_and_saves_nothing(admin_client, roads, row, field):
    response = admin_client.post("/admin/services/category/add/", _category_post(roads, [row]))

    assert response.status_code == 200
    formset = response.context["adminform"].form.row_formsets["attributes"]
    assert field in formset.forms[0].errors
    assert f'id="id_rows-attributes-0-{field}_errors"' in response.content.decode()
    assert not Category.objects.filter(code="pothole").exists()


def test_two_attributes_with_one_code_are_a_field_error(admin_client, roads):
    response = admin_client.post(
        "/admin/services/category/add/", _category_post(roads, [SIZE, SIZE])
    )

    assert response.status_code == 200
    assert "code" in response.context["adminform"].form.row_formsets["attributes"].forms[1].errors
    assert not Category.objects.filter(code="pothole").exists()


def test_a_category_post_without_the_rows_is_a_form_error_not_a_500(admin_client, roads):
    data = {k: v for k, v in _category_post(roads, []).items() if not k.startswith("rows-")}

    response = admin_client.post("/admin/services/category/add/", data)

    assert response.status_code == 200
    assert not Category.objects.filter(code="pothole").exists()


# --- Districts -----------------------------------------------------------------------------


def _upload(admin_client, body: bytes):
    return admin_client.post(
        "/admin/services/district/upload/",
        {"file": SimpleUploadedFile("districts.geojson", body, "application/geo+json")},
    )


def _collection(*features):
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def _feature(geometry, **properties):
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def test_districts_are_imported_from_a_geojson_feature_collection(admin_client):
    body = _collection(
        _feature(SQUARE, name="North District", code="north", name_zh_hans="北区"),
        _feature({"type": "MultiPolygon", "coordinates": [SQUARE["coordinates"]]},
                 name="South District"),
    )

    response = _upload(admin_client, body)

    assert response.status_code == 302
    north = District.objects.get(code="north")
    assert (north.name_en, north.name_zh_hans, north.boundary) == ("North District", "北区", SQUARE)
    assert District.objects.filter(code="south-district", name_en="South District").exists()


def test_the_district_list_links_the_upload(admin_client):
    page = admin_client.get("/admin/services/district/").content.decode()

    assert 'href="/admin/services/district/upload/"' in page


@pytest.mark.parametrize("body", [
    b"{not json",
    b"\xff\xfe\x00",
    json.dumps(SQUARE).encode(),  # a geometry, not a collection
    _collection(),
    _collection(_feature({"type": "Point", "coordinates": [116, 39]}, name="Dot")),
    _collection(_feature(BOWTIE, name="Bowtie")),
    _collection(_feature(SQUARE)),  # no name
    _collection(_feature(SQUARE, name="A", code="a"), _feature(SQUARE, name="B", code="a")),
    # One good feature and one bad one: nothing is imported.
    _collection(_feature(SQUARE, name="Good"), _feature({"type": "Polygon"}, name="Broken")),
])
def test_a_bad_district_upload_is_a_field_error_and_imports_nothing(admin_client, body):
    response = _upload(admin_client, body)

    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert 'id="id_file_errors"' in response.content.decode()
    assert not District.objects.exists()


def test_a_district_boundary_file_replaces_the_boundary(admin_client):
    district = DistrictFactory(code="north")
    moved = {**SQUARE, "coordinates": [[[117.0, 39.0], [117.1, 39.0], [117.1, 39.1],
                                        [117.0, 39.0]]]}

    response = admin_client.post(f"/admin/services/district/{district.pk}/change/", {
        "code": "north", "name_en": "North", "name_zh_hans": "",
        "boundary_file": SimpleUploadedFile("north.geojson", json.dumps(moved).encode()),
    })

    assert response.status_code == 302
    district.refresh_from_db()
    assert district.boundary == moved


@pytest.mark.parametrize("body", [b"[1, 2]", json.dumps(BOWTIE).encode(), b"nope"])
def test_a_bad_district_boundary_file_is_a_field_error(admin_client, body):
    response = admin_client.post("/admin/services/district/add/", {
        "code": "north", "name_en": "North", "name_zh_hans": "",
        "boundary_file": SimpleUploadedFile("north.geojson", body),
    })

    assert response.status_code == 200
    assert "boundary_file" in response.context["adminform"].form.errors
    assert not District.objects.exists()


# --- Departments ---------------------------------------------------------------------------


def test_the_department_list_warns_of_a_department_without_staff(admin_client):
    DepartmentFactory(code="water", name_en="Water", staffed=False)

    page = admin_client.get("/admin/services/department/").content.decode()

    assert "No active staff" in page


def test_the_department_list_warns_of_a_department_without_supervisor(admin_client, roads):
    page = admin_client.get("/admin/services/department/").content.decode()

    assert "No supervisor" in page


def test_a_department_with_staff_and_supervisor_has_no_warning(admin_client, roads):
    MembershipFactory(department=roads, role="supervisor")

    page = admin_client.get(f"/admin/services/department/{roads.pk}/change/").content.decode()

    assert "No active staff" not in page
    assert "No supervisor" not in page


def test_the_department_page_warns_when_nobody_staffs_it(admin_client):
    water = DepartmentFactory(code="water", name_en="Water", staffed=False)

    page = admin_client.get(f"/admin/services/department/{water.pk}/change/").content.decode()

    assert "No active staff" in page


def test_the_blank_extra_rows_of_the_add_page_do_not_stop_a_save(admin_client, roads):
    page = admin_client.get("/admin/services/category/add/")
    blank = {
        f"rows-attributes-{i}-{name}": field.value() or ""
        for i, form in enumerate(page.context["adminform"].form.row_formsets["attributes"])
        for name, field in ((n, form[n]) for n in ("code", "description", "datatype", "values"))
    }
    data = {**_category_post(roads, [], total=len(blank) // 4), **blank}

    response = admin_client.post("/admin/services/category/add/", data)

    assert response.status_code == 302, (
        response.context["adminform"].form.errors,
        response.context["adminform"].form.row_formsets["attributes"].errors,
    )
    assert Category.objects.get(code="pothole").attributes == []
