"""The analyse task and the recovery sweep, called in-process with a stand-in analysis."""

import types
from datetime import timedelta

import celery.app.autoretry
import pytest
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.nodenames import gethostname
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.models import Case, Prediction
from app.models.base import utcnow
from app.pipeline.errors import InvalidInputError
from app.worker import tasks
from app.worker.recovery import purge_consumed_broker_rows, sweep
from app.worker.state import MAX_ATTEMPTS
from tests.cases.test_upload import form_data

SUMMARY = {
    "class": "O", "class_name": "Oligodendroglioma", "probabilities": {"A": 0.2, "O": 0.7,
                                                                       "G": 0.1},
    "slice_index": 8, "candidate_volume_ml": 3.5, "low_confidence": False,
    "model": {"name": "stand-in", "version": "1", "weights_sha256": "ab" * 32, "demo": True},
    "timings": {"total": 0.1},
}


@pytest.fixture
def stored_case(logged_in_client, db, nifti_case):
    response = logged_in_client.post("/cases/new", data=form_data(nifti_case),
                                     content_type="multipart/form-data")
    assert response.status_code == 302
    return db.session.scalars(select(Case)).one()


@pytest.fixture
def pipeline(monkeypatch):
    """Replace the TensorFlow analysis by a stand-in whose behaviour each test sets.

    `behaviour["raise"]` is raised by every call; `behaviour["raise_times"]` limits how many.
    """
    calls = []
    behaviour = {"raise": None, "raise_times": None}

    def run_analysis(paths, out_dir, progress, *, sequences_confirmed=False):
        calls.append((paths, out_dir))
        assert sorted(paths) == ["flair", "t1", "t1ce", "t2"]
        assert all(p.is_file() for p in paths.values())
        for stage, pct in (("loading", 10), ("locating tumour slice", 30), ("classifying", 60)):
            progress(stage, pct)
        if behaviour["raise"] is not None:
            if behaviour["raise_times"] is None or len(calls) <= behaviour["raise_times"]:
                raise behaviour["raise"]
        return dict(SUMMARY)

    monkeypatch.setattr(tasks, "run_analysis", run_analysis)
    return types.SimpleNamespace(calls=calls, behaviour=behaviour)


@pytest.fixture
def backoffs(monkeypatch):
    """Record every countdown Celery's autoretry computes (and the settings it used)."""
    seen = []
    compute = celery.app.autoretry.get_exponential_backoff_interval

    def spy(**kwargs):
        countdown = compute(**kwargs)
        seen.append((kwargs, countdown))
        return countdown

    monkeypatch.setattr(celery.app.autoretry, "get_exponential_backoff_interval", spy)
    return seen


def switch_broker(celery, url):
    """Point the test app's Celery at another broker, dropping pooled connections."""
    celery.conf.broker_url = url
    celery.conf.broker_write_url = url
    celery._after_fork()  # the documented way Celery resets its connection and producer pools


def predictions(db):
    return db.session.scalar(select(func.count()).select_from(Prediction))


def test_task_records_the_result_and_is_idempotent(stored_case, pipeline, db):
    assert tasks.analyse_case(stored_case.id) == "done"
    db.session.refresh(stored_case)
    assert stored_case.status == "done" and stored_case.percent == 100
    assert stored_case.prediction.predicted_class == "O"
    assert stored_case.prediction.extra["model"]["name"] == "stand-in"
    # a duplicate message for a finished case is skipped
    assert tasks.analyse_case(stored_case.id) == "skipped"
    # a re-run replaces the prediction: still one current prediction
    stored_case.status = "queued"
    db.session.commit()
    assert tasks.analyse_case(stored_case.id) == "done"
    assert predictions(db) == 1
    assert len(pipeline.calls) == 2


def test_bad_input_fails_the_case_with_the_pipeline_message(stored_case, pipeline, db):
    pipeline.behaviour["raise"] = InvalidInputError("FLAIR: the volume is all zero.", "flair")
    assert tasks.analyse_case(stored_case.id) == "failed"
    db.session.refresh(stored_case)
    assert stored_case.status == "failed"
    assert stored_case.error_message == "FLAIR: the volume is all zero."
    assert stored_case.failure_kind == "refused"
    assert predictions(db) == 0


def test_crash_fails_the_case_with_a_reference(stored_case, pipeline, db):
    pipeline.behaviour["raise"] = RuntimeError("boom")
    assert tasks.analyse_case(stored_case.id) == "failed"
    db.session.refresh(stored_case)
    assert "internal error" in stored_case.error_message
    assert "boom" not in stored_case.error_message
    assert stored_case.failure_kind == "internal"


def test_soft_time_limit_fails_the_case_clearly(stored_case, pipeline, db, app):
    pipeline.behaviour["raise"] = SoftTimeLimitExceeded()
    assert tasks.analyse_case(stored_case.id) == "failed"
    db.session.refresh(stored_case)
    assert f"{app.config['TASK_SOFT_TIME_LIMIT']} s limit" in stored_case.error_message
    assert stored_case.failure_kind == "internal"


LOCKED = OperationalError("UPDATE", {}, Exception("database is locked"))


def test_transient_database_error_releases_the_case_for_retry(stored_case, pipeline, db):
    pipeline.behaviour["raise"] = LOCKED
    with pytest.raises(OperationalError):  # called directly, Celery's retry re-raises
        tasks.analyse_case(stored_case.id)
    db.session.refresh(stored_case)
    assert (stored_case.status, stored_case.worker, stored_case.attempts) == ("queued", None, 1)
    assert stored_case.enqueued_at is not None  # Celery's retry is its message: no resend


