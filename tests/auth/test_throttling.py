"""Login throttling, aggregated audit of unknown emails, timing, HTTPS behind a proxy."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from app.audit import ATTEMPTED_EMAIL_CHARS, UNKNOWN_LOGIN_ACTION
from app.models import AuditEvent
from app.ratelimit import DatabaseStorage
from tests.conftest import _test_app, login
from tests.factories import DEFAULT_PASSWORD, make_user


def actions(db):
    return [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_repeated_wrong_passwords_lock_the_account_with_429_and_retry_after(client, user, db):
    for _ in range(5):
        assert login(client, user.email, "wrong-password-xyz").status_code == 401
    locked = login(client, user.email, "wrong-password-xyz")
    assert locked.status_code == 429
    retry = int(locked.headers["Retry-After"])
    assert 0 < retry <= 60
    assert "Too many attempts" in locked.get_data(as_text=True)
    # Locked means locked: even the right password waits.
    assert login(client, user.email).status_code == 429
    assert "throttled" in actions(db)


def test_the_lock_is_per_account(client, user, other_user):
    for _ in range(6):
        login(client, user.email, "wrong-password-xyz")
    assert login(client, other_user.email).status_code == 302


def test_successful_logins_do_not_count(app, user):
    for _ in range(8):
        assert login(app.test_client(), user.email).status_code == 302


@pytest.fixture
def strict_app(tmp_path):
    yield from _test_app(tmp_path, LOGIN_LIMIT_ADDRESS="3/minute;5/hour",
                         API_TOKEN_LIMIT="3/minute", UPLOAD_LIMIT="1/hour",
                         TRUSTED_PROXY_COUNT=1)


def test_many_accounts_from_one_address_are_throttled_per_address(strict_app):
    client = strict_app.test_client()
    for i in range(3):
        assert login(client, f"guess{i}@example.org").status_code == 401
    assert login(client, "guess9@example.org").status_code == 429


def test_throttling_tells_client_addresses_apart_behind_a_trusted_proxy(strict_app):
    client = strict_app.test_client()
    for i in range(3):
        client.post("/login", data={"email": f"g{i}@example.org", "password": "x" * 12},
                    headers={"X-Forwarded-For": "203.0.113.7"})
    other = client.post("/login", data={"email": "g@example.org", "password": "x" * 12},
                        headers={"X-Forwarded-For": "203.0.113.8"})
    assert other.status_code == 401


def test_failed_api_token_checks_are_throttled(strict_app):
    client = strict_app.test_client()
    for _ in range(3):
        bad = client.get("/api/v1/cases", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
    refused = client.get("/api/v1/cases", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 429
    assert refused.is_json and "Retry-After" in refused.headers


def test_uploads_are_throttled_per_user(strict_app, nifti_case):
    make_user(email="up@example.org")
    client = strict_app.test_client()
    login(client, "up@example.org")

    def post():
        data = {s: (io.BytesIO(p.read_bytes()), p.name) for s, p in nifti_case.items()}
        return client.post("/cases/new", data=data, content_type="multipart/form-data")

    assert post().status_code == 302
    refused = post()
    assert refused.status_code == 429 and "Retry-After" in refused.headers


def test_unknown_emails_are_audited_once_per_address_and_minute(client, db):
    for i in range(7):
        assert login(client, f"attacker-{i}-" + "x" * 200 + "@example.org").status_code == 401
    rows = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == UNKNOWN_LOGIN_ACTION)).all()
    assert len(rows) == 1
    assert rows[0].count == 7 and rows[0].remote_addr == "127.0.0.1"
    assert rows[0].detail.startswith("last email tried: attacker-6-")
    assert len(rows[0].detail) <= len("last email tried: ") + ATTEMPTED_EMAIL_CHARS + 1


def test_control_characters_in_an_attempted_email_are_not_stored(client, db):
    response = client.post("/login", data={"email": "a\x1b[31m\x7f@b.org", "password": "x" * 12})
    assert response.status_code == 401
    row = db.session.scalar(select(AuditEvent).where(AuditEvent.action == UNKNOWN_LOGIN_ACTION))
    assert "\x1b" not in row.detail and "\x7f" not in row.detail and "?[31m" in row.detail


def test_unknown_accounts_cost_a_password_hash_too(client, user, monkeypatch):
    from app.auth import routes

    calls = []
    real = routes.check_dummy_password
    monkeypatch.setattr(routes, "check_dummy_password",
                        lambda password: calls.append(password) or real(password))
    assert login(client, "nobody@example.org", "some-password-1").status_code == 401
    assert calls == ["some-password-1"]
    assert login(client, user.email, "some-password-2").status_code == 401
    assert calls == ["some-password-1"]  # known accounts check their own hash


def test_database_storage_counts_in_windows(app, monkeypatch):
    from app import ratelimit

    storage = DatabaseStorage("gliomalens+db://")
    assert storage.check()
    assert storage.incr("k", 60) == 1
    assert storage.incr("k", 60, amount=2) == 3
    assert storage.get("k") == 3 and storage.get("other") == 0
    start = storage.get_expiry("k")
    real = ratelimit.time.time
    monkeypatch.setattr(ratelimit.time, "time", lambda: real() + 61)
    assert storage.get("k") == 0
    assert storage.incr("k", 60) == 1  # a new window
    assert storage.get_expiry("k") > start
    storage.clear("k")
    assert storage.get("k") == 0
    storage.incr("a", 60)
    assert storage.reset() >= 1


def test_https_behind_a_trusted_proxy_gives_secure_cookies_and_hsts(strict_app):
    make_user(email="tls@example.org")
    client = strict_app.test_client()
    response = client.post("/login", data={"email": "tls@example.org",
                                            "password": DEFAULT_PASSWORD, "remember": "y"},
                           headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies and all("; Secure" in c for c in cookies)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_forwarded_proto_is_ignored_without_a_trusted_proxy(client, user):
    response = client.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD},
                           headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers
    assert all("Secure" not in c for c in response.headers.getlist("Set-Cookie"))


def test_long_keys_are_stored_hashed_within_the_column(app, db):
    from app.models import RateLimitCounter

    storage = DatabaseStorage("gliomalens+db://")
    key = "LIMITER/account:" + "x" * 300
    assert storage.incr(key, 60) == 1 and storage.incr(key, 60) == 2
    assert storage.get(key) == 2
    assert all(len(row.key) <= 255 for row in db.session.scalars(select(RateLimitCounter)))


def test_login_lock_with_redis_counters(tmp_path):
    from tests.conftest import require_service_url

    url = require_service_url("TEST_REDIS_URL")
    if url is None:
        pytest.skip("TEST_REDIS_URL not set")
    for app in _test_app(tmp_path, RATELIMIT_STORAGE_URI=url):
        from app.ratelimit import limiter

        limiter.reset()
        make_user(email="redis@example.org")
        client = app.test_client()
        for _ in range(5):
            assert login(client, "redis@example.org", "wrong-password-xyz").status_code == 401
        assert login(client, "redis@example.org").status_code == 429
        limiter.reset()


def test_default_storage_is_the_database_unless_redis_is_configured(tmp_path):
    from app.config import Config

    embedded = Config(str(tmp_path), {"SECRET_KEY": "x"})
    assert embedded.RATELIMIT_STORAGE_URI == ""  # register_limits turns this into the database
    scaled = Config(str(tmp_path), {"SECRET_KEY": "x", "CELERY_BROKER_URL": "redis://r:6379/0"})
    assert scaled.RATELIMIT_STORAGE_URI == "redis://r:6379/0"
    explicit = Config(str(tmp_path), {"SECRET_KEY": "x", "RATELIMIT_STORAGE_URL": "redis://q/1"})
    assert explicit.RATELIMIT_STORAGE_URI == "redis://q/1"


def test_the_app_counts_in_the_database_by_default(client, user, db):
    from app.models import RateLimitCounter

    login(client, user.email, "wrong-password-xyz")
    keys = [row.key for row in db.session.scalars(select(RateLimitCounter))]
    assert any("account:clinician@example.org" in key for key in keys)
    assert any("127.0.0.1" in key for key in keys)
