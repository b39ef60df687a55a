"""Category groups, attribute questions and their choices are translatable fields shown in the
reader's language (like category names); the GDPR Art. 30 record and the erasure plan too."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from consent.demo import seed_register
from tests.factories import CategoryFactory
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db

ATTRIBUTE = {
    "code": "size", "datatype": "singlevaluelist", "required": True,
    "description": "How big is it?", "description_zh_hans": "坑有多大？",
    "values": [{"key": "small", "name": "Small", "name_zh_hans": "小"},
               {"key": "large", "name": "Large"}],
}


@pytest.fixture
def pothole(roads):
    return CategoryFactory(code="pothole", department=roads, group="Roads",
                           group_zh_hans="道路", attributes=[ATTRIBUTE])


def _zh_resident(resident) -> Client:
    resident.preferred_language = "zh-hans"
    resident.save()
    client = Client()
    client.force_login(resident)
    return client


def test_the_report_form_shows_the_group_question_and_choices_in_chinese(pothole, resident):
    page = _zh_resident(resident).get("/report/").content.decode()
    assert "· 道路" in page
    assert "坑有多大？" in page
    assert 'value="small"' in page
    assert "> 小</label>" in page or ">小</option>" in page


def test_a_choice_without_a_translation_falls_back_to_english(pothole, resident):
    page = _zh_resident(resident).get("/report/").content.decode()
    assert "Large" in page


def test_the_report_form_stays_english_for_english_readers(pothole, resident):
    client = Client()
    client.force_login(resident)
    page = client.get("/report/").content.decode()
    assert "· Roads" in page
    assert "How big is it?" in page


def test_the_category_api_gives_group_question_and_choices_in_chinese(pothole):
    body = APIClient(HTTP_ACCEPT_LANGUAGE="zh-hans").get("/api/v1/categories").json()
    category = next(c for c in body if c["code"] == "pothole")
    assert category["group"] == "道路"
    assert category["attributes"][0]["description"] == "坑有多大？"
    assert [v["name"] for v in category["attributes"][0]["values"]] == ["小", "Large"]


def test_the_art_30_record_is_in_chinese_for_a_chinese_officer(data_officer, roads):
    seed_register()
    data_officer.preferred_language = "zh-hans"
    data_officer.save()
    page = mfa_login(Client(), data_officer).get("/data-protection/records/").content.decode()
    assert "处理您的报告和投诉" in page  # the purpose's title
    assert "使用服务中心的居民" in page  # the data subjects
    assert "受托处理方" in page  # a recipient's role
    assert "residents who use the service center" not in page


@pytest.fixture
def city_purpose(db):
    """A purpose a city wrote itself: its law and retention start are not in any catalog."""
    from consent.models import Purpose

    return Purpose.objects.create(
        code="parking-permits", title_en="Parking permits", title_zh_hans="停车许可",
        description_en="Issuing residents' parking permits.",
        description_zh_hans="签发居民停车许可。",
        dpv_purpose="https://w3id.org/dpv#ServiceProvision", legal_basis="public_task",
        legal_reference="Harbour City Parking Bylaw §4",
        legal_reference_zh_hans="海港市停车条例第4条",
        data_categories=["contact"], retention_days=365,
        retention_trigger="after the permit expires", retention_trigger_zh_hans="许可到期后",
        retention_end_action="delete",
    )


def test_a_city_written_purpose_shows_its_own_chinese_law_and_retention_start(
    city_purpose, resident
):
    page = _zh_resident(resident).get("/data-use/").content.decode()
    assert "海港市停车条例第4条" in page
    assert "许可到期后" in page
    assert "Harbour City Parking Bylaw" not in page


def test_the_art_30_record_gives_a_city_written_purpose_in_chinese(city_purpose, data_officer):
    data_officer.preferred_language = "zh-hans"
    data_officer.save()
    page = mfa_login(Client(), data_officer).get("/data-protection/records/").content.decode()
    assert "海港市停车条例第4条" in page
    assert "许可到期后" in page
