"""`flask db upgrade` on an empty database gives exactly the models' schema."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine

from app import create_app
from app.extensions import db

ROOT = Path(__file__).resolve().parent.parent




@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrated.sqlite'}"
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("TEST_DATABASE_URL not set")
    return url


def test_upgrade_matches_models_and_downgrades_cleanly(database_url, tmp_path):
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "inst"),
                      "SQLALCHEMY_DATABASE_URI": database_url,
                      "STORAGE_DIR": str(tmp_path / "storage")})
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade()
        engine = create_engine(database_url)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        engine.dispose()
        assert diff == [], f"models and migrations differ: {diff}"
        downgrade(revision="base")
        db.engine.dispose()


def test_flask_db_upgrade_command_runs_on_an_empty_instance(tmp_path):
    env = {**os.environ, "INSTANCE_PATH": str(tmp_path / "inst")}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "inst" / "gliomalens.sqlite").is_file()


def test_upgrade_gives_old_users_a_token_and_forgets_client_file_names(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "inst"),
                      "SQLALCHEMY_DATABASE_URI": url, "STORAGE_DIR": str(tmp_path / "storage")})
    with app.app_context():
        upgrade(revision="edbf3943b335")
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO users (id, email, display_name, password_hash, role, active, "
                "created_at, failed_logins) VALUES (1, 'a@b.org', 'A', 'x', 'clinician', 1, "
                "'2026-01-01 00:00:00', 0)")
            conn.exec_driver_sql(
                "INSERT INTO cases (id, owner_id, created_at, updated_at, status, stage, "
                "percent, attempts) VALUES ('ab', 1, '2026-01-01', '2026-01-01', 'done', "
                "'done', 100, 1)")
            conn.exec_driver_sql(
                "INSERT INTO scans (case_id, sequence, stored_path, original_filename, sha256, "
                "shape, voxel_size, dtype, size_bytes) VALUES ('ab', 'flair', "
                "'cases/ab/scans/flair.nii.gz', 'John_Doe_1950-01-01_flair.nii.gz', 'x', "
                "'[1]', '[1]', 'int16', 1)")
        upgrade()
        with db.engine.connect() as conn:
            token, must_change = conn.exec_driver_sql(
                "SELECT session_token, must_change_password FROM users").one()
            name = conn.exec_driver_sql("SELECT original_filename FROM scans").scalar_one()
        db.engine.dispose()
    assert len(token) == 32 and not must_change
    assert name == "flair.nii.gz"
