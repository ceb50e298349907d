"""The password rule, changing one's own password, and one-time passwords."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import AuditEvent, User
from app.passwords import password_problem
from tests.conftest import login
from tests.factories import DEFAULT_PASSWORD, make_user

NEW_PASSWORD = "violet-otter-skates-north"


@pytest.mark.parametrize("weak", [
    "          x",          # the old rule (10+ characters) let this in
    "short-pass1",          # 11 characters
    "password1234",         # common
    "qwertyuiopasdf",       # keyboard row
    "aaaaaaaaaaaaaaa",      # repeats
    " padded-passphrase-here ",
])
def test_weak_passwords_are_refused_with_a_reason(weak):
    problem = password_problem(weak)
    assert problem and problem.startswith("The password")


def test_password_built_from_the_email_is_refused():
    assert password_problem("drsmithhospital", ["drsmith@hospital.org"])


def test_a_long_unusual_passphrase_is_accepted():
    assert password_problem(NEW_PASSWORD) is None


def test_admin_cannot_create_a_user_with_a_common_password(admin_client, db):
    response = admin_client.post("/admin/users", data={
        "email": "weak@example.org", "password": "password1234", "role": "clinician"})
    assert response.status_code == 400
    assert b"too common" in response.data
    assert db.session.scalar(select(User).where(User.email == "weak@example.org")) is None


def change(client, current=DEFAULT_PASSWORD, new=NEW_PASSWORD, confirm=None):
    return client.post("/account/password", data={
        "current_password": current, "new_password": new, "confirm": confirm or new})


def test_user_changes_own_password_and_other_sessions_end(app, db, user):
    here, elsewhere = app.test_client(), app.test_client()
    login(here, user.email)
    login(elsewhere, user.email)
    response = change(here)
    assert response.status_code == 302
    assert here.get("/cases").status_code == 200       # this browser stays signed in
    assert elsewhere.get("/cases").status_code == 302  # the other one is signed out
    assert login(app.test_client(), user.email).status_code == 401
    assert login(app.test_client(), user.email, NEW_PASSWORD).status_code == 302
    assert "password_changed" in [e.action for e in db.session.scalars(select(AuditEvent))]


@pytest.mark.parametrize(("current", "new", "confirm", "words"), [
    ("wrong-current-password", NEW_PASSWORD, None, "not your current password"),
    (DEFAULT_PASSWORD, NEW_PASSWORD, "something-else-entirely", "differ"),
    (DEFAULT_PASSWORD, "password1234", None, "too common"),
    (DEFAULT_PASSWORD, DEFAULT_PASSWORD, None, "different from the current"),
])
def test_bad_password_changes_are_refused(logged_in_client, current, new, confirm, words):
    response = change(logged_in_client, current, new, confirm)
    assert response.status_code == 400
    assert words in response.get_data(as_text=True)
    assert logged_in_client.get("/cases").status_code == 200


def test_one_time_admin_password_must_be_changed_at_first_login(app, runner, db):
    result = runner.invoke(args=["users", "ensure-admin"])
    password = result.output.split("one-time password")[1].split()[0]
    client = app.test_client()
    response = login(client, "admin@localhost", password)
    assert response.headers["Location"].endswith("/account")
    for path in ("/cases", "/cases/new", "/admin/users"):
        blocked = client.get(path)
        assert blocked.status_code == 302 and blocked.headers["Location"].endswith("/account")
    assert b'id="must-change-password"' in client.get("/account").data
    no_token = client.post("/account", data={"name": "sneaky"})
    assert b'id="new-token"' not in no_token.data and b"Choose your own password" in no_token.data
    assert change(client, password).status_code == 302
    assert client.get("/admin/users").status_code == 200
    assert db.session.scalar(select(User).where(User.email == "admin@localhost")) \
        .must_change_password is False


def test_admin_reset_password_is_one_time(app, db, admin_client):
    user = make_user(email="reset@example.org")
    admin_client.post(f"/admin/users/{user.id}/password", data={"password": NEW_PASSWORD})
    client = app.test_client()
    assert login(client, user.email, NEW_PASSWORD).headers["Location"].endswith("/account")
    assert client.get("/cases").headers["Location"].endswith("/account")
