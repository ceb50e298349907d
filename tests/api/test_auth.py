"""Bearer-token authentication: missing, bad, revoked tokens, inactive users, no cookies."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import ApiToken, AuditEvent
from app.models.base import utcnow
from tests.api.conftest import API, bearer, client_with_token, issue_token
from tests.factories import make_user

PROTECTED = [
    ("get", "/cases"),
    ("post", "/cases"),
    ("get", "/cases/0123456789abcdef0123456789abcdef"),
    ("delete", "/cases/0123456789abcdef0123456789abcdef"),
    ("get", "/cases/0123456789abcdef0123456789abcdef/files/summary.json"),
]


def _assert_401(response, invalid_token: bool) -> None:
    assert response.status_code == 401
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == 401 and body["error"]
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert ('error="invalid_token"' in challenge) is invalid_token


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_route_but_the_document_needs_a_token(client, method, path):
    response = getattr(client, method)(API + path)
    _assert_401(response, invalid_token=False)
    assert "Authorization" in response.get_json()["error"]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_unknown_token_is_refused(client, method, path):
    response = getattr(client, method)(API + path, headers=bearer("gl_not-a-real-token"))
    _assert_401(response, invalid_token=True)


@pytest.mark.parametrize("header",
                         ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "gl_abc", "Token x"])
def test_malformed_authorization_header_is_refused(client, token, header):
    response = client.get(f"{API}/cases", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_valid_token_is_accepted_and_marks_last_use(api_client, db, token):
    row = db.session.scalar(select(ApiToken))
    assert row.last_used_at is None
    response = api_client.get(f"{API}/cases")
    assert response.status_code == 200
    assert db.session.scalar(select(ApiToken)).last_used_at is not None


def test_scheme_is_case_insensitive(client, token):
    assert client.get(f"{API}/cases", headers={"Authorization": f"bearer {token}"}).status_code \
        == 200


def test_token_revoked_on_the_account_page_stops_working(app, logged_in_client, api_client, db):
    assert api_client.get(f"{API}/cases").status_code == 200
    row = db.session.scalar(select(ApiToken))
    response = logged_in_client.post(f"/account/tokens/{row.id}/revoke")
    assert response.status_code == 302
    assert db.session.get(ApiToken, row.id).revoked_at is not None
    _assert_401(api_client.get(f"{API}/cases"), invalid_token=True)
    events = db.session.scalars(select(AuditEvent.action)).all()
    assert "token_revoked" in events and "api_token_refused" in events


def test_token_revoked_in_the_database_stops_working(api_client, db):
    row = db.session.scalar(select(ApiToken))
    row.revoked_at = utcnow()
    db.session.commit()
    _assert_401(api_client.get(f"{API}/cases"), invalid_token=True)


def test_token_of_an_inactive_user_is_refused(app, db, user, api_client):
    user.active = False
    db.session.commit()
    response = api_client.get(f"{API}/cases")
    _assert_401(response, invalid_token=True)
    assert "disabled" in response.get_json()["error"]


def test_tokens_are_per_user(app, db, token):
    second = issue_token(make_user(email="second@example.org"))
    assert second != token
    assert client_with_token(app, second).get(f"{API}/cases").status_code == 200


def test_logged_in_browser_session_without_a_token_is_refused(logged_in_client, case_factory):
    case = case_factory()
    assert logged_in_client.get(f"/cases/{case.id}").status_code == 200  # the web page works
    _assert_401(logged_in_client.get(f"{API}/cases"), invalid_token=False)
    _assert_401(logged_in_client.get(f"{API}/cases/{case.id}"), invalid_token=False)
    _assert_401(logged_in_client.delete(f"{API}/cases/{case.id}"), invalid_token=False)


def test_api_sets_no_session_cookie(api_client):
    response = api_client.get(f"{API}/cases")
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_api_needs_no_csrf_token(csrf_app):
    user = make_user(email="csrf-api@example.org")
    plain = issue_token(user)
    client = csrf_app.test_client()
    # Without a CSRF token, a form POST elsewhere is refused, but the API's POST and DELETE are
    # judged on the bearer token alone.
    assert client.post("/login", data={"email": user.email}).status_code == 400
    response = client.post(f"{API}/cases", data={}, headers=bearer(plain),
                           content_type="multipart/form-data")
    assert response.status_code == 400 and response.get_json()["field"] == "flair"
    missing = client.delete(f"{API}/cases/0123456789abcdef0123456789abcdef", headers=bearer(plain))
    assert missing.status_code == 404
