"""Importing the worker package reads no environment, loads no route, starts no TensorFlow."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: records every read of os.environ made by GliomaLens code while
# the modules are imported. Only the `celery -A` entry module (app.celery_worker) may read it.
SCRIPT = r'''
import importlib, json, os, pkgutil, sys

reads = []

class Spy(dict):
    def _note(self, key):
        caller = sys._getframe(2).f_globals.get("__name__", "")
        if caller == "app" or caller.startswith("app."):
            reads.append(f"{caller}: {key}")
    def get(self, key, default=None):
        self._note(key)
        return super().get(key, default)
    def __getitem__(self, key):
        self._note(key)
        return super().__getitem__(key)
    def __contains__(self, key):
        self._note(key)
        return super().__contains__(key)

os.environ = Spy(os.environ)
import app.worker
modules = ["app", "app.config", "app.extensions", "app.models"] + [
    f"app.worker.{info.name}" for info in pkgutil.iter_modules(app.worker.__path__)]
for name in modules:
    importlib.import_module(name)
print(json.dumps({
    "modules": modules,
    "reads": reads,
    "routes": sorted(m for m in sys.modules if m.endswith(".routes")),
    "blueprints": sorted(m for m in ("app.cases", "app.auth", "app.admin", "app.api", "app.main")
                         if m in sys.modules),
    "tensorflow": "tensorflow" in sys.modules,
}))
'''


def imported() -> dict:
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_importing_the_worker_package_reads_no_environment_and_loads_no_routes():
    report = imported()
    assert {"app.worker.state", "app.worker.tasks", "app.worker.signals"} <= set(report["modules"])
    assert report["reads"] == []
    assert report["routes"] == [] and report["blueprints"] == []
    assert report["tensorflow"] is False
