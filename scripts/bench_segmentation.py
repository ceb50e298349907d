"""Segmentation benchmark: U-Net inference on BraTS-size cases already loaded in memory.

    .venv/bin/python scripts/bench_segmentation.py [--n 3] [--repeat 3] \
        [--model models/segmentation-demo] [--threads 2]

Writes N BraTS-size phantoms (1 mm, 240×240×155; seed 5404, never used for training, selection
or the test set) as NIfTI, loads each with ``load_case(lazy=False)`` (all four sequences read and
validated: the arrays the analysis already holds), loads the model once and warms it up, then
times ``Segmenter.segment`` ``--repeat`` times per case. Prints the median wall-clock time per
case and its parts (prepare: brain box, block averaging, normalisation; predict: one batched
network call over the brain slices; postprocess: upsampling probabilities and argmax), the
process CPU time, the load average, and the WT Dice against the phantom's label map as a check.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.pipeline.io.naming import SEQUENCES  # noqa: E402

BENCH_SEED = 5404


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", type=Path, default=REPO / "models" / "segmentation-demo")
    parser.add_argument("--threads", type=int, default=None, help="TF intra-op threads")
    args = parser.parse_args()
    if args.threads:
        os.environ["GLIOMALENS_TF_THREADS"] = str(args.threads)

    from app.pipeline.io.case_loader import load_case
    from app.pipeline.lesion.segmentation import Segmenter
    from app.pipeline.models.tf_runtime import describe_device
    from app.pipeline.synthetic.phantoms import generate_case, write_case
    from app.pipeline.training.seg_metrics import dice

    t = time.perf_counter()
    segmenter = Segmenter.load(args.model)
    segmenter.warm_up()
    print(f"model {segmenter.card.name} {segmenter.card.version} loaded + warmed up in "
          f"{time.perf_counter() - t:.2f} s on {describe_device()}")
    rng = np.random.default_rng(BENCH_SEED)
    totals, parts = [], {"prepare": [], "predict": [], "postprocess": []}
    cpu_per_case = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.n):
            cls = "GAO"[i % 3]
            phantom = generate_case(cls, rng)
            write_case(phantom, tmp, f"S{i}")
            case = load_case({s: Path(tmp) / f"S{i}_{s}.nii.gz" for s in SEQUENCES}, lazy=False)
            segmenter.segment(case)  # first call on this shape
            times = []
            for _ in range(args.repeat):
                c0 = time.process_time()
                result = segmenter.segment(case)
                cpu_per_case.append(time.process_time() - c0)
                times.append(result.seconds)
            best = min(times, key=lambda s: s["total"])
            totals.append(statistics.median(s["total"] for s in times))
            for key in parts:
                parts[key].append(best[key])
            d = dice(result.labels > 0, phantom.seg > 0)
            print(f"case {i} ({cls}): median {totals[-1]:.3f} s over {args.repeat} "
                  f"({result.slices} slices; prepare {best['prepare']:.3f}, predict "
                  f"{best['predict']:.3f}, postprocess {best['postprocess']:.3f}); WT Dice {d:.3f}")
    print(f"segmentation per BraTS-size case: median {statistics.median(totals):.3f} s "
          f"(prepare {statistics.median(parts['prepare']):.3f}, predict "
          f"{statistics.median(parts['predict']):.3f}, postprocess "
          f"{statistics.median(parts['postprocess']):.3f}); CPU time per case "
          f"{statistics.median(cpu_per_case):.2f} s; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
