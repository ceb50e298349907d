"""The OpenAPI 3.1 description of the REST API, served at /api/v1/openapi.json.

Schemas of the bodies come from app/api/schemas.py, next to the code that produces them; a test
checks that every API route is described here with its methods, and that nothing else is.
"""

from __future__ import annotations

from typing import Any

from app.api.schemas import (
    COMPONENT_SCHEMAS,
    DEFAULT_PER_PAGE,
    DISCLAIMER,
    MAX_PAGE,
    MAX_PER_PAGE,
    PSEUDONYM_MAX_LENGTH,
    PSEUDONYM_PATTERN,
)
from app.pipeline.artefacts import ARTEFACTS
from app.pipeline.sequences import SEQUENCE_LABELS, SEQUENCES

API_VERSION = "1.0.0"
OPENAPI_VERSION = "3.1.0"
SECURITY_SCHEME = "bearerAuth"
EXAMPLE_CASE_ID = "3f2b8c1d9e4a4b6f8a7c5d2e1f0a9b8c"

DESCRIPTION = f"""\
Upload the four MRI sequences of one patient (FLAIR, T1, T1ce, T2; co-registered NIfTI, as in
BraTS / CPM-RadPath), poll the analysis, and fetch the glioma class (A, O, G) with its
probabilities, uncertainty and artefacts.

Authenticate with a personal API token (account page, or `flask users token EMAIL`) sent as
`Authorization: Bearer <token>`. Cookies are not accepted. Errors answer
`{{"error", "status"}}`, plus `field` for refused input.

{DISCLAIMER} Results of the demo model carry this text in `result.disclaimer`.
"""

ARTEFACT_TYPES = {
    "image/png": "montage.png, gradcam.png, montage_neurological.png, gradcam_neurological.png",
    "application/gzip": "candidate_mask.nii.gz, heatmap.nii.gz (NIfTI-1, gzip)",
    "application/json": "summary.json (the pipeline's whole summary)",
}


def _json(schema_name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json("Error")}


def _response(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _parameter(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _components() -> dict[str, Any]:
    return {
        "securitySchemes": {
            SECURITY_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "description": "A personal API token, created on the account page or with "
                "`flask users token EMAIL`; shown once, stored hashed, revocable.",
            }
        },
        "schemas": COMPONENT_SCHEMAS,
        "parameters": {
            "CaseId": {
                "name": "case_id",
                "in": "path",
                "required": True,
                "description": "The case id returned by the upload.",
                "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                "example": EXAMPLE_CASE_ID,
            },
        },
        "responses": {
            "BadRequest": _error("Refused input; `field` names the field at fault."),
            "Unauthorized": {
                "description": "No token, an unknown or revoked token, or a disabled account.",
                "headers": {
                    "WWW-Authenticate": {
                        "description": "The Bearer challenge (RFC 6750).",
                        "schema": {"type": "string"},
                    }
                },
                "content": _json("Error"),
            },
            "NotFound": _error("No such case, or not yours to see (the same answer for both)."),
            "TooLarge": _error("The request is larger than the server's upload limit."),
        },
    }


def _upload_body() -> dict[str, Any]:
    files = {
        sequence: {
            "type": "string",
            "format": "binary",
            "description": f"The {SEQUENCE_LABELS[sequence]} image (.nii or .nii.gz).",
        }
        for sequence in SEQUENCES
    }
    pseudonym = {
        "type": "string",
        "maxLength": PSEUDONYM_MAX_LENGTH,
        "pattern": PSEUDONYM_PATTERN,
        "description": "Optional patient pseudonym (no real names): letters, digits, spaces, "
        "dots, dashes.",
    }
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {**files, "pseudonym": pseudonym},
                    "required": list(SEQUENCES),
                }
            }
        },
    }


