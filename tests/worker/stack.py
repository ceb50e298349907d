"""A real GliomaLens stack for worker tests: the web app in-process, Celery workers as processes."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select, text

from app import create_app
from app.config import TestConfig
from app.extensions import db
from app.models import Case, WorkerStatus
from tests.conftest import IsolatedClient, login
from tests.factories import make_user

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))


def wait_for(predicate: Callable[[], object], timeout: float, what: str,
              interval: float = 0.1) -> object:
    """Poll `predicate` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class Stack:
    """Instance folder, database, broker and storage shared by the test app and its workers."""

    def __init__(self, root: Path, database_url: str, broker_url: str) -> None:
        self.root = root
        self.database_url = database_url
        self.broker_url = broker_url
        self.instance = root / "instance"
        self.storage = root / "storage"
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.workers: dict[str, subprocess.Popen] = {}
        settings = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
        self.app = create_app({
            **settings,
            "INSTANCE_PATH": str(self.instance),
            "SQLALCHEMY_DATABASE_URI": database_url,
            "STORAGE_DIR": str(self.storage),
            "SECRET_KEY": "worker-tests",
            "CELERY": {"broker_url": broker_url},
        })
        self.app.test_client_class = IsolatedClient
        self.ctx = self.app.app_context()
        self.ctx.push()
        db.drop_all()
        db.create_all()
        self.user = make_user(email="worker-tests@example.org")
        self.client = self.app.test_client()
        assert login(self.client, self.user.email).status_code == 302

    # ------------------------------------------------------------------ workers
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST"))}
        env.update({
            "INSTANCE_PATH": str(self.instance),
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.broker_url,
            "STORAGE_DIR": str(self.storage),
            "SECRET_KEY": "worker-tests",
            "RECOVERY_SWEEP_SECONDS": "2",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": str(ROOT),
        })
        return env

    def start_worker(self, name: str, entry: str = "app.celery_worker",
                     env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start `celery -A <entry> worker` as node `name@test`, in its own group.

        `env` adds to (or overrides) the worker's environment (time limits, stand-in folder).
        """
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [CELERY, "-A", entry, "worker", "--pool", "prefork", "--concurrency", "1",
             "-Q", "inference", "-n", f"{name}@test", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle"],
            cwd=ROOT, env={**self.env(), **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.workers[name] = proc
        return proc

    def wait_worker_ready(self, name: str, timeout: float = 240) -> None:
        """Wait until the worker's child has loaded the model and reported its device."""
        def ready() -> bool:
            proc = self.workers[name]
            if proc.poll() is not None:
                raise AssertionError(f"worker {name} exited: {self.log(name)[-3000:]}")
            db.session.expire_all()
            row = db.session.get(WorkerStatus, f"{name}@test")
            return bool(row and row.device)
        wait_for(ready, timeout, f"worker {name} to load its model", interval=0.5)

    def kill_worker(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the worker's whole process group (main process and pool child)."""
        proc = self.workers.pop(name)
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL) and release the database."""
        for name in list(self.workers):
            self.kill_worker(name, signal.SIGTERM)
        db.session.remove()
        db.engine.dispose()
        self.ctx.pop()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    # ------------------------------------------------------------------ cases
    def upload(self, files: dict[str, Path]) -> str:
        """Upload four files through the web app; return the new case id."""
        data = {seq: (io.BytesIO(Path(p).read_bytes()), Path(p).name) for seq, p in files.items()}
        response = self.client.post("/cases/new", data=data, content_type="multipart/form-data",
                                    headers={"Accept": "application/json"})
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()["id"]

    def case(self, case_id: str) -> Case:
        db.session.expire_all()
        return db.session.get(Case, case_id)

    def wait_finished(self, case_ids: list[str], timeout: float = 180) -> list[Case]:
        def finished() -> list[Case] | None:
            cases = [self.case(cid) for cid in case_ids]
            return cases if all(c.is_finished for c in cases) else None
        try:
            return wait_for(finished, timeout, f"cases {case_ids} to finish", interval=0.25)
        except AssertionError:
            logs = "\n".join(f"--- {n}\n{self.log(n)[-2000:]}" for n in self.workers)
            raise AssertionError(f"cases did not finish; worker logs:\n{logs}") from None

    def status_json(self, case_id: str) -> dict:
        return self.client.get(f"/cases/{case_id}/status").get_json()

    def execute(self, sql: str, **params: object) -> None:
        db.session.execute(text(sql), params)
        db.session.commit()

    def all_cases(self) -> list[Case]:
        db.session.expire_all()
        return list(db.session.scalars(select(Case)))
