"""What a worker does around its tasks: load the model in each child, sweep, heartbeat.

CUDA does not survive a fork, so the model is loaded in each pool child after the fork
(`worker_process_init`), never in the parent; `worker_proc_alive_timeout` (app/celery_app.py)
gives the child time for that. With `--pool solo` there is no child: the model loads at start.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime

from celery.signals import celeryd_init, worker_process_init, worker_ready, worker_shutdown
from flask import Flask

from app.extensions import db
from app.models.base import utcnow

log = logging.getLogger("app.worker")

SWEEP_INTERVAL_SECONDS = float(os.environ.get("RECOVERY_SWEEP_SECONDS", "30"))


class WorkerState:
    """The node name, boot time and sweeper thread of this worker process tree."""

    hostname: str = "unknown"
    booted_at: datetime | None = None
    stop = threading.Event()
    thread: threading.Thread | None = None


def load_model_here(app: Flask) -> None:
    """Load and warm up the classifier in this process and record its device and model."""
    from app.tasks import load_classifier
    from app.workers_registry import record_model

    with app.app_context():
        classifier = load_classifier()
        card = classifier.card
        log.info("worker %s pid %d serves model %s %s on %s", WorkerState.hostname, os.getpid(),
                 card.name, card.version, classifier.device)
        record_model(WorkerState.hostname, str(classifier.device), card.name, str(card.version),
                     card.weights_sha256)


def _sweep_loop(app: Flask) -> None:
    from app.recovery import sweep
    from app.workers_registry import touch

    while not WorkerState.stop.wait(SWEEP_INTERVAL_SECONDS):
        with app.app_context():
            try:
                touch(WorkerState.hostname)
                sweep()
            except Exception:  # noqa: BLE001 - keep sweeping; the next round may succeed
                log.exception("recovery sweep failed; retrying in %ss", SWEEP_INTERVAL_SECONDS)
                db.session.rollback()


def connect_signals(app: Flask) -> None:
    """Connect the worker's lifecycle handlers for `app` (called by app/worker.py)."""

    @celeryd_init.connect(weak=False)
    def remember_hostname(sender: str | None = None, **_: object) -> None:
        WorkerState.hostname = str(sender)
        WorkerState.booted_at = utcnow()

    @worker_process_init.connect(weak=False)
    def child_started(**_: object) -> None:
        # Connections inherited from the parent must not be shared across the fork.
        with app.app_context():
            db.engine.dispose(close=False)
        load_model_here(app)

    @worker_ready.connect(weak=False)
    def ready(sender: object = None, **_: object) -> None:
        from app.recovery import sweep
        from app.workers_registry import register_worker

        with app.app_context():
            register_worker(WorkerState.hostname, os.getpid())
            report = sweep(worker=WorkerState.hostname, booted_at=WorkerState.booted_at)
            log.info("worker %s ready; start-up sweep: %s", WorkerState.hostname, report)
        pool = str(getattr(getattr(sender, "controller", None), "pool_cls", ""))
        if "solo" in pool.lower() or "thread" in pool.lower():
            load_model_here(app)
        WorkerState.stop.clear()
        WorkerState.thread = threading.Thread(target=_sweep_loop, args=(app,), daemon=True,
                                              name="recovery-sweep")
        WorkerState.thread.start()

    @worker_shutdown.connect(weak=False)
    def shutdown(**_: object) -> None:
        from app.workers_registry import unregister_worker

        WorkerState.stop.set()
        with app.app_context():
            unregister_worker(WorkerState.hostname)
