"""The result page of a needs_review case and its two answers (reassign, keep), and the compact
sequence calls of a finished case."""

from __future__ import annotations

import hashlib
import re

import pytest

from app import storage
from app.cases.sequences import (
    InvalidAssignment,
    NotUnderReview,
    reassign_sequences,
    validate_assignment,
)
from app.extensions import db
from app.models import AuditEvent, Case
from tests.factories import (
    SWAPPED_FLAIR_T2,
    make_prediction,
    make_sequence_check,
    make_summary,
)

AMBIGUOUS_T1_T1CE = {**SWAPPED_FLAIR_T2, "t1": [0.005, 0.5, 0.49, 0.005],
                     "t1ce": [0.005, 0.49, 0.5, 0.005]}


def _digests(case: Case) -> dict[str, str]:
    """Return {sequence: sha256 of the file stored for it}, read from disk."""
    return {scan.sequence: hashlib.sha256(
        storage.absolute_path(scan.stored_path).read_bytes()).hexdigest() for scan in case.scans}


def _actions(db_session, case_id: str) -> list[str]:
    return [e.action for e in db_session.scalars(
        db.select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id))]


def test_review_page_shows_message_table_montage_and_both_buttons(logged_in_client, review_case):
    case = review_case()
    page = logged_in_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'id="sequence-review"' in page and 'id="result-class"' not in page
    assert ("The file in the FLAIR slot looks like T2 (p = 0.98), the T2 slot looks like FLAIR"
            in page)
    rows = re.findall(r'<tr data-slot="(\w+)" data-suggested="(\w+)" data-p="([\d.]+)"', page)
    assert rows == [("flair", "t2", "0.980000"), ("t1", "t1", "0.970000"),
                    ("t1ce", "t1ce", "0.970000"), ("t2", "flair", "0.985000")]
    assert "98.0%" in page and "± 1.0" in page
    assert 'id="montage"' in page and "each labelled with its slot" in page
    assert "The files as uploaded</h2>" in page and "What the classifier saw" not in page
    assert f'action="/cases/{case.id}/sequences/reassign"' in page
    assert f'action="/cases/{case.id}/sequences/confirm"' in page
    assert "Reassign the files as suggested and re-run" in page
    assert "Keep my assignment and continue" in page
    assert 'id="t1-t1ce-note"' not in page
    assert 'class="badge badge-needs_review"' in page


def test_review_page_says_when_t1_and_t1ce_cannot_be_told_apart(logged_in_client, review_case):
    sequences = make_sequence_check(AMBIGUOUS_T1_T1CE)
    assert sequences["needs_review"] and sequences["t1_t1ce_ambiguous"]
    case = review_case(sequences)
    page = logged_in_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'id="t1-t1ce-note"' in page and "cannot be told apart" in page


def test_review_buttons_post_with_csrf_tokens(csrf_app, review_case, user):

    case = review_case()
    client = csrf_app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    client.post("/login", data={"email": user.email, "password": "correct-horse-battery",
                                "csrf_token": token})
    assert client.post(f"/cases/{case.id}/sequences/confirm").status_code == 400
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    forms = re.findall(r'<form method="post" action="([^"]+)"><input id="csrf_token" '
                       r'name="csrf_token" type="hidden" value="[^"]+">', page)
    assert f"/cases/{case.id}/sequences/reassign" in forms
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(f"/cases/{case.id}/sequences/confirm", data={"csrf_token": token})
    assert response.status_code == 302
    db.session.refresh(case)
    assert case.status == "queued" and case.sequences_confirmed


def test_reassign_moves_the_files_and_rows_then_requeues(logged_in_client, review_case):
    case = review_case()
    before = _digests(case)
    names = {scan.sequence: scan.original_filename for scan in case.scans}
    response = logged_in_client.post(f"/cases/{case.id}/sequences/reassign")
    assert response.status_code == 302 and response.location.endswith(f"/cases/{case.id}")
    db.session.refresh(case)
    assert case.status == "queued" and case.stage == "queued" and not case.sequences_confirmed
    after = _digests(case)
    assert after == {"flair": before["t2"], "t2": before["flair"],
                     "t1": before["t1"], "t1ce": before["t1ce"]}
    assert {scan.sequence: scan.original_filename for scan in case.scans} == {
        "flair": names["t2"], "t2": names["flair"], "t1": names["t1"], "t1ce": names["t1ce"]}
    for scan in case.scans:
        path = storage.absolute_path(scan.stored_path)
        assert path.name == f"{scan.sequence}.nii.gz"
    folder = storage.case_dir(case.id) / storage.SCANS_DIR
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{s}.nii.gz" for s in ("flair", "t1", "t1ce", "t2"))
    assert "case_sequences_reassign" in _actions(db.session, case.id)
    page = logged_in_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "moved to the suggested sequences" in page and 'id="processing"' in page


