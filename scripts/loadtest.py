"""Bounded load test on loopback: gunicorn + one Celery worker (as `make run`), then locust.

Sets up a fresh instance folder (database migrated, --users + 1 accounts, a few 2 mm phantom
cases), starts gunicorn (gunicorn.conf.py: 2 processes x 4 threads) and one worker with the login
and upload limits raised (LOGIN_LIMIT_ACCOUNT, LOGIN_LIMIT_ADDRESS, UPLOAD_LIMIT: every simulated
user comes from 127.0.0.1, which the production limits would throttle after 20 logins), runs
scripts/locustfile.py headless for --seconds (at most 300), stops everything and prints p50 / p95
per page, failures and throughput, and how many uploaded cases the worker finished meanwhile.

Usage: python scripts/loadtest.py [--users 50] [--seconds 60] [--upload-every 3]
       [--spawn-rate 2] [--port 18640] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
PHANTOM_SEED = 7717  # phantoms for load only; never used to train or evaluate a model
PHANTOM_CASES = 4
MAX_SECONDS = 300


def server_env(instance: Path, port: int) -> dict[str, str]:
    """Return the environment of the server processes (instance, bind, raised limits)."""
    return {
        **os.environ,
        "FLASK_APP": "wsgi",
        "INSTANCE_PATH": str(instance),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "LOGIN_LIMIT_ACCOUNT": "100/minute",
        "LOGIN_LIMIT_ADDRESS": "10000/minute",
        "UPLOAD_LIMIT": "10000/hour",
    }


def seed(env: dict[str, str], accounts: int, password: str, phantoms: Path) -> None:
    """Migrate the database, create the accounts and write the 2 mm phantom cases."""
    subprocess.run([str(BIN / "flask"), "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    code = (
        "import sys\n"
        "from app import create_app\nfrom app.accounts import create_user\n"
        "from app.extensions import db\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        f"    for n in range({accounts}):\n"
        f"        create_user(f'loadtest-{{n:02d}}@example.org', {password!r})\n"
        "    db.session.commit()\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)
    from app.pipeline.synthetic.phantoms import write_dataset

    write_dataset(phantoms, PHANTOM_CASES, PHANTOM_SEED, voxel_mm=2.0)
    for seg in phantoms.glob("*_seg.nii.gz"):
        seg.unlink()


def wait_until_up(url: str, seconds: float = 60) -> None:
    """Return once ``url`` answers 200; RuntimeError after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")


def wait_for_worker(log: Path, seconds: float = 300) -> float:
    """Return the seconds until the worker's pool child logged that it serves a model (TensorFlow
    imported, models loaded); RuntimeError after ``seconds``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if "serves model" in log.read_text(errors="replace"):
            return time.monotonic() - start
        time.sleep(1)
    raise RuntimeError(f"the worker did not load its models within {seconds:.0f} s (see {log})")


def case_states(env: dict[str, str]) -> str:
    """Return "state: count, ..." for every case in the load-test database."""
    code = (
        "from collections import Counter\nfrom app import create_app\n"
        "from app.extensions import db\nfrom app.models import Case\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    print(dict(Counter(c.status for c in db.session.scalars(db.select(Case)))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def percentile(histogram: dict[str, int], fraction: float) -> float:
    """Return the response time (ms) below which ``fraction`` of the requests fall."""
    times = sorted((float(ms), count) for ms, count in histogram.items())
    target, seen = fraction * sum(count for _, count in times), 0
    for ms, count in times:
        seen += count
        if seen >= target:
            return ms
    return float("nan")


def report(stats_json: Path, seconds: int) -> None:
    """Print requests, failures, p50 / p95 / max and requests per second per page."""
    entries = json.loads(stats_json.read_text())
    print(f"\n{'page':<36} {'requests':>8} {'fails':>6} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'max ms':>7} {'req/s':>6}")
    total: dict[str, int] = {}
    requests = failures = 0
    for entry in sorted(entries, key=lambda e: (e["name"], e["method"])):
        histogram = entry["response_times"]
        for ms, count in histogram.items():
            total[ms] = total.get(ms, 0) + count
        requests += entry["num_requests"]
        failures += entry["num_failures"]
        print(f"{entry['method'] + ' ' + entry['name']:<36} {entry['num_requests']:>8} "
              f"{entry['num_failures']:>6} {percentile(histogram, 0.5):>7.0f} "
              f"{percentile(histogram, 0.95):>7.0f} {entry['max_response_time']:>7.0f} "
              f"{entry['num_requests'] / seconds:>6.1f}")
    print(f"{'ALL':<36} {requests:>8} {failures:>6} {percentile(total, 0.5):>7.0f} "
          f"{percentile(total, 0.95):>7.0f} {'':>7} {requests / seconds:>6.1f}")


def main() -> int:
    """Set up, run the server and locust, print the results; return locust's exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="browsing users (plus 1 uploader)")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--upload-every", type=float, default=3.0)
    parser.add_argument("--spawn-rate", type=float, default=2.0, help="users started per second")
    parser.add_argument("--port", type=int, default=18640)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if not 1 <= args.seconds <= MAX_SECONDS or not 1 <= args.users <= 200:
        parser.error(f"seconds must be 1..{MAX_SECONDS} and users 1..200")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="gliomalens-load-"))
    instance, phantoms = workdir / "instance", workdir / "phantoms"
    instance.mkdir(parents=True, exist_ok=False)
    env = server_env(instance, args.port)
    password = "load-" + secrets.token_urlsafe(12)
    seed(env, args.users + 1, password, phantoms)
    base = f"http://127.0.0.1:{args.port}"
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "app.celery_worker", "worker", "--pool", "prefork",
         "--concurrency", "1", "-Q", "inference", "--loglevel", "INFO", "-n", "load@%h"],
        env=env, cwd=ROOT, stdout=open(workdir / "worker.log", "w"), stderr=subprocess.STDOUT,
    )
    web = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--access-logfile", "/dev/null",
         "wsgi:app"],
        env=env, cwd=ROOT, stdout=open(workdir / "web.log", "w"), stderr=subprocess.STDOUT,
    )
    try:
        wait_until_up(base + "/login")
        ready = wait_for_worker(workdir / "worker.log")
        print(f"worker's models loaded after {ready:.0f} s", flush=True)
        command = [
            str(BIN / "locust"), "-f", str(ROOT / "scripts" / "locustfile.py"), "--headless",
            "--users", str(args.users + 1), "--spawn-rate", str(args.spawn_rate), "--run-time",
            f"{args.seconds}s", "--host", base, "--json-file", str(workdir / "locust"),
            "--csv", str(workdir / "locust"),
            "--only-summary", "--stop-timeout", "30", "--loglevel", "WARNING",
            "--phantoms", str(phantoms), "--upload-every", str(args.upload_every),
        ]
        print("$ " + " ".join(command) + " --password ...", flush=True)
        locust = subprocess.run(command + ["--password", password], cwd=ROOT, check=False)
    finally:
        for process in (web, worker):
            process.send_signal(signal.SIGTERM)
        for process in (web, worker):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    report(workdir / "locust.json", args.seconds)
    failures = (workdir / "locust_failures.csv").read_text().strip().splitlines()[1:]
    print("failures (method, page, error, count):", *failures or ["none"], sep="\n  ")
    print(f"\ncases at the end: {case_states(env)}")
    print(f"(instance, logs and locust CSVs in {workdir})")
    return locust.returncode


if __name__ == "__main__":
    raise SystemExit(main())
