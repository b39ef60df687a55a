"""Notices are written as drafts in the admin and published there: the published text's hash
is shown (the one `manage.py publish_notice` records), and a published draft is read-only."""

from __future__ import annotations

import pytest
from django.test import Client

from consent.models import Notice, NoticeDraft, Purpose
from consent.services import text_sha256
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db

TEXT = "We send a monthly e-mail about city works. You can withdraw at any time."


@pytest.fixture
def admin_client(admin_user):
    return mfa_login(Client(), admin_user)


@pytest.fixture
def purpose():
    return Purpose.objects.create(
        code="newsletter", title_en="City newsletter", description_en="Monthly.",
        dpv_purpose="https://w3id.org/dpv#CommunicationManagement", legal_basis="consent",
        data_categories=["contact"], retention_days=90, retention_end_action="delete",
        requires_consent=True,
    )


def _draft_post(purpose, **extra):
    return {"purpose": purpose.pk, "title_en": "Newsletter", "text_en": TEXT,
            "title_zh_hans": "", "text_zh_hans": "", "requires_reconsent": "on", **extra}


def test_an_administrator_saves_a_draft_without_publishing_it(admin_client, purpose):
    response = admin_client.post("/admin/consent/noticedraft/add/", _draft_post(purpose))

    assert response.status_code == 302
    assert NoticeDraft.objects.get().is_published is False
    assert not Notice.objects.exists()


def test_an_administrator_publishes_a_draft_and_sees_its_text_hash(admin_client, purpose):
    response = admin_client.post(
        "/admin/consent/noticedraft/add/", _draft_post(purpose, _publish="1"), follow=True
    )

    notice = Notice.objects.get(purpose=purpose)
    assert (notice.version, notice.language, notice.text) == (1, "en", TEXT)
    assert notice.text_sha256 == text_sha256(TEXT)
    page = response.content.decode()
    assert f"<code data-sha256>{notice.text_sha256}</code>" in page
    assert NoticeDraft.objects.get().published_version == 1


def test_a_published_draft_cannot_be_edited(admin_client, purpose):
    admin_client.post("/admin/consent/noticedraft/add/", _draft_post(purpose, _publish="1"))
    draft = NoticeDraft.objects.get()

    response = admin_client.post(
        f"/admin/consent/noticedraft/{draft.pk}/change/",
        _draft_post(purpose, text_en="Something else entirely."),
    )

    assert response.status_code == 403
    draft.refresh_from_db()
    assert draft.text_en == TEXT
    page = admin_client.get(f"/admin/consent/noticedraft/{draft.pk}/change/").content.decode()
    assert 'name="text_en"' not in page
    assert "data-publish-notice" not in page


def test_the_publish_action_publishes_the_selected_drafts_as_new_versions(admin_client, purpose):
    first = NoticeDraft.objects.create(purpose=purpose, title_en="Newsletter", text_en=TEXT)
    second = NoticeDraft.objects.create(purpose=purpose, title_en="Newsletter", text_en=TEXT + "!",
                                        title_zh_hans="简报", text_zh_hans="每月一封邮件。")

    response = admin_client.post("/admin/consent/noticedraft/", {
        "action": "publish", "_selected_action": [first.pk, second.pk],
    })

    assert response.status_code == 302
    assert sorted(Notice.objects.values_list("version", "language")) == [
        (1, "en"), (2, "en"), (2, "zh-hans"),
    ]


def test_publishing_a_draft_twice_is_a_message_not_a_500(admin_client, purpose):
    draft = NoticeDraft.objects.create(purpose=purpose, title_en="Newsletter", text_en=TEXT)
    post = {"action": "publish", "_selected_action": [draft.pk]}
    admin_client.post("/admin/consent/noticedraft/", post)

    response = admin_client.post("/admin/consent/noticedraft/", post, follow=True)

    assert response.status_code == 200
    assert "already published" in response.content.decode()
    assert Notice.objects.count() == 1


def test_a_draft_with_a_blank_text_is_a_field_error(admin_client, purpose):
    response = admin_client.post("/admin/consent/noticedraft/add/",
                                 _draft_post(purpose, text_en="", _publish="1"))

    assert response.status_code == 200
    assert "text_en" in response.context["adminform"].form.errors
    assert not Notice.objects.exists()


def test_a_draft_for_no_purpose_is_a_field_error(admin_client, purpose):
    response = admin_client.post("/admin/consent/noticedraft/add/",
                                 {**_draft_post(purpose), "purpose": "999999"})

    assert response.status_code == 200
    assert "purpose" in response.context["adminform"].form.errors
