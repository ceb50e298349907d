"""Property-based run of schemathesis against the OpenAPI document: no 500s, answers conform."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings

from app import create_app
from app.api.auth import SECURITY_SCHEME
from app.api.document import EXAMPLE_CASE_ID, openapi_document
from app.config import TestConfig
from app.extensions import db
from app.models import ApiToken
from app.models.token import hash_token
from tests.api.conftest import API, FreshContextApp

# A real token of the `user` fixture (the fixture below stores its hash); schemathesis sends
# it itself, so it also knows which requests it sent without one.
FUZZ_TOKEN = "gl_fuzz-" + secrets.token_urlsafe(24)
# Requests go to the running test's app, which `fuzzed_app` plugs in.
CURRENT_APP = FreshContextApp()



def _served_document() -> dict:
    """The document an app serves at /api/v1/openapi.json (generated when the app is made)."""
    with tempfile.TemporaryDirectory() as instance:
        app = create_app({**{k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()},
                          "INSTANCE_PATH": instance, "STORAGE_DIR": f"{instance}/storage",
                          "CELERY": {"broker_url": "memory://"}})
        with app.test_request_context():
            return openapi_document(API)


# test_openapi.py checks that the served document equals openapi_document(API).
# schemathesis.pytest.from_fixture would load it from each test's app, but its lazy loader
# relies on a pytest node attribute that pytest 9.2 removed; so the schema is built eagerly.
config = schemathesis.Config.from_dict(
    {"auth": {"openapi": {SECURITY_SCHEME: {"bearer": FUZZ_TOKEN}}}}
)
schema = schemathesis.openapi.from_dict(_served_document(), config=config)
schema.app = CURRENT_APP


@pytest.fixture
def fuzzed_app(app: Flask, user, done_case) -> Iterator[Flask]:
    row, _ = ApiToken.issue(user.id, "fuzz")
    row.token_hash = hash_token(FUZZ_TOKEN)
    db.session.add(row)
    db.session.commit()
    # A finished case with the document's example id, so that the examples and coverage phases
    # read, download and delete a real case instead of only meeting 404s.
    done_case(id=EXAMPLE_CASE_ID)
    # The fuzzer sends hundreds of requests from one address: lift the throttles (tested in
    # tests/auth/test_throttling.py); the document does not list their 429 yet.
    app.config.update(UPLOAD_LIMIT="100000/hour", API_TOKEN_LIMIT="100000/hour")
    CURRENT_APP.target = app
    yield app
    CURRENT_APP.target = None


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None,
          # One app (and database) per operation, shared by its examples, is the intent here.
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_api_conforms_and_never_answers_500(case, fuzzed_app):
    excluded = []
    if (case.method, case.path) == ("POST", "/cases"):
        # The schema can say "four binary files" but not "four NIfTI images on one grid": random
        # bytes that fit the schema are rightly refused with the documented 400.
        excluded.append(schemathesis.checks.positive_data_acceptance)
    if (case.method, case.path) == ("POST", "/cases/{case_id}/sequences"):
        # Likewise "each slot a sequence" but not "each sequence once" (a permutation that moves
        # a file): the documented 400 refuses the rest (tests/api/test_sequences.py).
        excluded.append(schemathesis.checks.positive_data_acceptance)
    response = case.call_and_validate(excluded_checks=excluded)
    assert response.status_code < 500
