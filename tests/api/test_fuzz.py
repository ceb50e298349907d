"""Property-based run of schemathesis against the OpenAPI document: no 500s, answers conform."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings

from tests.api.conftest import API, bearer

from app.api.openapi import openapi_document

# The document the app serves at /api/v1/openapi.json (test_openapi.py checks they are equal).
# schemathesis.pytest.from_fixture would load it from the running app, but its lazy loader
# relies on a pytest node attribute that pytest 9.2 removed, so the schema is built eagerly.
schema = schemathesis.openapi.from_dict(openapi_document(API))


class FreshContextApp:
    """WSGI wrapper giving each request its own app context, as a real server does.

    The test holds an app context of its own; without this, requests would share its `g` and
    its database session (see tests/conftest.py's IsolatedClient).
    """

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        with self.app.app_context():
            return list(self.app(environ, start_response))


@pytest.fixture
def wsgi_app(app: Flask, done_case) -> FreshContextApp:
    done_case()  # one real case, so listings are not always empty
    return FreshContextApp(app)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None,
          # One app (and database) per operation, shared by its examples, is the intent here.
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_api_conforms_and_never_answers_500(case, wsgi_app, token):
    excluded = []
    if (case.method, case.path) == ("POST", "/cases"):
        # The schema can say "four binary files" but not "four NIfTI images on one grid": random
        # bytes that fit the schema are rightly refused with the documented 400.
        excluded.append(schemathesis.checks.positive_data_acceptance)
    response = case.call_and_validate(app=wsgi_app, headers=bearer(token),
                                      excluded_checks=excluded)
    assert response.status_code < 500
