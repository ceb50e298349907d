"""Sessions end server-side: logout, password change/reset and deactivation revoke every cookie."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import select

from app.auth import sessions
from app.models import User
from tests.conftest import login
from tests.factories import DEFAULT_PASSWORD, make_user

SESSION = "session"
REMEMBER = "remember_token"


def cookie(client, name):
    found = client.get_cookie(name)
    return found.value if found else None


def fresh_client_with(app, **cookies):
    """A new browser holding only the given cookies (a copy an attacker kept)."""
    client = app.test_client()
    for name, value in cookies.items():
        client.set_cookie(name, value)
    return client


def is_logged_in(client) -> bool:
    response = client.get("/cases")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    return False


def remembered_login(client, email, password=DEFAULT_PASSWORD):
    response = client.post("/login", data={"email": email, "password": password,
                                           "remember": "y"})
    assert response.status_code == 302
    return response


@pytest.fixture
def clock(monkeypatch):
    """Move the session module's clock forward by `clock.advance(seconds)`."""

    class Clock:
        offset = 0.0

        def advance(self, seconds: float) -> None:
            self.offset += seconds

    fake = Clock()
    monkeypatch.setattr(sessions, "now", lambda: time.time() + fake.offset)
    return fake


def test_old_session_cookie_stops_working_after_logout(logged_in_client, app):
    stolen = cookie(logged_in_client, SESSION)
    assert is_logged_in(fresh_client_with(app, session=stolen))
    logged_in_client.post("/logout")
    assert not is_logged_in(fresh_client_with(app, session=stolen))


def test_remember_cookie_alone_stops_working_after_logout(client, app, user):
    remembered_login(client, user.email)
    remember = cookie(client, REMEMBER)
    assert remember
    assert is_logged_in(fresh_client_with(app, remember_token=remember))
    client.post("/logout")
    assert not is_logged_in(fresh_client_with(app, remember_token=remember))


def test_logout_ends_the_sessions_of_other_browsers_too(app, user):
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, user.email)
    login(phone, user.email)
    laptop.post("/logout")
    assert not is_logged_in(phone)


def test_admin_password_reset_revokes_session_and_remember_cookies(app, user, admin_client):
    victim = app.test_client()
    remembered_login(victim, user.email)
    session_cookie, remember = cookie(victim, SESSION), cookie(victim, REMEMBER)
    response = admin_client.post(f"/admin/users/{user.id}/password",
                                 data={"password": "an-entirely-new-passphrase"})
    assert response.status_code == 302
    assert not is_logged_in(victim)
    assert not is_logged_in(fresh_client_with(app, session=session_cookie))
    assert not is_logged_in(fresh_client_with(app, remember_token=remember))


def test_deactivate_then_reactivate_does_not_revive_old_cookies(app, db, user, admin_client):
    victim = app.test_client()
    remembered_login(victim, user.email)
    session_cookie, remember = cookie(victim, SESSION), cookie(victim, REMEMBER)
    admin_client.post(f"/admin/users/{user.id}/active")
    assert db.session.get(User, user.id).active is False
    assert not is_logged_in(fresh_client_with(app, remember_token=remember))
    admin_client.post(f"/admin/users/{user.id}/active")
    assert db.session.get(User, user.id).active is True
    assert not is_logged_in(fresh_client_with(app, session=session_cookie))
    assert not is_logged_in(fresh_client_with(app, remember_token=remember))
    assert login(app.test_client(), user.email).status_code == 302  # the password still works


def test_remember_cookie_is_lax_short_and_new_at_each_login(app, user, clock):
    first = app.test_client()
    response = remembered_login(first, user.email)
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(REMEMBER))
    assert "SameSite=Lax" in header and "HttpOnly" in header
    expires = parsedate_to_datetime(header.split("Expires=")[1].split(";")[0])
    lifetime = expires.timestamp() - time.time()
    assert 13 * 86400 < lifetime <= 14 * 86400
    clock.advance(1)  # the login time inside the cookie has a one-second resolution
    second = app.test_client()
    remembered_login(second, user.email)
    assert cookie(first, REMEMBER) != cookie(second, REMEMBER)


def test_session_without_remember_sets_no_remember_cookie(client, user):
    login(client, user.email)
    assert cookie(client, REMEMBER) is None


def test_idle_session_ends_after_the_idle_timeout(logged_in_client, clock):
    clock.advance(29 * 60)
    assert is_logged_in(logged_in_client)  # used: the idle clock restarts
    clock.advance(29 * 60)
    assert is_logged_in(logged_in_client)
    clock.advance(31 * 60)
    assert not is_logged_in(logged_in_client)
    page = logged_in_client.get("/login").get_data(as_text=True)
    assert "inactivity" in page


def test_status_polling_does_not_keep_a_session_alive(logged_in_client, case_factory, clock):
    case = case_factory()
    for _ in range(3):
        clock.advance(9 * 60)
        assert logged_in_client.get(f"/cases/{case.id}/status").status_code == 200
    clock.advance(9 * 60)
    assert not is_logged_in(logged_in_client)


def test_active_session_ends_at_its_absolute_lifetime(logged_in_client, clock):
    for _ in range(12 * 3 - 1):  # used every 20 minutes for 11 h 40 min
        clock.advance(20 * 60)
        assert is_logged_in(logged_in_client)
    clock.advance(21 * 60)
    assert not is_logged_in(logged_in_client)
    assert "maximum length" in logged_in_client.get("/login").get_data(as_text=True)


def test_timeouts_are_configurable(tmp_path, clock):
    from tests.conftest import _test_app

    for app in _test_app(tmp_path, SESSION_IDLE_MINUTES=1, SESSION_LIFETIME_HOURS=1):
        make_user(email="short@example.org")
        client = app.test_client()
        login(client, "short@example.org")
        clock.advance(61)
        assert not is_logged_in(client)


def test_remember_cookie_opens_a_new_session_after_idle_but_not_after_14_days(app, user, clock):
    browser = app.test_client()
    remembered_login(browser, user.email)
    clock.advance(3600)
    assert is_logged_in(browser)  # the session expired; the remember cookie opened a new one
    remember = cookie(browser, REMEMBER)
    clock.advance(14 * 86400)
    assert not is_logged_in(fresh_client_with(app, remember_token=remember))


def test_remember_me_can_be_turned_off(tmp_path):
    from tests.conftest import _test_app

    for app in _test_app(tmp_path, REMEMBER_ME_DAYS=0):
        make_user(email="noremember@example.org")
        client = app.test_client()
        assert b'name="remember"' not in client.get("/login").data
        client.post("/login", data={"email": "noremember@example.org",
                                    "password": DEFAULT_PASSWORD, "remember": "y"})
        assert cookie(client, REMEMBER) is None


def test_remember_me_is_capped_at_14_days(tmp_path):
    from app.config import Config

    assert Config(str(tmp_path), {"SECRET_KEY": "x", "REMEMBER_ME_DAYS": "365"}).REMEMBER_ME_DAYS \
        == 14


def test_session_id_holds_the_token_not_just_the_user_id(app, user, db):
    row = db.session.scalar(select(User).where(User.id == user.id))
    assert row.get_id().startswith(f"{user.id}:") and len(row.session_token) == 32
    assert sessions.load_user(str(user.id)) is None
    assert sessions.load_user(f"{user.id}:{'0' * 32}:{int(time.time())}") is None
    assert sessions.load_user(f"{row.get_id()}:{int(time.time())}") == row
