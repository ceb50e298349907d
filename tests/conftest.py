"""Shared fixtures: app -> client / runner -> db -> users -> logged-in clients; NIfTI makers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app import create_app
from app.config import TestConfig
from app.extensions import db as _db
from tests.factories import DEFAULT_PASSWORD, make_case, make_user

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in its own app context, like a real server.

    The test itself holds an app context (for factories and queries); without this, requests
    would share its `g` (and Flask-Login's cached user) and its database session.
    """

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)  # read and close file responses at once
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        # Werkzeug spools a large multipart body to a temporary file it never closes.
        body = response.request.environ.get("wsgi.input") if response.request else None
        if body is not None:
            body.close()
        _db.session.expire_all()  # the test's session must see what the request committed
        return response


def _test_app(tmp_path: Path, database_url: str | None = None,
              **overrides: object) -> Iterator[Flask]:
    """Yield a fresh app (own instance folder, in-memory broker) with empty tables.

    The database is a SQLite file of its own, or `database_url` (emptied before and after).
    """
    instance = tmp_path / "instance"
    app = create_app({
        **{k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()},
        "INSTANCE_PATH": str(instance),
        "SQLALCHEMY_DATABASE_URI": database_url or f"sqlite:///{instance / 'test.sqlite'}",
        "STORAGE_DIR": str(tmp_path / "storage"),
        "CELERY": {"broker_url": "memory://"},
        **overrides,
    })
    app.test_client_class = IsolatedClient
    with app.app_context():
        if database_url:
            _db.drop_all()
        _db.create_all()
        yield app
        _db.session.remove()
        if database_url:
            _db.drop_all()
        _db.engine.dispose()


BOTH_DATABASES = ("sqlite", "postgresql")
"""Params of a `database` fixture for tests that run on both (tests/api, access, upload)."""


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A private PostgreSQL database for this test session, made on TEST_DATABASE_URL's server.

    None when TEST_DATABASE_URL is not set; fails (never skips) when it is set but unreachable.
    Where the account may not create databases, TEST_DATABASE_URL's own database is used.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ProgrammingError

    url = require_service_url("TEST_DATABASE_URL")
    if not url:
        yield None
        return
    base = make_url(url)
    private = f"{base.database}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{private}"'))
    except ProgrammingError:  # no CREATEDB right (a CI service): use the given database
        admin.dispose()
        yield url
        return
    yield base.set(database=private).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{private}" WITH (FORCE)'))
    admin.dispose()


def database_for(request: pytest.FixtureRequest) -> str | None:
    """Return the app's database URL for the `database` param of `request`.

    "sqlite": None (a file per test); "postgresql": the session's private PostgreSQL database,
    skipping the test when TEST_DATABASE_URL is not set and failing it when it is unreachable.
    """
    if request.param == "sqlite":
        return None
    postgres = request.getfixturevalue("postgres_url")
    if postgres is None:
        pytest.skip("TEST_DATABASE_URL not set")
    return postgres


@pytest.fixture
def database() -> str | None:
    """The app's database URL: None, a SQLite file per test (overridden with BOTH_DATABASES)."""
    return None


@pytest.fixture
def app(tmp_path: Path, database: str | None) -> Iterator[Flask]:
    """A fresh app with CSRF off (forms are posted without tokens in most tests)."""
    yield from _test_app(tmp_path, database)


@pytest.fixture
def csrf_app(tmp_path: Path) -> Iterator[Flask]:
    """An app with CSRF protection on, as in production."""
    yield from _test_app(tmp_path, WTF_CSRF_ENABLED=True)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def db(app: Flask):
    return _db


@pytest.fixture
def user(db):
    return make_user(email="clinician@example.org")


@pytest.fixture
def other_user(db):
    return make_user(email="other@example.org")


@pytest.fixture
def admin(db):
    return make_user(email="admin@example.org", role="admin")


def login(client: FlaskClient, email: str, password: str = DEFAULT_PASSWORD):
    """Log `client` in through the real form; returns the response."""
    return client.post("/login", data={"email": email, "password": password})


