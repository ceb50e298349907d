"""Worker memory for the largest accepted input: peak RSS while loading a 512³ float64 case.

Writes one brain-like float64 volume of --side³ voxels (uncompressed .nii, 1 GiB at 512) and
hard-links it into the four sequence slots, then measures, each in a fresh process, the peak
resident memory (ru_maxrss) of:

  nibabel   np.asarray(nib.load(f).dataobj, dtype=float32): reads the stored float64 first
            (what NiftiVolume.read did before it converted piece by piece), one file;
  read      NiftiVolume(f).read(): float32 piece by piece, one file;
  case      load_case(four files, lazy=False): the four float32 volumes the worker holds
            during an analysis (the sequence stage reads all four).

Prints, per mode, the RSS after imports, the peak and the difference (MiB). Numbers, not a test.
Usage: python scripts/bench_memory.py [--side 512] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = ("nibabel", "read", "case")
SEQUENCES = ("flair", "t1", "t1ce", "t2")

CHILD = r"""
import json, resource, sys
sys.path.insert(0, {root!r})
import nibabel as nib
import numpy as np
from app.pipeline.io.case_loader import load_case
from app.pipeline.io.nifti import NiftiVolume

def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

mode, folder = sys.argv[1], sys.argv[2]
flair = folder + "/flair.nii"
before = rss_mib()
if mode == "nibabel":
    held = [np.asarray(nib.load(flair).dataobj, dtype=np.float32)]
elif mode == "read":
    held = [NiftiVolume(flair, "flair").read()]
else:
    case = load_case({{s: folder + f"/{{s}}.nii" for s in {sequences!r}}}, lazy=False)
    held = [case.volume(s) for s in {sequences!r}]
print(json.dumps({{"before": before, "peak": rss_mib(),
                   "held": sum(a.nbytes for a in held) / 2**20}}))
"""


def write_phantom(folder: Path, side: int) -> Path:
    """Write a side³ float64 ellipsoid brain (noise inside, zeros outside) as flair.nii and
    hard-link it as t1/t1ce/t2; return the folder. Runs in a child so its memory is not counted."""
    code = f"""
import numpy as np, nibabel as nib
side = {side}
rng = np.random.default_rng(0)
data = np.zeros((side, side, side), dtype=np.float64)
y, x = np.mgrid[0:side, 0:side].astype(np.float64) / side - 0.5
for k in range(side):
    z = k / side - 0.5
    inside = (x / 0.4) ** 2 + (y / 0.45) ** 2 + (z / 0.35) ** 2 <= 1
    data[:, :, k] = np.where(inside, 600 + 50 * rng.standard_normal((side, side)), 0)
nib.save(nib.Nifti1Image(data, np.diag([0.5, 0.5, 0.5, 1.0])), {str(folder / "flair.nii")!r})
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    for sequence in SEQUENCES[1:]:
        target = folder / f"{sequence}.nii"
        target.unlink(missing_ok=True)
        os.link(folder / "flair.nii", target)
    return folder


def measure(mode: str, folder: Path) -> dict[str, float]:
    """Run one mode in a fresh interpreter; return its RSS before, peak and held bytes (MiB)."""
    code = CHILD.format(root=str(ROOT), sequences=SEQUENCES)
    out = subprocess.run(
        [sys.executable, "-c", code, mode, str(folder)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    """Write the phantom, measure every mode, print one line each; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        folder = write_phantom(Path(tmp), args.side)
        size = (folder / "flair.nii").stat().st_size
        print(f"input: {args.side}³ float64, {size / 2**20:.0f} MiB per file, four sequences")
        print(
            f"{'mode':<8} {'after imports':>14} {'peak RSS':>10} {'peak - imports':>15} "
            f"{'arrays held':>12}   (MiB)"
        )
        for mode in MODES:
            r = measure(mode, folder)
            print(
                f"{mode:<8} {r['before']:>14.0f} {r['peak']:>10.0f} "
                f"{r['peak'] - r['before']:>15.0f} {r['held']:>12.0f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