def test_confirm_sets_the_flag_and_requeues(logged_in_client, review_case):
    case = review_case()
    before = _digests(case)
    response = logged_in_client.post(f"/cases/{case.id}/sequences/confirm")
    assert response.status_code == 302
    db.session.refresh(case)
    assert case.status == "queued" and case.sequences_confirmed
    assert _digests(case) == before
    assert "case_sequences_confirm" in _actions(db.session, case.id)


@pytest.mark.parametrize("action", ["reassign", "confirm"])
def test_answers_refused_unless_needs_review(logged_in_client, case_factory, action):
    case = case_factory(status="done")
    make_prediction(case, make_summary(extra={"sequences": make_sequence_check()}))
    response = logged_in_client.post(f"/cases/{case.id}/sequences/{action}",
                                     follow_redirects=True)
    assert response.status_code == 200
    assert "not waiting for a sequence review" in response.get_data(as_text=True)
    db.session.refresh(case)
    assert case.status == "done" and not case.sequences_confirmed


def test_a_second_answer_is_refused(logged_in_client, review_case):
    case = review_case()
    assert logged_in_client.post(f"/cases/{case.id}/sequences/reassign").status_code == 302
    before = _digests(case)
    page = logged_in_client.post(f"/cases/{case.id}/sequences/reassign",
                                 follow_redirects=True).get_data(as_text=True)
    assert "not waiting for a sequence review" in page
    assert _digests(case) == before  # not swapped back


def test_other_users_get_404(app, review_case, other_user):
    from tests.conftest import login

    case = review_case()
    client = app.test_client()
    login(client, other_user.email)
    assert client.post(f"/cases/{case.id}/sequences/reassign").status_code == 404
    assert client.get(f"/cases/{case.id}").status_code == 404


def test_status_json_stops_the_poll_and_carries_each_slots_call(logged_in_client, review_case):
    case = review_case()
    data = logged_in_client.get(f"/cases/{case.id}/status").get_json()
    assert data["status"] == "needs_review"
    slots = data["result"]["sequences"]["slots"]
    assert {s: (c["detected"], c["probability"]) for s, c in slots.items()} == {
        "flair": ("t2", 0.98), "t1": ("t1", 0.97), "t1ce": ("t1ce", 0.97),
        "t2": ("flair", 0.985)}
    assert data["result"]["outcome"] == "needs_review" and data["result"]["class"] is None


def test_the_waiting_page_knows_needs_review_is_finished(logged_in_client, case_factory):
    case = case_factory(status="running")
    page = logged_in_client.get(f"/cases/{case.id}").get_data(as_text=True)
    statuses = re.search(r'data-finished-statuses="([^"]*)"', page).group(1).split()
    assert sorted(statuses) == ["done", "failed", "needs_review"]


def test_done_case_shows_each_slots_call_and_the_confirmation(logged_in_client, case_factory):
    case = case_factory()
    make_prediction(case, make_summary(
        extra={"sequences": make_sequence_check(confirmed=True)}))
    page = logged_in_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'id="result-class"' in page and 'id="sequence-review"' not in page
    calls = re.findall(r'<li data-slot="(\w+)" data-p="([\d.]+)"( class="mismatch")?>', page)
    assert [(s, p, bool(m)) for s, p, m in calls] == [
        ("flair", "0.980000", True), ("t1", "0.970000", False), ("t1ce", "0.970000", False),
        ("t2", "0.985000", True)]
    assert "FLAIR slot: looks like T2 98.0%" in page
    assert 'id="sequences-confirmed"' in page and "You kept your assignment" in page


