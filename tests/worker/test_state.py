"""The case state machine: one `requeue` for re-runs, transient errors and lost workers."""

import pytest

from app.models import AuditEvent
from app.worker.state import (
    MAX_ATTEMPTS,
    Claim,
    Requeue,
    claim_case,
    may_try_again,
    requeue,
)


def test_the_attempt_cap_allows_exactly_max_attempts_claims(case_factory, db):
    assert [may_try_again(n) for n in range(MAX_ATTEMPTS + 1)] == [True] * MAX_ATTEMPTS + [False]
    case = case_factory()
    for _ in range(MAX_ATTEMPTS):
        assert claim_case(case.id, "w@h") is Claim.WON
        assert requeue(case.id, from_worker="w@h") in (Requeue.QUEUED, Requeue.GAVE_UP)
    db.session.refresh(case)
    assert case.status == "failed" and case.attempts == MAX_ATTEMPTS
    assert claim_case(case.id, "w@h") is Claim.SKIPPED


@pytest.mark.parametrize("status", ["done", "failed"])
def test_rerun_is_a_fresh_start_that_sends_the_case(case_factory, db, status):
    case = case_factory(status=status, attempts=MAX_ATTEMPTS, error_message="old", worker="w@h")
    assert requeue(case.id, fresh_start=True) is Requeue.QUEUED
    db.session.refresh(case)
    assert (case.status, case.attempts, case.error_message, case.worker) == (
        "queued", 0, None, None)
    assert case.enqueued_at is not None


def test_rerun_leaves_a_queued_or_running_case_alone(case_factory, db):
    for status in ("queued", "running"):
        case = case_factory(status=status, attempts=1)
        assert requeue(case.id, fresh_start=True) is Requeue.UNCHANGED
        db.session.refresh(case)
        assert (case.status, case.attempts) == (status, 1)


def test_release_only_takes_a_case_from_the_worker_that_holds_it(case_factory, db):
    case = case_factory(status="running", worker="w1@h", attempts=1)
    assert requeue(case.id, from_worker="w2@h") is Requeue.UNCHANGED
    assert requeue(case.id, from_worker="w1@h") is Requeue.QUEUED
    db.session.refresh(case)
    assert (case.status, case.stage, case.percent, case.worker) == ("queued", "queued", 0, None)


def test_release_of_a_case_out_of_attempts_fails_it_clearly(case_factory, db):
    case = case_factory(status="running", worker="w1@h", attempts=MAX_ATTEMPTS)
    assert requeue(case.id, from_worker="w1@h") is Requeue.GAVE_UP
    db.session.refresh(case)
    assert case.status == "failed"
    assert f"attempted {MAX_ATTEMPTS} times" in case.error_message
    assert "contact your administrator" in case.error_message


def test_release_without_send_keeps_the_callers_message(case_factory, db, app):
    sent = []
    app.extensions["celery"].send_task = lambda *a, **k: sent.append(a)
    case = case_factory(status="running", worker="w1@h", attempts=1)
    assert requeue(case.id, from_worker="w1@h", send=False) is Requeue.QUEUED
    assert sent == []
    db.session.refresh(case)
    assert case.enqueued_at is not None  # so the recovery sweep does not send it twice


def test_web_rerun_goes_through_requeue(logged_in_client, case_factory, db):
    case = case_factory(status="failed", attempts=MAX_ATTEMPTS, error_message="bad")
    assert logged_in_client.post(f"/cases/{case.id}/rerun").status_code == 302
    db.session.refresh(case)
    assert (case.status, case.attempts, case.error_message) == ("queued", 0, None)
    assert case.enqueued_at is not None
    assert db.session.query(AuditEvent).filter_by(action="case_rerun").count() == 1


def test_web_rerun_refuses_a_case_whose_input_was_refused(logged_in_client, case_factory, db):
    case = case_factory(status="failed", attempts=1, error_message="not a NIfTI",
                        failure_kind="refused")
    page = logged_in_client.post(f"/cases/{case.id}/rerun", follow_redirects=True)
    assert "running them again gives the same answer" in page.get_data(as_text=True)
    db.session.refresh(case)
    assert (case.status, case.error_message) == ("failed", "not a NIfTI")
    assert db.session.query(AuditEvent).filter_by(action="case_rerun").count() == 0
