"""The address gazetteer: `manage.py import_addresses` (OpenAddresses columns, all or nothing,
idempotent), address search and geocoding."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from services.demo import DEMO_ADDRESSES
from services.gazetteer import address_search, addresses_parse, geocode, normalise
from services.models import GazetteerAddress
from tests.factories import GazetteerAddressFactory

pytestmark = pytest.mark.django_db

HEADER = "LON,LAT,NUMBER,STREET,UNIT,CITY,DISTRICT,REGION,POSTCODE,ID,HASH\n"
GOOD = HEADER + (
    "116.0500,39.0500,12,Jianshe Road,,Example City,,,071000,,\n"
    "116.0510,39.0500,14,Jianshe Road,,Example City,,,071000,,\n"
    "116.0520,39.0600,3,Renmin Street,,Example City,,,071000,,\n"
)


def _import(tmp_path, text: str, *args: str) -> str:
    path = tmp_path / "addresses.csv"
    path.write_text(text, encoding="utf-8")
    out = io.StringIO()
    call_command("import_addresses", str(path), *args, stdout=out)
    return out.getvalue()


def test_import_addresses_stores_each_address_with_its_point_and_district(tmp_path, district):
    output = _import(tmp_path, GOOD)
    assert "3 added" in output
    address = GazetteerAddress.objects.get(number="12")
    assert address.text == "12 Jianshe Road, Example City 071000"
    assert (address.lat, address.lon) == (39.05, 116.05)
    assert address.district == district  # from the point, not from the file
    assert address.street_key == "jianshe road"


def test_importing_the_same_file_twice_changes_nothing(tmp_path, district):
    _import(tmp_path, GOOD)
    before = list(GazetteerAddress.objects.order_by("pk").values())
    output = _import(tmp_path, GOOD)
    assert "0 added, 0 updated, 3 unchanged" in output
    assert list(GazetteerAddress.objects.order_by("pk").values()) == before


def test_a_moved_address_is_updated_in_place_on_reimport(tmp_path, district):
    _import(tmp_path, GOOD)
    output = _import(tmp_path, GOOD.replace("116.0500,39.0500,12", "116.0550,39.0550,12"))
    assert "1 updated" in output
    assert GazetteerAddress.objects.count() == 3
    assert GazetteerAddress.objects.get(number="12").lat == 39.055


def test_a_large_file_is_read_in_chunks_and_reimports_idempotently(tmp_path, district):
    rows = "".join(
        f"116.05,39.05,{n},Renmin Street,,Example City,,,071000,,\n" for n in range(1, 2001)
    )
    assert "2000 added" in _import(tmp_path, HEADER + rows)
    assert "0 added, 0 updated, 2000 unchanged" in _import(tmp_path, HEADER + rows)


def test_a_bad_row_imports_nothing_and_names_its_line(tmp_path, district):
    bad = GOOD + "not-a-number,39.05,16,Jianshe Road,,Example City,,,071000,,\n" + (
        "116.05,95,18,Jianshe Road,,Example City,,,071000,,\n"
        "116.05,39.05,20,,,Example City,,,071000,,\n"
    )
    with pytest.raises(CommandError) as raised:
        _import(tmp_path, bad)
    message = str(raised.value)
    assert "nothing was imported" in message
    assert "line 5: LON is not a number" in message
    assert "line 6: LAT must be between -90 and 90" in message
    assert "line 7: STREET is empty" in message
    assert GazetteerAddress.objects.count() == 0


def test_a_file_without_the_required_columns_is_refused(tmp_path):
    with pytest.raises(CommandError, match="missing column"):
        _import(tmp_path, "X,Y,ROAD\n116,39,Main\n")
    assert GazetteerAddress.objects.count() == 0


def test_the_same_address_twice_in_a_file_is_kept_once_and_counted(tmp_path, district):
    output = _import(tmp_path, GOOD + "116.0600,39.0700,12,Jianshe Rd.,,Example City,,,071000,,\n")
    assert "1 duplicate row(s) skipped" in output
    assert GazetteerAddress.objects.get(number="12").lat == 39.05  # the first one


def test_check_reports_without_importing(tmp_path):
    output = _import(tmp_path, GOOD, "--check")
    assert "3 addresses ok" in output
    assert GazetteerAddress.objects.count() == 0


def test_the_demo_gazetteer_file_is_valid():
    with DEMO_ADDRESSES.open(encoding="utf-8-sig", newline="") as stream:
        parsed = addresses_parse(stream)
    assert parsed.errors == []
    assert len(parsed.rows) > 100


def test_normalising_spells_out_abbreviations_and_ignores_case_and_punctuation():
    assert normalise("12, Jianshe RD.") == normalise("12 jianshe road") == "12 jianshe road"


def test_address_search_matches_whole_words_and_the_last_word_as_typed():
    GazetteerAddressFactory(number="12")
    GazetteerAddressFactory(number="112")
    GazetteerAddressFactory(number="3", street="Renmin Street")
    assert [a.number for a in address_search(query="12 jians")] == ["12"]
    assert {a.number for a in address_search(query="jianshe")} == {"12", "112"}


def test_geocode_finds_one_address_and_refuses_an_ambiguous_one():
    twelve = GazetteerAddressFactory(number="12")
    GazetteerAddressFactory(number="12", city="Other Town")
    GazetteerAddressFactory(number="14")
    assert geocode(text="14 Jianshe Rd") is not None
    assert geocode(text="12 Jianshe Road, Example City 071000") == twelve
    assert geocode(text="12 Jianshe Road") is None  # two towns have one
    assert geocode(text="99 Nowhere Lane") is None


def test_address_search_api_is_public_and_lists_matches(client, district):
    GazetteerAddressFactory(number="12", district=district)
    response = client.get("/api/v1/addresses", {"q": "12 jianshe"})
    assert response.status_code == 200
    assert response.json() == [
        {"text": "12 Jianshe Road, Example City 071000", "street": "Jianshe Road",
         "district": {"code": "central", "name": "Central"}}
    ]


def test_address_search_api_refuses_an_unknown_district_by_field(client):
    response = client.get("/api/v1/addresses", {"q": "jianshe", "district": "atlantis"})
    assert response.status_code == 400
    assert "district" in response.json()["errors"]


def test_geocode_needs_the_house_number_to_be_the_addresses_own():
    GazetteerAddressFactory(number="3", street="Street 12")
    assert geocode(text="12 Street 3") is None
    assert geocode(text="3 Street 12") is not None
