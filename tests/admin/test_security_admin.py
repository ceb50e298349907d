"""What admins see and do for account security: aggregated audit rows, deactivation, resets."""

from __future__ import annotations

from tests.conftest import login


def test_unknown_email_failures_show_as_one_counted_row(app, admin_client):
    stranger = app.test_client()
    for i in range(3):
        login(stranger, f"nobody{i}@example.org")
    page = admin_client.get("/admin/users").get_data(as_text=True)
    assert "login_failed_unknown ×3" in page
    assert page.count("login_failed_unknown") == 1


def test_admin_reset_refuses_a_common_password(admin_client, user):
    response = admin_client.post(f"/admin/users/{user.id}/password",
                                 data={"password": "password123456"}, follow_redirects=True)
    assert "too common" in response.get_data(as_text=True)
    assert login(admin_client.application.test_client(), user.email).status_code == 302


def test_deactivation_ends_the_users_open_session(app, user, admin_client):
    victim = app.test_client()
    login(victim, user.email)
    assert victim.get("/cases").status_code == 200
    admin_client.post(f"/admin/users/{user.id}/active")
    assert victim.get("/cases").status_code == 302
