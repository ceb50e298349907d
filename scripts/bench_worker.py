"""Worker benchmark: queue latency (submit -> start) per broker, and cases per minute.

Runs a real Celery worker with the shipped model, as the worker tests do. Brokers: the embedded
SQLite transport, and Redis at BENCH_REDIS_URL (default redis://127.0.0.1:6379/14) when reachable.
Usage: .venv/bin/python scripts/bench_worker.py [--cases 10] [--latency-samples 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.pipeline.io.naming import SEQUENCES
from app.pipeline.synthetic.phantoms import generate_case, write_case
from tests.worker.stack import Stack


def _seconds(later, earlier) -> float:
    return (later - earlier).total_seconds()


def bench_broker(name: str, broker: str, phantoms: list[dict[str, Path]], cases: int,
                 samples: int, root: Path) -> dict[str, float]:
    """Return latency and throughput figures for one broker."""
    folder = root / name
    (folder / "instance").mkdir(parents=True)
    stack = Stack(folder, f"sqlite:///{folder / 'instance' / 'db.sqlite'}", broker)
    try:
        stack.start_worker("bench")
        t0 = time.perf_counter()
        stack.wait_worker_ready("bench")
        startup = time.perf_counter() - t0
        latencies = []
        for i in range(samples):  # one at a time: the worker is idle when each arrives
            cid = stack.upload(phantoms[i % len(phantoms)])
            case = stack.wait_finished([cid])[0]
            latencies.append(_seconds(case.started_at, case.created_at))
        start = time.perf_counter()
        ids = [stack.upload(phantoms[i % len(phantoms)]) for i in range(cases)]
        done = stack.wait_finished(ids, timeout=600)
        elapsed = time.perf_counter() - start
        assert all(c.status == "done" for c in done), [c.error_message for c in done]
        return {
            "worker_start_s": startup,
            "queue_latency_median_s": statistics.median(latencies),
            "queue_latency_max_s": max(latencies),
            "cases_per_minute": cases / elapsed * 60,
        }
    finally:
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--latency-samples", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        phantoms = []
        for i, cls in enumerate(("A", "O", "G")):
            write_case(generate_case(cls, 500 + i), root / "phantoms", f"B{i}")
            phantoms.append({s: root / "phantoms" / f"B{i}_{s}.nii.gz" for s in SEQUENCES})
        brokers = {"sqlite": f"sqla+sqlite:///{root / 'sqlite' / 'instance' / 'broker.sqlite'}"}
        redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
        try:
            import redis

            redis.Redis.from_url(redis_url, socket_connect_timeout=2).flushdb()
            brokers["redis"] = redis_url
        except Exception as exc:  # Redis is optional for the benchmark
            print(f"redis: skipped ({exc})")
        print(f"worker benchmark: {args.cases} cases, {args.latency_samples} latency samples, "
              f"{os.cpu_count()} CPUs")
        for name, url in brokers.items():
            figures = bench_broker(name, url, phantoms, args.cases, args.latency_samples, root)
            print(f"{name:7s} " + "  ".join(f"{k}={v:.2f}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
