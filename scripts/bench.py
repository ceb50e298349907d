"""`make bench`: every benchmark in turn (pipeline, classifier, the other models, worker,
worker memory); each prints its numbers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
BENCHMARKS = [
    "bench_pipeline.py", "bench_classifier.py", "bench_sequence.py", "bench_segmentation.py",
    "bench_tumour_type.py", "bench_worker.py", "bench_memory.py",
]


def main() -> int:
    """Run each benchmark script with this interpreter; return non-zero if any failed."""
    status = 0
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        result = subprocess.run([sys.executable, str(SCRIPTS / name)], check=False)
        status = status or result.returncode
    return status


if __name__ == "__main__":
    raise SystemExit(main())
