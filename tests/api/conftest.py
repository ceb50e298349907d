"""API fixtures: personal tokens, clients that send them, finished cases with artefacts."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import ApiToken, Case, User
from tests.conftest import BOTH_DATABASES, database_for
from tests.factories import make_prediction, make_summary, write_artefacts

API = "/api/v1"
SEQS = ("flair", "t1", "t1ce", "t2")

SUMMARY = make_summary()


@pytest.fixture(params=BOTH_DATABASES)
def database(request) -> str | None:
    """Run these tests on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL."""
    return database_for(request)


class FreshContextApp:
    """WSGI app forwarding to `target` (a Flask app), each request in a fresh app context.

    A test holds an app context of its own; without a fresh one per request, requests would
    share its `g` and its database session, as a real server never does (see IsolatedClient).
    """

    def __init__(self, target: Flask | None = None) -> None:
        self.target = target

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if self.target is None:
            raise RuntimeError("no Flask app to forward to")
        with self.target.app_context():
            body = self.target(environ, start_response)
            try:
                return list(body)
            finally:
                if hasattr(body, "close"):  # WSGI: close what we iterated (file responses)
                    body.close()


def issue_token(user: User, name: str = "test") -> str:
    """Create and commit a token for `user`; return the plain token."""
    row, plain = ApiToken.issue(user.id, name)
    db.session.add(row)
    db.session.commit()
    return plain


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client_with_token(app: Flask, token: str) -> FlaskClient:
    """A test client that sends `token` as a bearer token on every request (no cookies)."""
    client = app.test_client(use_cookies=False)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def upload_data(paths: dict[str, Path], **overrides) -> dict:
    """Multipart form data for POST /api/v1/cases from files on disk (overrides replace fields)."""
    data = {seq: (io.BytesIO(Path(p).read_bytes()), Path(p).name) for seq, p in paths.items()}
    data.update(overrides)
    return data


@pytest.fixture
def token(user) -> str:
    return issue_token(user)


@pytest.fixture
def other_token(other_user) -> str:
    return issue_token(other_user)


@pytest.fixture
def admin_token(admin) -> str:
    return issue_token(admin)


@pytest.fixture
def auth_headers(token) -> dict[str, str]:
    return bearer(token)


@pytest.fixture
def api_client(app, token) -> FlaskClient:
    """The `user` fixture's client, authenticated with a bearer token only."""
    return client_with_token(app, token)


@pytest.fixture
def done_case(case_factory) -> Callable[..., Case]:
    """Make a finished case of `user` (or `owner`) with a full summary and its artefacts."""

    def factory(demo: bool = True, **kwargs) -> Case:
        case = case_factory(**kwargs)
        make_prediction(case, demo=demo)
        write_artefacts(case)
        return case

    return factory