@pytest.fixture
def logged_in_client(app: Flask, user) -> FlaskClient:
    client = app.test_client()
    assert login(client, user.email).status_code == 302
    return client


@pytest.fixture
def admin_client(app: Flask, admin) -> FlaskClient:
    client = app.test_client()
    assert login(client, admin.email).status_code == 302
    return client


@pytest.fixture
def case_factory(db, user) -> Callable[..., object]:
    def factory(**kwargs):
        kwargs.setdefault("owner", user)
        return make_case(**kwargs)

    return factory


def write_nifti(
    path: Path,
    shape: tuple[int, ...] = (24, 24, 16),
    affine: np.ndarray | None = None,
    seed: int = 0,
    dtype: type = np.int16,
) -> Path:
    """Write a small brain-like NIfTI (a bright ellipsoid in noise) and return its path."""
    rng = np.random.default_rng(seed)
    data = np.zeros(shape, dtype=np.float32)
    grid = np.indices(shape[:3]).astype(np.float32)
    centre = [(s - 1) / 2 for s in shape[:3]]
    radius = [s / 2.5 for s in shape[:3]]
    inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radius, strict=True)) <= 1
    body = np.where(inside, 300 + 50 * rng.standard_normal(shape[:3]), 0)
    data = body if len(shape) == 3 else np.repeat(body[..., None], shape[3], axis=3)
    img = nib.Nifti1Image(data.astype(dtype), np.eye(4) if affine is None else affine)
    nib.save(img, str(path))
    return path


@pytest.fixture
def nifti_case(tmp_path: Path) -> dict[str, Path]:
    """Four valid small co-registered .nii.gz files named like CPM-RadPath."""
    folder = tmp_path / "upload"
    folder.mkdir()
    return {
        seq: write_nifti(folder / f"CASE01_{seq}.nii.gz", seed=i)
        for i, seq in enumerate(("flair", "t1", "t1ce", "t2"))
    }


@pytest.fixture(scope="session")
def phantom_files(tmp_path_factory) -> dict[str, dict[str, Path]]:
    """Three BraTS-size phantom cases (A, O, G) written as CPM-RadPath files, made once."""
    from app.pipeline.synthetic.phantoms import generate_case, write_case

    folder = tmp_path_factory.mktemp("phantoms")
    cases = {}
    for i, cls in enumerate(("A", "O", "G")):
        cid = f"PHANTOM_{cls}"
        write_case(generate_case(cls, 1000 + i), folder, cid)
        cases[cls] = {seq: folder / f"{cid}_{seq}.nii.gz" for seq in ("flair", "t1", "t1ce", "t2")}
    return cases


def require_service_url(name: str) -> str | None:
    """Return the URL in env var `name`, failing the test if it is set but unreachable."""
    url = os.environ.get(name)
    if not url:
        return None
    if url.startswith("redis"):
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=3).ping()
        except Exception as exc:  # any failure means unreachable
            pytest.fail(f"{name}={url} is set but Redis is unreachable: {exc}")
    else:
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure means unreachable
            pytest.fail(f"{name}={url} is set but the database is unreachable: {exc}")
        finally:
            engine.dispose()
    return url


@pytest.fixture
def review_case(user, nifti_case) -> Callable[..., object]:
    """Make a case of `user` stored through the real upload path (files on disk, Scan rows),
    stopped in needs_review by a sequence check (default: FLAIR and T2 swapped)."""
    from app.cases.uploads import UploadedFile, store_upload
    from tests.factories import make_review, write_artefacts

    def factory(sequences: dict | None = None, owner=None):
        files = {s: UploadedFile(p.name, p.open("rb")) for s, p in nifti_case.items()}
        try:
            case = store_upload(files, (owner or user).id)
        finally:
            for f in files.values():
                f.stream.close()
        make_review(case, sequences)
        write_artefacts(case, ("montage.png", "summary.json"))
        return case

    return factory
