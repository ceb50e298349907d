"""The OpenAPI document: served publicly, covers exactly the API routes, matches real answers."""

from __future__ import annotations

import re

import pytest
import schemathesis
from flask import Flask

from app.api.auth import SECURITY_SCHEME
from app.api.document import openapi_document
from tests.api.conftest import API, upload_data

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
IMPLICIT = {"HEAD", "OPTIONS"}  # added by Flask to every route; not part of the contract


@pytest.fixture
def document(client) -> dict:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


@pytest.fixture
def api_schema(app: Flask):
    return schemathesis.openapi.from_wsgi(f"{API}/openapi.json", app)


def _api_routes(app: Flask) -> dict[str, set[str]]:
    """{OpenAPI-style path relative to /api/v1: methods} from the app's URL map."""
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API + "/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(API):])
        routes.setdefault(path, set()).update(m for m in rule.methods if m not in IMPLICIT)
    return routes


def _documented(document: dict) -> dict[str, set[str]]:
    return {
        path: {m.upper() for m in item if m in HTTP_METHODS}
        for path, item in document["paths"].items()
    }


def test_document_is_public_openapi_3(document):
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] == "GliomaLens API" and document["info"]["version"]
    assert document["servers"] == [{"url": API}]


def test_served_document_is_the_one_the_fuzz_test_uses(app, document):
    with app.test_request_context():
        assert document == openapi_document(API)


def test_every_api_route_is_documented_and_nothing_else(app, document):
    assert _api_routes(app) == _documented(document)


def test_path_parameters_match_the_routes(document):
    for path, item in document["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        declared = set()
        for parameter in item.get("parameters", []):
            if "$ref" in parameter:
                parameter = document["components"]["parameters"][parameter["$ref"].split("/")[-1]]
            if parameter["in"] == "path":
                declared.add(parameter["name"])
        assert declared == names, path


def test_bearer_security_is_declared_and_only_the_document_is_public(document):
    assert document["components"]["securitySchemes"][SECURITY_SCHEME] == {
        "type": "http", "scheme": "bearer",
        "description": document["components"]["securitySchemes"][SECURITY_SCHEME]["description"],
    }
    assert document["security"] == [{SECURITY_SCHEME: []}]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            public = operation.get("security") == []
            assert public is (path == "/openapi.json"), (method, path)
            if not public:
                assert "401" in operation["responses"], (method, path)


def test_documented_statuses(document):
    statuses = {
        (method, path): set(operation["responses"])
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }
    assert statuses == {
        ("get", "/openapi.json"): {"200"},
        ("post", "/cases"): {"201", "400", "401", "413"},
        ("get", "/cases"): {"200", "400", "401"},
        ("get", "/cases/{case_id}"): {"200", "401", "404"},
        ("delete", "/cases/{case_id}"): {"204", "401", "404"},
        ("get", "/cases/{case_id}/files/{name}"): {"200", "401", "404"},
        ("post", "/cases/{case_id}/sequences"): {"202", "400", "401", "404", "409"},
        ("get", "/cases/{case_id}/files/report.pdf"): {"200", "401", "404"},
    }


def test_upload_is_multipart_with_four_binary_files(document):
    body = document["paths"]["/cases"]["post"]["requestBody"]
    schema = body["content"]["multipart/form-data"]["schema"]
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].split("/")[-1]]
    assert body["required"] is True
    assert schema["required"] == ["flair", "t1", "t1ce", "t2"]
    for seq in ("flair", "t1", "t1ce", "t2"):
        assert schema["properties"][seq] == {**schema["properties"][seq], "type": "string",
                                             "format": "binary"}
    assert schema["properties"]["pseudonym"]["maxLength"] == 64


def test_document_uses_the_script_root(app):
    # Behind a proxy that mounts the app under a prefix, the server URL follows it.
    response = app.test_client().get(f"{API}/openapi.json", base_url="http://localhost/gl")
    assert response.get_json()["servers"] == [{"url": f"/gl{API}"}]


# --- real answers conform to the document -------------------------------------------------

def _validate(api_schema, path: str, method: str, response) -> None:
    api_schema[path][method].validate_response(response)


def test_real_answers_conform(api_schema, api_client, client, done_case, case_factory,
                              nifti_case, app):
    done = done_case()
    failed = case_factory(status="failed", stage="failed", error_message="boom")
    running = case_factory(status="running", stage="classifying", percent=40)
    checks = [
        ("/cases/{case_id}", "GET", api_client.get(f"{API}/cases/{done.id}"), 200),
        ("/cases/{case_id}", "GET", api_client.get(f"{API}/cases/{failed.id}"), 200),
        ("/cases/{case_id}", "GET", api_client.get(f"{API}/cases/{running.id}"), 200),
        ("/cases/{case_id}", "GET", api_client.get(f"{API}/cases/{'0' * 32}"), 404),
        ("/cases/{case_id}", "GET", client.get(f"{API}/cases/{done.id}"), 401),
        ("/cases", "GET", api_client.get(f"{API}/cases"), 200),
        ("/cases", "GET", api_client.get(f"{API}/cases?per_page=500"), 400),
        ("/cases/{case_id}/files/{name}", "GET",
         api_client.get(f"{API}/cases/{done.id}/files/summary.json"), 200),
        ("/cases/{case_id}/files/{name}", "GET",
         api_client.get(f"{API}/cases/{done.id}/files/montage.png"), 200),
        ("/cases/{case_id}/files/{name}", "GET",
         api_client.get(f"{API}/cases/{done.id}/files/heatmap.nii.gz"), 200),
        ("/cases", "POST", api_client.post(f"{API}/cases", data=upload_data(nifti_case),
                                           content_type="multipart/form-data"), 201),
        ("/cases", "POST", api_client.post(f"{API}/cases", data={},
                                           content_type="multipart/form-data"), 400),
        ("/cases/{case_id}", "DELETE", api_client.delete(f"{API}/cases/{failed.id}"), 204),
    ]
    app.config["MAX_CONTENT_LENGTH"] = 2048
    checks.append(("/cases", "POST", api_client.post(f"{API}/cases", data=upload_data(nifti_case),
                                                     content_type="multipart/form-data"), 413))
    for path, method, response, status in checks:
        assert response.status_code == status, (path, method, response.get_data(as_text=True))
        _validate(api_schema, path, method, response)


def test_a_wrong_answer_would_be_caught(api_schema, api_client, done_case):
    # Guard against a validator that accepts anything: a result without its class is refused.
    response = api_client.get(f"{API}/cases/{done_case().id}")
    body = response.get_json()
    del body["result"]["class"]
    response.set_data(__import__("json").dumps(body))
    with pytest.raises(Exception, match="class"):
        _validate(api_schema, "/cases/{case_id}", "GET", response)
