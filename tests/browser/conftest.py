"""A live GliomaLens (gunicorn + Celery worker + shipped model) and a headless Chromium driving it.

Debian's chromium and chromedriver only (/usr/bin/chromedriver, set explicitly): nothing is
downloaded. Screenshots of every scenario go to artifacts/browser/ (git-ignored) for review.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser-test-password"


@dataclass
class LiveServer:
    """The running app: its URL, its users, where it keeps things."""

    url: str
    instance: Path
    clinician: str
    second_clinician: str
    password: str = PASSWORD


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _flask(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """Start gunicorn and one worker (embedded SQLite broker) on a free loopback port."""
    if not (Path(CHROMEDRIVER).exists() and Path(CHROMIUM).exists()):
        pytest.fail("Chromium/chromedriver missing: run `make setup` (apt-get install chromium "
                    "chromium-driver)")
    instance = tmp_path_factory.mktemp("live") / "instance"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST"))}
    env.update({"INSTANCE_PATH": str(instance), "GUNICORN_BIND": f"127.0.0.1:{port}",
                "GUNICORN_WORKERS": "1", "GUNICORN_THREADS": "8", "RECOVERY_SWEEP_SECONDS": "5",
                "TF_CPP_MIN_LOG_LEVEL": "2", "LOG_LEVEL": "WARNING"})
    for key in ("DATABASE_URL", "CELERY_BROKER_URL", "STORAGE_DIR", "SECRET_KEY"):
        env.pop(key, None)
    _flask(env, "db", "upgrade")
    _flask(env, "users", "create", "doctor.one@example.org", "--password", PASSWORD)
    _flask(env, "users", "create", "doctor.two@example.org", "--password", PASSWORD)
    logs = instance / "logs"
    logs.mkdir()
    commands = {
        "web": [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        "worker": [str(BIN / "celery"), "-A", "app.celery_worker", "worker", "--pool", "prefork",
                   "--concurrency", "1", "-Q", "inference", "-n", "browser@test",
                   "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
    }
    procs = []
    for name, command in commands.items():
        with (logs / f"{name}.log").open("wb") as log:  # the child keeps its own descriptor
            procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    raise AssertionError((logs / "web.log").read_text()[-3000:]) from None
                time.sleep(0.2)
        yield LiveServer(url, instance, "doctor.one@example.org", "doctor.two@example.org")
    finally:
        for proc in procs:
            _stop(proc)


@pytest.fixture(scope="session")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="session")
def browser(downloads) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with software WebGL2 (SwiftShader), 1280×800."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
                "--use-angle=swiftshader", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads),
        "download.prompt_for_download": False,
    })
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(120)  # SwiftShader rendering can keep the page busy for a while
    # ... and then chromedriver answers late: give every command 5 minutes (default 120 s), so a
    # busy shared machine makes the tests slow, not failed.
    driver.command_executor._client_config.timeout = 300
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shot(browser, request):
    """Save a screenshot named after the test (and an optional suffix) under artifacts/browser."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def save(suffix: str = "") -> Path:
        name = request.node.name + (f"-{suffix}" if suffix else "")
        path = ARTIFACTS / f"{name}.png"
        browser.save_screenshot(str(path))
        return path

    return save
