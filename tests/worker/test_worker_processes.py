"""Real Celery worker processes with the shipped demo model: SQLite broker, and Redis + PostgreSQL.

The Redis/PostgreSQL variant runs when TEST_REDIS_URL and TEST_DATABASE_URL are set (CI sets
them) and fails, not skips, when they are set but unreachable.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import redis as redis_lib
from sqlalchemy import func, select

from app.extensions import db
from app.models import Prediction
from tests.conftest import require_service_url
from tests.worker.stack import Stack, wait_for

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module", params=["sqlite", "redis-postgres"])
def stack(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"stack-{request.param}")
    if request.param == "sqlite":
        database = f"sqlite:///{root / 'instance' / 'gliomalens.sqlite'}"
        broker = f"sqla+sqlite:///{root / 'instance' / 'broker.sqlite'}"
        (root / "instance").mkdir(parents=True)
    else:
        redis_url = require_service_url("TEST_REDIS_URL")
        database = require_service_url("TEST_DATABASE_URL")
        if not redis_url or not database:
            pytest.skip("TEST_REDIS_URL / TEST_DATABASE_URL not set")
        redis_lib.Redis.from_url(redis_url).flushdb()
        broker = redis_url
    stack = Stack(root, database, broker)
    stack.start_worker("w1")
    stack.wait_worker_ready("w1")
    yield stack
    stack.stop()


def test_three_uploaded_cases_complete(stack, phantom_files):
    ids = [stack.upload(phantom_files[cls]) for cls in ("A", "O", "G")]
    cases = stack.wait_finished(ids)
    for case in cases:
        assert case.status == "done", case.error_message
        assert case.prediction.predicted_class in ("A", "O", "G")
        assert abs(sum(case.prediction.probabilities.values()) - 1) < 1e-3
        results = stack.storage / "cases" / case.id / "results"
        for name in ("montage.png", "gradcam.png", "candidate_mask.nii.gz", "heatmap.nii.gz",
                     "summary.json"):
            assert (results / name).is_file(), name
        status = stack.status_json(case.id)
        assert status["status"] == "done" and status["percent"] == 100


def test_bad_case_fails_with_the_pipeline_message(stack, phantom_files, tmp_path):
    files = dict(phantom_files["G"])
    reference = nib.load(str(files["t2"]))
    # Not all zero (the upload refuses that at once): one bright voxel, no plausible brain.
    speck = np.zeros(reference.shape, np.int16)
    speck[0, 0, 0] = 100
    blank = tmp_path / "speck_t2.nii.gz"
    nib.save(nib.Nifti1Image(speck, reference.affine), str(blank))
    files["t2"] = blank
    case = stack.wait_finished([stack.upload(files)])[0]
    assert case.status == "failed"
    assert "T2" in case.error_message
    assert stack.status_json(case.id)["error"] == case.error_message


def test_worker_killed_mid_case_completes_it_after_restart(stack, phantom_files):
    killed_while_running = None
    for _attempt in range(4):
        case_id = stack.upload(phantom_files["A"])
        running = wait_for(
            lambda cid=case_id: stack.case(cid).status in ("running", "done"), 120,
            "the case to start", interval=0.02)
        if running and stack.case(case_id).status == "running":
            stack.kill_worker("w1")  # SIGKILL the main process and its pool child
            killed_while_running = case_id
            break
    assert killed_while_running, "the worker finished every case before it could be killed"
    case = stack.case(killed_while_running)
    assert case.status == "running"  # nobody is working on it now
    stack.start_worker("w1")
    stack.wait_worker_ready("w1")
    case = stack.wait_finished([killed_while_running])[0]
    assert case.status == "done", case.error_message
    assert case.attempts == 2


def test_stuck_case_is_recovered(stack, phantom_files):
    stack.kill_worker("w1", 15)  # SIGTERM: a clean stop
    case_id = stack.upload(phantom_files["O"])
    stack.execute(
        "UPDATE cases SET status='running', worker='ghost@gone', attempts=1, "
        "heartbeat_at=:old, started_at=:old WHERE id=:id",
        old="2020-01-01 00:00:00", id=case_id,
    )
    stack.start_worker("w1")
    stack.wait_worker_ready("w1")
    case = stack.wait_finished([case_id])[0]
    assert case.status == "done", case.error_message


def test_two_workers_on_one_queue_finish_ten_cases_once_each(stack, phantom_files):
    if stack.broker_url.startswith("sqla+"):
        pytest.skip("the scale-out check runs on Redis (two workers on one queue)")
    stack.start_worker("w2")
    stack.wait_worker_ready("w2")
    before = {c.id for c in stack.all_cases()}
    classes = ("A", "O", "G")
    ids = [stack.upload(phantom_files[classes[i % 3]]) for i in range(10)]
    cases = stack.wait_finished(ids, timeout=300)
    assert all(c.status == "done" for c in cases), [c.error_message for c in cases]
    # each case was claimed (and so completed) exactly once
    assert [c.attempts for c in cases] == [1] * 10
    assert len({c.worker for c in cases}) == 2, "both workers should have taken cases"
    count = db.session.scalar(select(func.count()).select_from(Prediction)
                              .where(Prediction.case_id.in_(ids)))
    assert count == 10
    assert not before & set(ids)