def test_done_case_with_matching_slots_says_nothing_more(logged_in_client, case_factory):
    table = {"flair": [0.99, 0, 0, 0.01], "t1": [0, 0.99, 0.01, 0], "t1ce": [0, 0.01, 0.99, 0],
             "t2": [0.01, 0, 0, 0.99]}
    case = case_factory()
    make_prediction(case, make_summary(extra={"sequences": make_sequence_check(table)}))
    page = logged_in_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'id="sequence-calls"' in page and 'class="mismatch"' not in page
    assert 'id="sequences-confirmed"' not in page and 'id="sequences-note"' not in page


def test_done_case_without_a_sequence_check_has_no_section(logged_in_client, case_factory):
    case = case_factory()
    make_prediction(case)
    page = logged_in_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'id="sequence-calls"' not in page
    assert logged_in_client.get(f"/cases/{case.id}/status").get_json()["result"][
        "sequences"] is None


@pytest.mark.parametrize("assignment, words", [
    (None, "object mapping each slot"),
    ({"flair": "t2", "t2": "flair"}, "name each slot exactly once"),
    ({"flair": "t2", "t1": "t1", "t1ce": "t1ce", "T2": "flair"}, "name each slot exactly once"),
    ({"flair": "t2", "t1": "t1", "t1ce": "t1ce", "t2": "t2"}, "a different sequence"),
    ({"flair": "t2", "t1": "t1", "t1ce": "t1ce", "t2": "dwi"}, "a different sequence"),
    ({"flair": "flair", "t1": "t1", "t1ce": "t1ce", "t2": "t2"}, "moves no file"),
])
def test_validate_assignment_refuses_what_is_not_a_permutation(assignment, words):
    with pytest.raises(InvalidAssignment, match=words):
        validate_assignment(assignment)


def test_reassign_with_a_rotation_of_all_four(app, review_case, user):
    case = review_case()
    before = _digests(case)
    rotation = {"flair": "t1", "t1": "t1ce", "t1ce": "t2", "t2": "flair"}
    assert reassign_sequences(case, user.id, rotation) == rotation
    db.session.refresh(case)
    assert _digests(case) == {new: before[old] for old, new in rotation.items()}
    with pytest.raises(NotUnderReview):
        reassign_sequences(case, user.id, rotation)


def test_a_failed_move_leaves_files_and_rows_as_they_were(app, review_case, user, monkeypatch):
    import app.cases.sequences as module

    case = review_case()
    before = _digests(case)
    calls = {"n": 0}
    real = module.os.replace

    def flaky(src, dst):
        calls["n"] += 1
        if calls["n"] == 3:  # after both files went to temporary names, one final rename fails
            raise OSError("disk trouble")
        return real(src, dst)

    monkeypatch.setattr(module.os, "replace", flaky)
    with pytest.raises(OSError):
        reassign_sequences(case, user.id)
    monkeypatch.setattr(module.os, "replace", real)
    db.session.refresh(case)
    assert case.status == "needs_review" and case.stage == "needs_review"
    assert _digests(case) == before
    folder = storage.case_dir(case.id) / storage.SCANS_DIR
    assert not [p for p in folder.iterdir() if p.name.endswith(".moving")]


def test_a_spread_that_rounds_to_zero_gets_no_plus_minus(app, case_factory):
    from app.cases.results import _sequence_check

    section = make_sequence_check()
    section["slots"]["t1"]["spread"] = 0.0004
    section["slots"]["t2"]["spread"] = 0.0
    calls = {c.slot: c for c in _sequence_check(section).calls}
    assert calls["t1"].spread is None and calls["t2"].spread is None
    assert calls["flair"].spread == "1.0"


def test_a_claim_left_behind_is_retaken_after_a_while(app, review_case, user):
    from datetime import timedelta

    from app.cases.sequences import ANSWERING_STAGE, STALE_CLAIM, confirm_sequences
    from app.models.base import utcnow

    case = review_case()
    case.stage = ANSWERING_STAGE  # a request that crashed half-way
    db.session.commit()
    with pytest.raises(NotUnderReview):
        confirm_sequences(case, user.id)
    db.session.execute(db.update(Case).where(Case.id == case.id).values(
        updated_at=utcnow() - STALE_CLAIM - timedelta(seconds=1)))
    db.session.commit()
    confirm_sequences(case, user.id)
    db.session.refresh(case)
    assert case.status == "queued" and case.sequences_confirmed
