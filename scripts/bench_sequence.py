"""Sequence-check benchmark: seconds for the four-slot check of one BraTS-size case (arrays loaded).

    .venv/bin/python scripts/bench_sequence.py [--n 5] [--repeat 5] [--model models/sequence-demo]

Generates N phantom cases at 1 mm (240x240x155, float32 as the case loader gives them), loads the
sequence model once and warms it up, then times ``SequenceModel.check`` on each case ``repeat``
times: preprocessing of the four volumes, the CNN with Monte-Carlo dropout and the assignment.
Prints the median and worst wall-clock time per case and the split between preprocessing and the
model, plus the same with Grad-CAM. The goal is <= 0.15 s per case on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.pipeline.io.naming import SEQUENCES  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5, help="phantom cases (default 5)")
    parser.add_argument("--repeat", type=int, default=5, help="checks per case (default 5)")
    parser.add_argument("--model", default=str(REPO / "models" / "sequence-demo"))
    parser.add_argument("--seed", type=int, default=4242)
    args = parser.parse_args(argv)

    from app.pipeline.models.sequence import SequenceModel
    from app.pipeline.synthetic.phantoms import generate_case

    cases = []
    for i in range(args.n):
        case = generate_case("AOG"[i % 3], args.seed + i)
        cases.append({s: case.volumes[s].astype(np.float32) for s in SEQUENCES})
    model = SequenceModel.load(args.model)
    model.warm_up()
    model.check(cases[0])

    timings: dict[str, list[float]] = {"check": [], "prepare": [], "model": [], "gradcam": []}
    for volumes in cases:
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            model.check(volumes)
            timings["check"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            batch = model.prepare(volumes)
            t1 = time.perf_counter()
            model.predict(batch)
            t2 = time.perf_counter()
            timings["prepare"].append(t1 - t0)
            timings["model"].append(t2 - t1)
            t0 = time.perf_counter()
            model.check(volumes, with_gradcam=True)
            timings["gradcam"].append(time.perf_counter() - t0)
    threads = os.environ.get("GLIOMALENS_TF_THREADS") or str(os.cpu_count())
    report = {
        "cases": args.n,
        "repeat": args.repeat,
        "cpu_threads": threads,
        **{f"{k}_median_s": round(statistics.median(v), 4) for k, v in timings.items()},
        "check_max_s": round(max(timings["check"]), 4),
    }
    print(json.dumps(report, indent=2))
    print(
        f"sequence check per case: median {report['check_median_s']:.3f} s "
        f"(preprocess {report['prepare_median_s']:.3f} s, CNN + MC dropout "
        f"{report['model_median_s']:.3f} s), worst {report['check_max_s']:.3f} s; "
        f"with Grad-CAM {report['gradcam_median_s']:.3f} s; goal <= 0.150 s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
