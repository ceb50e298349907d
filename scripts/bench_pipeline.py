"""Benchmark the imaging pipeline on BraTS-size phantom cases (median seconds per stage).

Usage: python scripts/bench_pipeline.py [--n 10] [--seed 0] [--dir DIR]

Writes N phantom cases (240×240×155, four .nii.gz each) into a temporary folder (or DIR), then
times, per case: the upload check of the four files (inspect_nifti), load + validate (load_case:
FLAIR fully, the others opened lazily), both slice finders, and the lazy read of 5 axial slices of
T1, T1ce and T2 around the chosen slice.
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

from app.pipeline.io.case_loader import load_case  # noqa: E402
from app.pipeline.io.naming import SEQUENCES  # noqa: E402
from app.pipeline.io.nifti import inspect_nifti  # noqa: E402
from app.pipeline.lesion.slice_finder import find_slice_robust, find_slice_seed  # noqa: E402
from app.pipeline.synthetic import phantoms  # noqa: E402


class Clock:
    """Wall-clock and this process's CPU seconds (CPU time ignores other processes' load)."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    @property
    def both(self) -> tuple[float, float]:
        return self.wall, self.cpu


def timed(fn, *args, **kwargs):
    with Clock() as clock:
        result = fn(*args, **kwargs)
    return result, clock.both


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=None, help="keep the cases here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="gliomalens-bench-") as tmp:
        out = args.dir or Path(tmp)
        phantoms._anatomy(1.0)  # template cache, once (not part of the per-case figures)
        gen = []
        for i in range(args.n):
            cls = "AOG"[i % 3]
            case, t_gen = timed(phantoms.generate_case, cls, args.seed + i)
            _, t_write = timed(phantoms.write_case, case, out, phantoms.case_id(i + 1))
            gen.append((t_gen, t_write))
        stages: dict[str, list[tuple[float, float]]] = {
            "upload check (inspect_nifti x4)": [],
            "load + validate (load_case)": [],
            "slice: robust": [],
            "slice: seed": [],
            "lazy 5 slices x3 (axial_slices)": [],
        }
        sizes = []
        for i in range(args.n):
            paths = {s: out / f"{phantoms.case_id(i + 1)}_{s}.nii.gz" for s in SEQUENCES}
            sizes.append(sum(os.path.getsize(p) for p in paths.values()) / 1e6)
            with Clock() as clock:
                for seq, path in paths.items():
                    inspect_nifti(path, seq)
            stages["upload check (inspect_nifti x4)"].append(clock.both)
            case, t = timed(load_case, paths)
            stages["load + validate (load_case)"].append(t)
            result, t = timed(find_slice_robust, case.flair, case.voxel_size)
            stages["slice: robust"].append(t)
            _, t = timed(find_slice_seed, case.flair, case.voxel_size)
            stages["slice: seed"].append(t)
            k = min(max(result.index, 2), case.shape[2] - 3)
            with Clock() as clock:
                for seq in ("t1", "t1ce", "t2"):
                    case.axial_slices(seq, list(range(k - 2, k + 3)))
            stages["lazy 5 slices x3 (axial_slices)"].append(clock.both)

    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    print(f"{args.n} BraTS-size phantom cases (240x240x155), {os.cpu_count()} CPUs, {cpu}")
    print(f"four .nii.gz per case: median {statistics.median(sizes):.1f} MB")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other processes share the CPUs)")
    print(f"{'stage':36s} {'median s':>9s} {'min s':>7s} {'max s':>7s} {'median cpu':>9s}")
    rows = [
        ("phantom: generate_case", [g for g, _ in gen]),
        ("phantom: write 5 files", [w for _, w in gen]),
    ]
    rows += list(stages.items())
    for name, values in rows:
        wall = [w for w, _ in values]
        cpu_s = [c for _, c in values]
        print(
            f"{name:36s} {statistics.median(wall):9.3f} {min(wall):7.3f} {max(wall):7.3f}"
            f" {statistics.median(cpu_s):9.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
