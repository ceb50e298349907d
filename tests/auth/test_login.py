from sqlalchemy import select

from app.auth.routes import safe_next_url
from app.models import AuditEvent, User
from tests.conftest import login
from tests.factories import make_user


def actions(db):
    return [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_login_success_lands_on_upload_and_records_audit(client, user, db):
    response = login(client, user.email)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/cases/new")
    assert client.get("/cases/new").status_code == 200
    assert "login" in actions(db)
    assert db.session.get(User, user.id).last_login_at is not None


def test_login_wrong_password_shows_error_and_counts_failure(client, user, db):
    response = login(client, user.email, "not-the-password")
    assert response.status_code == 401
    assert b"Invalid email or password." in response.data
    assert db.session.get(User, user.id).failed_logins == 1
    assert "login_failed" in actions(db)
    assert client.get("/cases/new").status_code == 302


def test_unknown_email_gets_the_same_message(client, db):
    response = login(client, "nobody@example.org")
    assert response.status_code == 401
    assert b"Invalid email or password." in response.data


def test_deactivated_user_cannot_log_in(client, db):
    user = make_user(email="gone@example.org", active=False)
    response = login(client, user.email)
    assert response.status_code == 401
    assert client.get("/cases").status_code == 302


def test_logout_returns_to_login(logged_in_client):
    response = logged_in_client.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    assert logged_in_client.get("/cases").status_code == 302


def test_protected_pages_redirect_to_login(client):
    for path in ("/cases", "/cases/new", "/account", "/admin/users"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/login?next=" in response.headers["Location"]


def test_next_redirect_is_followed_only_for_local_paths(client, user):
    response = client.post("/login?next=/cases", data={"email": user.email,
                                                       "password": "correct-horse-battery"})
    assert response.headers["Location"] == "/cases"


def test_safe_next_url_refuses_other_hosts():
    assert safe_next_url("/cases?page=2") == "/cases?page=2"
    for bad in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)", "/\\evil", ""):
        assert safe_next_url(bad) is None


def test_home_page_is_public_and_links_to_login(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b'id="get-started"' in response.data


def test_session_cookie_is_httponly_and_lax(client, user):
    response = login(client, user.email)
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_security_headers_set_a_strict_csp(client):
    response = client.get("/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_after_a_failed_login_the_focus_is_on_the_password(client, user):
    first = client.get("/login").get_data(as_text=True)
    assert 'autofocus id="email"' in first and 'autofocus id="password"' not in first
    failed = login(client, user.email, "not-the-password").get_data(as_text=True)
    assert 'autofocus id="password"' in failed and 'autofocus id="email"' not in failed
    assert f'value="{user.email}"' in failed, "the email is kept"
