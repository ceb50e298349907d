"""Tumour-type + OOD benchmark: seconds per loaded BraTS-size case, model warm.

    .venv/bin/python scripts/bench_tumour_type.py [--n 5] [--repeats 3] [--model DIR]

Writes N BraTS-size phantom cases (1 mm, 240x240x155, one per tumour type in turn) as NIfTI into a
temporary folder, loads each with ``case_loader.load_case(lazy=False)`` (timed separately: other
stages read the volumes too), then times ``TumourTypeModel.predict`` on the loaded case: block
averaging + normalisation of the four volumes, the network, calibration and the Mahalanobis
score. Prints the median and worst wall time and this process's CPU time per case.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", type=Path, default=REPO / "models" / "tumour-type-demo")
    parser.add_argument("--seed", type=int, default=777)
    args = parser.parse_args()

    from app.pipeline.classes import TUMOUR_TYPES
    from app.pipeline.io.case_loader import load_case
    from app.pipeline.io.naming import SEQUENCES
    from app.pipeline.models.tumour_type import TumourTypeModel
    from app.pipeline.synthetic.phantoms import write_case
    from app.pipeline.synthetic.tumour_types import generate_tumour_case

    model = TumourTypeModel.load(args.model)
    model.warm_up()
    load_s, wall, cpu = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.n):
            kind = TUMOUR_TYPES[i % len(TUMOUR_TYPES)]
            case = generate_tumour_case(kind, args.seed + i, voxel_mm=1.0)
            write_case(case, tmp, f"C{i}")
            paths = {s: Path(tmp) / f"C{i}_{s}.nii.gz" for s in SEQUENCES}
            t0 = time.perf_counter()
            loaded = load_case(paths, lazy=False)
            load_s.append(time.perf_counter() - t0)
            for _ in range(args.repeats):
                c0, t0 = os.times(), time.perf_counter()
                result = model.predict(loaded)
                wall.append(time.perf_counter() - t0)
                c1 = os.times()
                cpu.append((c1.user - c0.user) + (c1.system - c0.system))
            print(f"case {i} ({kind}, {loaded.shape}): {result['tumour_type']} "
                  f"p={result['top_probability']:.3f} "
                  f"in_distribution={result['in_distribution']:.3f}")
    print(f"tumour type + OOD per loaded case: median {statistics.median(wall):.3f} s, "
          f"worst {max(wall):.3f} s wall; median CPU {statistics.median(cpu):.3f} s "
          f"({len(wall)} runs, {os.cpu_count()} cores)")
    print("(reading the four NIfTI volumes, not included: "
          f"median {statistics.median(load_s):.3f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
