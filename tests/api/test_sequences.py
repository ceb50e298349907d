"""POST /api/v1/cases/<id>/sequences: the API's answer to a sequence review."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Case
from tests.api.conftest import API
from tests.factories import make_prediction, make_sequence_check, make_summary

SWAP = {"flair": "t2", "t1": "t1", "t1ce": "t1ce", "t2": "flair"}


def _sequences_by_slot(case: Case) -> dict[str, str]:
    return {scan.original_filename: scan.sequence for scan in case.scans}


def test_case_resource_carries_each_slots_call(api_client, review_case):
    case = review_case()
    body = api_client.get(f"{API}/cases/{case.id}").get_json()
    assert body["status"] == "needs_review"
    sequences = body["result"]["sequences"]
    assert sequences["assignment"] == SWAP and sequences["needs_review"]
    assert sequences["slots"]["flair"]["detected"] == "t2"
    assert sequences["slots"]["flair"]["probability"] == 0.98
    assert body["result"]["message"].startswith("The file in the FLAIR slot looks like T2")


def test_reassign_as_suggested(api_client, review_case):
    case = review_case()
    before = _sequences_by_slot(case)
    response = api_client.post(f"{API}/cases/{case.id}/sequences", json={"action": "reassign"})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["id"] == case.id and body["status"] == "queued" and body["result"] is None
    db.session.refresh(case)
    assert _sequences_by_slot(case) == {name: SWAP[seq] for name, seq in before.items()}


def test_reassign_with_an_assignment(api_client, review_case):
    case = review_case()
    before = _sequences_by_slot(case)
    rotation = {"flair": "t1", "t1": "t1ce", "t1ce": "t2", "t2": "flair"}
    response = api_client.post(f"{API}/cases/{case.id}/sequences",
                               json={"action": "reassign", "assignment": rotation})
    assert response.status_code == 202
    db.session.refresh(case)
    assert _sequences_by_slot(case) == {name: rotation[seq] for name, seq in before.items()}


def test_confirm(api_client, review_case):
    case = review_case()
    response = api_client.post(f"{API}/cases/{case.id}/sequences", json={"action": "confirm"})
    assert response.status_code == 202
    db.session.refresh(case)
    assert case.sequences_confirmed and case.status == "queued"


@pytest.mark.parametrize("body, words", [
    ({"action": "reassign", "assignment": {"flair": "t2", "t2": "flair"}},
     "name each slot exactly once"),
    ({"action": "reassign", "assignment": {**SWAP, "t1": "t2"}}, "a different sequence"),
    ({"action": "reassign", "assignment": {s: s for s in SWAP}}, "moves no file"),
    ({"action": "reassign", "assignment": ["t2", "t1", "t1ce", "flair"]}, "Not a valid mapping"),
    ({"action": "confirm", "assignment": SWAP}, "with action reassign only"),
])
def test_bad_assignments_answer_400_naming_the_field(api_client, review_case, body, words):
    case = review_case()
    response = api_client.post(f"{API}/cases/{case.id}/sequences", json=body)
    assert response.status_code == 400
    error = response.get_json()
    assert error["field"] == "assignment" and words in error["error"], error
    db.session.refresh(case)
    assert case.status == "needs_review"


@pytest.mark.parametrize("body, field", [
    ({"action": "swap"}, "action"), ({}, "action"), ({"action": "confirm", "x": 1}, "x"),
])
def test_bad_actions_answer_400(api_client, review_case, body, field):
    case = review_case()
    response = api_client.post(f"{API}/cases/{case.id}/sequences", json=body)
    assert response.status_code == 400 and response.get_json()["field"] == field


@pytest.mark.parametrize("action", ["reassign", "confirm"])
def test_409_unless_needs_review(api_client, case_factory, action):
    case = case_factory(status="done")
    make_prediction(case, make_summary(extra={"sequences": make_sequence_check()}))
    response = api_client.post(f"{API}/cases/{case.id}/sequences", json={"action": action})
    assert response.status_code == 409
    assert "not waiting for a sequence review" in response.get_json()["error"]


def test_owner_only(app, review_case, other_token):
    from tests.api.conftest import client_with_token

    case = review_case()
    client = client_with_token(app, other_token)
    response = client.post(f"{API}/cases/{case.id}/sequences", json={"action": "confirm"})
    assert response.status_code == 404
    db.session.refresh(case)
    assert case.status == "needs_review"


def test_needs_a_token(app, review_case):
    case = review_case()
    response = app.test_client().post(f"{API}/cases/{case.id}/sequences",
                                      json={"action": "confirm"})
    assert response.status_code == 401


def test_documented(api_client):
    document = api_client.get(f"{API}/openapi.json").get_json()
    operation = document["paths"]["/cases/{case_id}/sequences"]["post"]
    assert operation["operationId"] == "answerSequenceReview"
    assert {"202", "400", "404", "409"} <= set(operation["responses"])
    sequences = document["components"]["schemas"]["Result"]["properties"]["sequences"]
    assert sequences  # a declared schema, not a free-form dict
    assert "SequenceSlot" in document["components"]["schemas"]


def test_answers_are_audited_as_api(api_client, review_case):
    from app.models import AuditEvent

    case = review_case()
    api_client.post(f"{API}/cases/{case.id}/sequences", json={"action": "reassign"})
    event = db.session.scalars(db.select(AuditEvent).where(
        AuditEvent.action == "case_sequences_reassign")).one()
    assert event.case_id == case.id and event.detail == "api: FLAIR -> T2, T2 -> FLAIR"


@pytest.mark.parametrize("body", [b"\x00", b"{", b"not json"])
def test_a_body_that_is_not_json_answers_400(api_client, review_case, body):
    case = review_case()
    response = api_client.post(f"{API}/cases/{case.id}/sequences", data=body,
                               content_type="application/json")
    assert response.status_code == 400
    error = response.get_json()
    assert error["error"] == "Invalid JSON body." and error["field"] is None