def test_transient_database_error_is_retried_by_celery_with_backoff(
        stored_case, pipeline, backoffs, db):
    pipeline.behaviour.update({"raise": LOCKED, "raise_times": 1})
    result = tasks.analyse_case.apply(args=[stored_case.id])
    assert result.get() == "done"
    assert len(pipeline.calls) == 2
    [(settings, countdown)] = backoffs
    assert settings == {"factor": 5, "retries": 0, "maximum": 120, "full_jitter": True}
    assert 0 <= countdown <= 5
    db.session.refresh(stored_case)
    assert stored_case.status == "done" and stored_case.attempts == 2


def test_transient_errors_stop_at_the_attempt_cap_with_a_clear_message(
        stored_case, pipeline, backoffs, db):
    pipeline.behaviour["raise"] = LOCKED
    result = tasks.analyse_case.apply(args=[stored_case.id])
    assert result.get() == "failed"
    assert len(pipeline.calls) == MAX_ATTEMPTS
    assert [settings["retries"] for settings, _ in backoffs] == list(range(MAX_ATTEMPTS - 1))
    assert all(0 <= countdown <= min(120, 5 * 2**settings["retries"])
               for settings, countdown in backoffs)
    db.session.refresh(stored_case)
    assert stored_case.status == "failed" and stored_case.attempts == MAX_ATTEMPTS
    assert f"attempted {MAX_ATTEMPTS} times" in stored_case.error_message
    assert "Re-run the case" in stored_case.error_message


def test_redelivered_message_for_a_case_out_of_attempts_fails_it(stored_case, pipeline, db):
    # Its worker's pool child died mid-case: the broker hands the message to the same node.
    stored_case.status, stored_case.worker = "running", gethostname()  # apply()'s node name
    stored_case.attempts = MAX_ATTEMPTS
    db.session.commit()
    assert tasks.analyse_case.apply(args=[stored_case.id]).get() == "failed"
    assert pipeline.calls == []
    db.session.refresh(stored_case)
    assert stored_case.status == "failed"
    assert f"attempted {MAX_ATTEMPTS} times" in stored_case.error_message


def test_case_running_on_another_live_worker_is_not_taken(stored_case, pipeline, db):
    stored_case.status, stored_case.worker = "running", "other@host"
    stored_case.heartbeat_at = utcnow()
    db.session.commit()
    assert tasks.analyse_case(stored_case.id) == "skipped"
    assert pipeline.calls == []


def test_sweep_requeues_stale_and_restarted_workers_cases(case_factory, db, app):
    old = utcnow() - timedelta(seconds=app.config["TASK_HARD_TIME_LIMIT"] + 120)
    stale = case_factory(status="running", worker="w1@h", heartbeat_at=old, started_at=old,
                         attempts=1)
    mine = case_factory(status="running", worker="w2@h", heartbeat_at=utcnow(),
                        started_at=utcnow() - timedelta(seconds=5), attempts=1)
    busy = case_factory(status="running", worker="w3@h", heartbeat_at=utcnow(),
                        started_at=utcnow(), attempts=1)
    report = sweep(worker="w2@h", booted_at=utcnow())
    for case in (stale, mine, busy):
        db.session.refresh(case)
    assert (stale.status, mine.status, busy.status) == ("queued", "queued", "running")
    assert report.requeued == 2 and report.resent == 0  # requeue sent them itself
    assert stale.enqueued_at is not None and mine.enqueued_at is not None
    assert (stale.worker, stale.attempts) == (None, 1)


def test_sweep_gives_up_after_max_attempts(case_factory, db, app):
    old = utcnow() - timedelta(hours=1)
    case = case_factory(status="running", worker="w1@h", heartbeat_at=old, started_at=old,
                        attempts=MAX_ATTEMPTS)
    assert sweep().failed == 1
    db.session.refresh(case)
    assert case.status == "failed"
    assert f"attempted {MAX_ATTEMPTS} times" in case.error_message


def test_upload_while_broker_is_down_keeps_the_case_queued_until_it_returns(
        logged_in_client, app, db, nifti_case):
    celery = app.extensions["celery"]
    switch_broker(celery, "redis://127.0.0.1:1/0")  # nothing listens there
    response = logged_in_client.post("/cases/new", data=form_data(nifti_case),
                                     content_type="multipart/form-data")
    assert response.status_code == 302
    case = db.session.scalars(select(Case)).one()
    assert case.status == "queued" and case.enqueued_at is None
    switch_broker(celery, "memory://")
    assert sweep().resent == 1
    db.session.refresh(case)
    assert case.enqueued_at is not None


def test_purge_removes_consumed_rows_of_the_sqlite_broker(app, tmp_path):
    celery = app.extensions["celery"]
    switch_broker(celery, f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}")
    celery.send_task("gliomalens.analyse_case", args=["x"], queue="inference")
    celery.send_task("gliomalens.analyse_case", args=["y"], queue="inference")
    import sqlite3

    with sqlite3.connect(tmp_path / "broker.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM kombu_message").fetchone()[0] == 2
        conn.execute("UPDATE kombu_message SET visible = 0 WHERE id = 1")
    assert purge_consumed_broker_rows() == 1
    with sqlite3.connect(tmp_path / "broker.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM kombu_message").fetchone()[0] == 1
    switch_broker(celery, "memory://")
