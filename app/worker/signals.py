"""What a worker does around its tasks: load the models in each child, sweep, heartbeat.

CUDA does not survive a fork, so the models are loaded in each pool child after the fork
(`worker_process_init`), never in the parent; `worker_proc_alive_timeout` (celery_app.py)
gives the child time for that. With `--pool solo` there is no child: the models load at start.
Connected by the entry module app/celery_worker.py, which passes the Flask app in.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime

from celery.exceptions import TimeLimitExceeded
from celery.signals import (
    celeryd_init,
    task_failure,
    worker_process_init,
    worker_ready,
    worker_shutdown,
)
from flask import Flask

from app.extensions import db
from app.models.base import utcnow
from app.worker.celery_app import ANALYSE_TASK
from app.worker.inference import load_models, model_identity
from app.worker.recovery import sweep
from app.worker.registry import record_model, register_worker, touch, unregister_worker
from app.worker.state import fail_running_case, hard_limit_message

log = logging.getLogger(__name__)


class WorkerState:
    """The node name, boot time and sweeper thread of this worker process tree."""

    hostname: str = "unknown"
    booted_at: datetime | None = None
    stop = threading.Event()
    thread: threading.Thread | None = None


def load_models_here(app: Flask) -> None:
    """Load and warm up the models in this process and record its device and model."""
    with app.app_context():
        identity = model_identity(load_models())
        log.info("worker %s pid %d serves model %s %s on %s", WorkerState.hostname, os.getpid(),
                 identity.name, identity.version, identity.device)
        record_model(WorkerState.hostname, identity.device, identity.name, identity.version,
                     identity.weights_sha256)


def sweep_loop(app: Flask) -> None:
    """Refresh this worker's heartbeat and run the recovery sweep every RECOVERY_SWEEP_SECONDS.

    Returns when WorkerState.stop is set; a failed round is logged and the next one tried.
    """
    interval = float(app.config["RECOVERY_SWEEP_SECONDS"])
    while not WorkerState.stop.wait(interval):
        with app.app_context():
            try:
                touch(WorkerState.hostname)
                sweep()
            except Exception:  # keep sweeping: the next round may succeed
                log.exception("recovery sweep failed; retrying in %ss", interval)
                db.session.rollback()


def connect_signals(app: Flask) -> None:
    """Connect the worker's lifecycle handlers for `app` (called by app/celery_worker.py)."""

    @celeryd_init.connect(weak=False)
    def remember_hostname(sender: str | None = None, **_: object) -> None:
        WorkerState.hostname = str(sender)
        WorkerState.booted_at = utcnow()

    @worker_process_init.connect(weak=False)
    def child_started(**_: object) -> None:
        # Connections inherited from the parent must not be shared across the fork.
        with app.app_context():
            db.engine.dispose(close=False)
        load_models_here(app)

    @worker_ready.connect(weak=False)
    def ready(sender: object = None, **_: object) -> None:
        with app.app_context():
            register_worker(WorkerState.hostname, os.getpid())
            report = sweep(worker=WorkerState.hostname, booted_at=WorkerState.booted_at)
            log.info("worker %s ready; start-up sweep: %s", WorkerState.hostname, report)
        pool = str(getattr(getattr(sender, "controller", None), "pool_cls", ""))
        if "solo" in pool.lower() or "thread" in pool.lower():
            load_models_here(app)
        WorkerState.stop.clear()
        WorkerState.thread = threading.Thread(target=sweep_loop, args=(app,), daemon=True,
                                              name="recovery-sweep")
        WorkerState.thread.start()

    @task_failure.connect(weak=False)
    def hard_time_limit(sender: object = None, exception: BaseException | None = None,
                        args: tuple | None = None, **_: object) -> None:
        # The hard limit kills the pool child, which can no longer record anything; the parent
        # gets this signal and fails the case at once (else it would stay `running` until the
        # recovery sweep, limit + grace later, and be retried into the same wall).
        if not isinstance(exception, TimeLimitExceeded) or not args:
            return
        if getattr(sender, "name", None) != ANALYSE_TASK:
            return
        limit = int(app.config["TASK_HARD_TIME_LIMIT"])
        with app.app_context():
            if fail_running_case(str(args[0]), hard_limit_message(limit)):
                log.error("case %s: hard time limit of %ss exceeded; case failed", args[0], limit)

    @worker_shutdown.connect(weak=False)
    def shutdown(**_: object) -> None:
        WorkerState.stop.set()
        with app.app_context():
            unregister_worker(WorkerState.hostname)
