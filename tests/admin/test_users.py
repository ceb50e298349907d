import re

from sqlalchemy import select

from app.models import AuditEvent, User
from tests.conftest import login


def get_user(db, email):
    return db.session.scalar(select(User).where(User.email == email))


def test_admin_creates_a_user_who_can_log_in(admin_client, app, db):
    response = admin_client.post("/admin/users", data={
        "email": "New.Doc@Example.org", "display_name": "New Doc",
        "password": "a-long-password", "role": "clinician"})
    assert response.status_code == 302
    user = get_user(db, "new.doc@example.org")
    assert user is not None and user.role == "clinician"
    assert user.password_hash.startswith("scrypt:")
    assert login(app.test_client(), "new.doc@example.org", "a-long-password").status_code == 302
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "admin_create_user"))


def test_duplicate_email_and_short_password_are_refused(admin_client, admin, db):
    response = admin_client.post("/admin/users", data={
        "email": admin.email, "password": "a-long-password", "role": "clinician"})
    assert response.status_code == 400
    assert b"already exists" in response.data
    response = admin_client.post("/admin/users", data={
        "email": "x@example.org", "password": "short", "role": "clinician"})
    assert response.status_code == 400
    assert get_user(db, "x@example.org") is None


def test_admin_deactivates_a_user_who_then_cannot_log_in(admin_client, app, user, db):
    assert admin_client.post(f"/admin/users/{user.id}/active").status_code == 302
    assert get_user(db, user.email).active is False
    assert login(app.test_client(), user.email).status_code == 401
    admin_client.post(f"/admin/users/{user.id}/active")
    assert get_user(db, user.email).active is True


def test_deactivated_user_loses_an_open_session(admin_client, logged_in_client, user):
    admin_client.post(f"/admin/users/{user.id}/active")
    assert logged_in_client.get("/cases").status_code == 302


def test_admin_resets_password_and_sets_role(admin_client, app, user, db):
    admin_client.post(f"/admin/users/{user.id}/password", data={"password": "brand-new-secret"})
    assert login(app.test_client(), user.email, "brand-new-secret").status_code == 302
    admin_client.post(f"/admin/users/{user.id}/role", data={"role": "admin"})
    assert get_user(db, user.email).role == "admin"


def test_admin_reset_revokes_the_users_api_tokens(admin_client, app, user, other_user, db):
    from tests.api.conftest import bearer, issue_token

    tokens = [issue_token(user, "laptop"), issue_token(user, "script")]
    kept = issue_token(other_user, "theirs")
    api = app.test_client(use_cookies=False)
    assert api.get("/api/v1/cases", headers=bearer(tokens[0])).status_code == 200
    page = admin_client.post(f"/admin/users/{user.id}/password",
                             data={"password": "brand-new-secret"}, follow_redirects=True)
    assert "2 API tokens revoked." in page.get_data(as_text=True)
    for token in tokens:
        assert api.get("/api/v1/cases", headers=bearer(token)).status_code == 401
    assert api.get("/api/v1/cases", headers=bearer(kept)).status_code == 200
    from app.models import AuditEvent

    event = db.session.scalars(db.select(AuditEvent).where(
        AuditEvent.action == "admin_reset_password")).one()
    assert event.detail.endswith("2 API token(s) revoked")


def test_admin_cannot_deactivate_themselves(admin_client, admin, db):
    admin_client.post(f"/admin/users/{admin.id}/active")
    assert get_user(db, admin.email).active is True


def test_clinician_gets_404_on_admin_pages(logged_in_client, user):
    assert logged_in_client.get("/admin/users").status_code == 404
    assert logged_in_client.post(f"/admin/users/{user.id}/role",
                                 data={"role": "admin"}).status_code == 404


def test_deactivating_asks_first_and_controls_have_visible_labels(admin_client, user):
    html = admin_client.get("/admin/users").get_data(as_text=True)
    form = re.search(rf'<form[^>]*/admin/users/{user.id}/active"[^>]*>', html).group(0)
    assert "data-confirm=" in form and user.email in form
    assert '<script type="module" src="/static/js/confirm.js">' in html
    assert re.search(rf'<label class="control-label" for="role-{user.id}">Role<span', html)
    assert re.search(rf'<label class="control-label" for="pw-{user.id}">New password<span', html)
