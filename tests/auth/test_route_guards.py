"""Route-level guards of the auth blueprint: tokens are revoked by their owner only, and the
login route follows `next` only to a relative path on this host."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import ApiToken
from tests.factories import DEFAULT_PASSWORD
from tests.routes import web_client

UPLOAD_PAGE = "/cases/new"


def _issue(user) -> tuple[ApiToken, str]:
    row, plain = ApiToken.issue(user.id, "laptop")
    db.session.add(row)
    db.session.commit()
    return row, plain


def _api_answer(app, plain: str) -> int:
    client = app.test_client(use_cookies=False)
    return client.get("/api/v1/cases", headers={"Authorization": f"Bearer {plain}"}).status_code


@pytest.mark.parametrize("revoker", ["other_user", "admin"])
def test_nobody_but_the_owner_revokes_a_token(app, user, other_user, admin, revoker):
    token, plain = _issue(user)
    client = web_client(app, {"other_user": other_user, "admin": admin}[revoker])
    response = client.post(f"/account/tokens/{token.id}/revoke")
    assert response.status_code == 404
    db.session.refresh(token)
    assert token.revoked_at is None
    assert _api_answer(app, plain) == 200


def test_the_owner_revokes_their_token_and_the_api_refuses_it(app, user):
    token, plain = _issue(user)
    assert web_client(app, user).post(f"/account/tokens/{token.id}/revoke").status_code == 302
    db.session.refresh(token)
    assert token.revoked_at is not None
    assert _api_answer(app, plain) == 401


def test_a_revoke_of_an_unknown_token_is_404(app, user):
    assert web_client(app, user).post("/account/tokens/999999/revoke").status_code == 404


OFF_SITE = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example/x",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%2F/evil.example",  # decodes to //evil.example
    "/%5Cevil.example",  # decodes to /\evil.example
    "javascript:alert(1)",
    "http:/evil.example",
    " //evil.example",
    "/%0D%0ASet-Cookie:%20stolen=1",  # CR/LF: header injection
    "/cases%0ALocation:%20https://evil.example",
    "/%09/evil.example",  # a tab the browser would drop
    "evil.example",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_login_ignores_a_next_that_leaves_the_site(client, user, target):
    response = client.post(f"/login?next={target}",
                           data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == UPLOAD_PAGE
    assert "stolen" not in response.headers.get("Set-Cookie", "")
    assert [k for k in response.headers.keys() if k.lower() == "location"] == ["Location"]


@pytest.mark.parametrize("target", ["/cases", "/cases?page=2", "/account#tokens"])
def test_login_follows_a_local_next(client, user, target):
    response = client.post("/login", query_string={"next": target},
                           data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == target


def test_the_login_redirect_carries_next_and_login_follows_it(client, user):
    response = client.get("/cases?page=2")
    assert response.status_code == 302
    login_url = response.headers["Location"]
    assert login_url.startswith("/login?next=")
    answer = client.post(login_url, data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert answer.headers["Location"] == "/cases?page=2"
