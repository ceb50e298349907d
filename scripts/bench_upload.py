"""Upload de-identification cost: one BraTS-size sequence, and a gzip bomb refused.

Prints seconds (best of --repeat) for `deidentify_nifti` on a 240x240x155 int16 .nii.gz, the
stored size, and the time and compressed bytes read before a 4.5 MB-style bomb is refused.
Usage: python scripts/bench_upload.py [--repeat 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.cases.deidentify import deidentify_nifti  # noqa: E402
from app.pipeline.errors import InvalidInputError  # noqa: E402


def brats_like(path: Path) -> Path:
    """Write a 240x240x155 int16 brain-like volume (ellipsoid in noise) as .nii.gz."""
    rng = np.random.default_rng(0)
    grid = np.indices((240, 240, 155), dtype=np.float32)
    inside = (((grid[0] - 120) / 80) ** 2 + ((grid[1] - 120) / 95) ** 2
              + ((grid[2] - 77) / 60) ** 2) <= 1
    data = np.where(inside, 400 + 60 * rng.standard_normal(inside.shape), 0).astype(np.int16)
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    return path


def bomb(unpacked_mib: int) -> bytes:
    """A valid 240x240x155 int16 header and data, then `unpacked_mib` MiB of zeros, gzipped."""
    img = nib.Nifti1Image(np.ones((240, 240, 155), np.int16), np.eye(4))
    img.header.set_data_dtype(np.int16)
    img.header.set_data_offset(352)
    raw = img.header.binaryblock + b"\0" * 4 + img.get_fdata().astype(np.int16).tobytes()
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(raw)]
    block = bytes(1 << 20)
    parts += [compressor.compress(block) for _ in range(unpacked_mib)]
    return b"".join(parts) + compressor.flush()


def main() -> None:
    """Run both measurements and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        folder = Path(tmp)
        source = brats_like(folder / "src_flair.nii.gz")
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            with source.open("rb") as stream:
                stored = deidentify_nifti(stream, folder / "flair.nii.gz", "flair")
            best = min(best, time.perf_counter() - start)
        print(f"deidentify 240x240x155 int16: {best:.3f} s (best of {args.repeat}); "
              f"upload {source.stat().st_size / 1e6:.1f} MB -> stored "
              f"{stored.size_bytes / 1e6:.1f} MB")
        blob = bomb(2048)
        stream = io.BytesIO(blob)
        start = time.perf_counter()
        try:
            deidentify_nifti(stream, folder / "bomb.nii.gz", "flair")
        except InvalidInputError as exc:
            refusal = str(exc)
        else:
            raise SystemExit("the bomb was accepted")
        print(f"gzip bomb {len(blob) / 1e6:.1f} MB -> 2.0 GiB of zeros: refused in "
              f"{time.perf_counter() - start:.3f} s after reading {stream.tell() / 1e3:.0f} kB "
              f"({refusal[:60]}...)")


if __name__ == "__main__":
    main()
