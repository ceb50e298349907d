"""Worker faults with real worker processes: the pool child killed mid-case, the hard time limit,
the attempt cap. The worker is the real one with a gated stand-in analysis
(tests/worker/standin_worker.py), so each fault lands while the case is certainly running.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.worker.state import MAX_ATTEMPTS, gave_up_message, hard_limit_message
from tests.worker.stack import Stack, wait_for
from tests.worker.standin_worker import started_pids

pytestmark = [pytest.mark.slow]

WORKER = "w1"
ENTRY = "tests.worker.standin_worker"


@pytest.fixture
def standin_stack(tmp_path: Path) -> Iterator[Callable[..., tuple[Stack, Path]]]:
    """Start a stack (SQLite database and broker) with one stand-in worker; env: its settings."""
    stacks: list[Stack] = []

    def start(**env: str) -> tuple[Stack, Path]:
        root = tmp_path / "stack"
        (root / "instance").mkdir(parents=True)
        folder = tmp_path / "standin"
        folder.mkdir()
        stack = Stack(root, f"sqlite:///{root / 'instance' / 'gliomalens.sqlite'}",
                      f"sqla+sqlite:///{root / 'instance' / 'broker.sqlite'}")
        stacks.append(stack)
        stack.start_worker(WORKER, entry=ENTRY, env={"STANDIN_DIR": str(folder), **env})
        stack.wait_worker_ready(WORKER, timeout=120)
        return stack, folder

    yield start
    for stack in stacks:
        stack.stop()


def _attempt_started(folder: Path, number: int) -> int:
    """Wait until attempt `number` (1-based) runs; return the pid of the pool child running it."""
    pids = wait_for(lambda: (p := started_pids(folder)) and len(p) >= number and p, 120,
                    f"attempt {number} to start")
    return pids[number - 1]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_pool_child_killed_mid_case_the_case_is_redelivered_and_finishes(standin_stack,
                                                                         nifti_case):
    stack, folder = standin_stack()
    main = stack.workers[WORKER]
    case_id = stack.upload(nifti_case)
    child = _attempt_started(folder, 1)
    assert child != main.pid
    assert stack.case(case_id).status == "running"
    os.kill(child, signal.SIGKILL)  # only the pool child; the main process lives on
    (folder / "open").touch()
    case = stack.wait_finished([case_id], timeout=120)[0]
    assert case.status == "done", case.error_message
    assert case.attempts == 2
    assert case.prediction.predicted_class == "O"
    pids = started_pids(folder)
    assert len(pids) == 2 and pids[1] != child
    assert main.poll() is None, "the worker's main process must survive its child's death"


def test_attempt_cap_fails_a_case_that_kills_its_child_every_time(standin_stack, nifti_case):
    stack, folder = standin_stack()
    main = stack.workers[WORKER]
    case_id = stack.upload(nifti_case)
    for number in range(1, MAX_ATTEMPTS + 1):
        os.kill(_attempt_started(folder, number), signal.SIGKILL)
    case = stack.wait_finished([case_id], timeout=120)[0]
    assert case.status == "failed"
    assert case.error_message == gave_up_message(MAX_ATTEMPTS)
    assert case.attempts == MAX_ATTEMPTS
    assert len(started_pids(folder)) == MAX_ATTEMPTS, "no attempt past the cap"
    assert stack.status_json(case_id)["error"] == gave_up_message(MAX_ATTEMPTS)
    assert main.poll() is None


def test_hard_time_limit_kills_the_child_and_fails_the_case(standin_stack, nifti_case):
    # The soft limit comes after the hard one: it stands for an analysis stuck where the soft
    # limit's exception cannot reach it (native code), which only the hard limit can stop.
    stack, folder = standin_stack(TASK_HARD_TIME_LIMIT="2", TASK_SOFT_TIME_LIMIT="60")
    main = stack.workers[WORKER]
    case_id = stack.upload(nifti_case)
    child = _attempt_started(folder, 1)
    case = stack.wait_finished([case_id], timeout=60)[0]
    assert case.status == "failed"
    assert case.error_message == hard_limit_message(2)
    wait_for(lambda: _gone(child), 30, "the timed-out child to be gone")
    assert "Hard time limit (2s) exceeded" in stack.log(WORKER)
    assert main.poll() is None
    # Not retried into the same wall, and the worker takes the next case.
    (folder / "open").touch()
    following = stack.upload(nifti_case)
    assert stack.wait_finished([following], timeout=120)[0].status == "done"
    assert len(started_pids(folder)) == 2
    assert stack.case(case_id).status == "failed"
