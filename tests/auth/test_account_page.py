"""The account page: a new token is shown once with a copy button; the name field clears."""

from __future__ import annotations

import re


def test_creating_a_token_shows_it_with_a_copy_button_and_clears_the_name(logged_in_client):
    response = logged_in_client.post("/account", data={"name": "nightly export"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    token = re.search(r'<code id="new-token">([^<]+)</code>', html).group(1)
    assert token.startswith("gl_")
    assert 'id="copy-token" data-target="new-token"' in html
    assert '<script type="module" src="/static/js/account.js">' in html
    name = re.search(r'<input[^>]*id="name"[^>]*>', html).group(0)
    assert "value=" not in name or 'value=""' in name, name
    assert "nightly export" in html, "the new token is listed by its name"


def test_a_refused_token_name_is_kept_for_correction(logged_in_client):
    too_long = "x" * 81  # TokenForm allows 80
    html = logged_in_client.post("/account", data={"name": too_long}).get_data(as_text=True)
    assert "new-token" not in html
    assert too_long in html


def test_copy_script_is_served(client):
    assert client.get("/static/js/account.js").status_code == 200
