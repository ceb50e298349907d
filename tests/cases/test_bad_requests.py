"""Bad input gets a 4xx with a true message, never a 500."""

from __future__ import annotations

import pytest

from tests.conftest import login


@pytest.mark.parametrize("page", ["99999999999999999999999", "0", "-1", "abc", "1e9", "٣"])
def test_absurd_page_numbers_get_a_400_with_the_range(logged_in_client, page):
    response = logged_in_client.get(f"/cases?page={page}")
    assert response.status_code == 400
    assert "The page must be a whole number from 1 to" in response.get_data(as_text=True)


def test_a_late_page_that_exists_only_in_range_is_a_404(logged_in_client):
    assert logged_in_client.get("/cases?page=2").status_code == 404
    assert logged_in_client.get("/cases?page=1").status_code == 200


@pytest.mark.parametrize("target", [
    "/%0D%0ASet-Cookie:%20evil=1", "/cases%0A", "/%09/evil.example", "/ /x", "/%7F",
])
def test_login_next_with_control_characters_is_ignored(client, user, target):
    response = client.post(f"/login?next={target}",
                           data={"email": user.email, "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/cases/new"
    assert "evil" not in str(response.headers)


def test_a_huge_text_field_gets_the_form_field_message(logged_in_client, nifti_case):
    data = {"pseudonym": "x" * (20 * 1024 * 1024)}
    response = logged_in_client.post("/cases/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "A form field is too large" in page and "upload is too large" not in page


def test_a_huge_upload_still_gets_the_upload_message(logged_in_client, app):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = logged_in_client.post("/cases/new", data={"pseudonym": "x" * 4096},
                                     content_type="multipart/form-data")
    assert response.status_code == 413
    assert "The upload is too large. The limit is 1 KiB" in response.get_data(as_text=True)


def test_huge_login_form_is_refused_cleanly(client):
    response = client.post("/login", data={"email": "a@b.c", "password": "p" * (1 << 20)})
    assert response.status_code in (400, 401, 413)
    assert login(client, "a@b.c", "x" * 300).status_code in (400, 401)