def _cases_path() -> dict[str, Any]:
    return {
        "post": {
            "operationId": "createCase",
            "tags": ["cases"],
            "summary": "Upload one patient's four sequences and queue the analysis",
            "description": "The files are checked as on the upload page (NIfTI content, 3D, "
            "at most 512 voxels per side, one shared voxel grid). A refused upload keeps "
            "nothing.",
            "requestBody": _upload_body(),
            "responses": {
                "201": {
                    "description": "The case is stored and queued.",
                    "headers": {
                        "Location": {
                            "description": "The URL of the new case.",
                            "schema": {"type": "string"},
                        }
                    },
                    "content": _json("CaseCreated"),
                    "links": {
                        "GetCase": {
                            "operationId": "getCase",
                            "parameters": {"case_id": "$response.body#/id"},
                        },
                        "DeleteCase": {
                            "operationId": "deleteCase",
                            "parameters": {"case_id": "$response.body#/id"},
                        },
                    },
                },
                "400": _response("BadRequest"),
                "401": _response("Unauthorized"),
                "413": _response("TooLarge"),
            },
        },
        "get": {
            "operationId": "listCases",
            "tags": ["cases"],
            "summary": "List the caller's cases (all cases for an admin), newest first",
            "parameters": [
                {
                    "name": "page",
                    "in": "query",
                    "required": False,
                    "description": "Page number; past the last page, `items` is empty.",
                    "schema": {
                        "type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1,
                    },
                },
                {
                    "name": "per_page",
                    "in": "query",
                    "required": False,
                    "description": "Cases per page.",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_PER_PAGE,
                        "default": DEFAULT_PER_PAGE,
                    },
                },
            ],
            "responses": {
                "200": {"description": "One page of cases.", "content": _json("CasePage")},
                "400": _response("BadRequest"),
                "401": _response("Unauthorized"),
            },
        },
    }


def _case_path() -> dict[str, Any]:
    return {
        "parameters": [_parameter("CaseId")],
        "get": {
            "operationId": "getCase",
            "tags": ["cases"],
            "summary": "Progress of a case; its result once done, its error once failed",
            "description": "Poll until `status` is `done` or `failed`. `result` is null until "
            "then; `files` lists the artefacts that exist.",
            "responses": {
                "200": {"description": "The case.", "content": _json("Case")},
                "401": _response("Unauthorized"),
                "404": _response("NotFound"),
            },
        },
        "delete": {
            "operationId": "deleteCase",
            "tags": ["cases"],
            "summary": "Delete a case with its uploaded files and artefacts",
            "responses": {
                "204": {"description": "Deleted."},
                "401": _response("Unauthorized"),
                "404": _response("NotFound"),
            },
        },
    }


def _file_path() -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    return {
        "parameters": [
            _parameter("CaseId"),
            {
                "name": "name",
                "in": "path",
                "required": True,
                "description": "The artefact's file name.",
                "schema": {"type": "string", "enum": list(ARTEFACTS)},
            },
        ],
        "get": {
            "operationId": "getCaseFile",
            "tags": ["cases"],
            "summary": "Download an artefact of a finished case",
            "description": "404 for an unknown name, and before the worker has written it.",
            "responses": {
                "200": {
                    "description": "The file: "
                    + "; ".join(f"{kind} for {names}" for kind, names in ARTEFACT_TYPES.items()),
                    "content": {
                        "image/png": {"schema": binary},
                        "application/gzip": {"schema": binary},
                        "application/json": {"schema": {"type": "object"}},
                    },
                },
                "401": _response("Unauthorized"),
                "404": _response("NotFound"),
            },
        },
    }


def _openapi_path() -> dict[str, Any]:
    return {
        "get": {
            "operationId": "getOpenApi",
            "tags": ["meta"],
            "summary": "This OpenAPI document (no token needed)",
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI 3.1 document.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }


def openapi_document(base_url: str = "/api/v1") -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of the API, with `base_url` as its only server.

    Paths are relative to `base_url`, the API's mount point (e.g. "/api/v1").
    """
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "GliomaLens API",
            "version": API_VERSION,
            "description": DESCRIPTION,
        },
        "servers": [{"url": base_url}],
        "security": [{SECURITY_SCHEME: []}],
        "tags": [
            {"name": "cases", "description": "Upload, poll, list and delete cases."},
            {"name": "meta", "description": "About the API itself."},
        ],
        "paths": {
            "/openapi.json": _openapi_path(),
            "/cases": _cases_path(),
            "/cases/{case_id}": _case_path(),
            "/cases/{case_id}/files/{name}": _file_path(),
        },
        "components": _components(),
    }
