"""/healthz for load balancers, and a clear 503 when the database is gone."""

from __future__ import annotations

import os
from pathlib import Path

from app.extensions import db as _db
from app.models import WorkerStatus
from app.models.base import utcnow


def test_healthz_without_worker_is_degraded_but_serving(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True, "storage": True, "broker": True, "workers": False}


def test_healthz_with_a_recent_worker_is_ok(client, db):
    db.session.add(WorkerStatus(hostname="celery@gpu0", pid=1, last_seen_at=utcnow()))
    db.session.commit()
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["checks"]["workers"]["online"] == 1


def test_healthz_fails_when_storage_is_not_writable(client, app):
    root = Path(app.config["STORAGE_DIR"])
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o500)
    try:
        if os.access(root, os.W_OK):  # root ignores permissions: use a file where the folder is
            root.chmod(0o700)
            root.rmdir()
            root.write_text("not a folder")
        response = client.get("/healthz")
    finally:
        if root.is_dir():
            root.chmod(0o700)
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "fail" and body["checks"]["storage"]["ok"] is False


def _make_database_vanish(app) -> None:
    path = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    _db.session.remove()
    _db.engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.mkdir()  # SQLite cannot open a folder: the database is unreachable


def test_database_gone_gives_a_clear_503_page(logged_in_client, app):
    _make_database_vanish(app)
    response = logged_in_client.get("/cases")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "The database cannot be reached right now" in response.get_data(as_text=True)
    health = logged_in_client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["checks"]["database"]["ok"] is False


def test_database_gone_answers_json_to_fetch(client, app):
    _make_database_vanish(app)
    response = client.get("/cases", headers={"Accept": "application/json"})
    assert response.status_code in (302, 503)  # anonymous: the login redirect needs no database
    login_page = client.post("/login", data={"email": "a@b.org", "password": "x" * 12},
                             headers={"Accept": "application/json"})
    assert login_page.status_code == 503
    assert "database cannot be reached" in login_page.get_json()["error"]
