"""Export the MNI152 T1 template that ships inside nilearn as static/brain/mni152.nii.gz.

The home page shows this brain in the 3D viewer. The template is the MNI ICBM152 2009 nonlinear
symmetric T1 template (McConnell Brain Imaging Centre, Montreal Neurological Institute), which
nilearn includes in its package data: nothing is downloaded.

The 1 mm template is resampled to 1.5 mm by default: it looks the same in the 3D render, but is
a third of the voxels, so the page is ready several times sooner with software WebGL (SwiftShader,
used by the headless browser tests); pass --resolution 1 for the original grid.

Usage: .venv/bin/python scripts/export_brain.py [--resolution MM] [OUTPUT]
       (default: 1.5 mm, static/brain/mni152.nii.gz). Idempotent: rewritten atomically.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "static" / "brain" / "mni152.nii.gz"
DEFAULT_RESOLUTION_MM = 1.5


def export_brain(
    output: Path = DEFAULT_OUTPUT, resolution_mm: float = DEFAULT_RESOLUTION_MM
) -> Path:
    """Write the nilearn MNI152 T1 template as a uint8 NIfTI-1 (.nii.gz) at `output`; return it.

    `resolution_mm` other than 1 resamples the 1 mm template (cubic spline) to that voxel size.
    """
    # Imported late: nilearn is slow to import.
    from nilearn.datasets import load_mni152_template
    from nilearn.image import resample_img

    template = load_mni152_template()  # packaged with nilearn, 1 mm, values 0..1
    peak = float(template.get_fdata(dtype=np.float32).max()) or 1.0
    if resolution_mm != 1:
        template = resample_img(
            template,
            target_affine=np.diag([resolution_mm] * 3),
            interpolation="continuous",
            force_resample=True,
            copy_header=True,
        )
    data = np.asarray(template.get_fdata(dtype=np.float32))
    scaled = np.clip(np.rint(data / peak * 255.0), 0, 255).astype(np.uint8)
    image = nib.Nifti1Image(scaled, template.affine)
    image.header.set_data_dtype(np.uint8)
    image.header.set_xyzt_units("mm")
    image.header["descrip"] = b"MNI ICBM152 2009 nonlin sym T1 (nilearn)"
    image.set_qform(template.affine, code=4)  # 4 = MNI152
    image.set_sform(template.affine, code=4)

    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".nii.gz", dir=output.parent)
    os.close(fd)
    try:
        nib.save(image, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the web server must be able to read it
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return output


def main(argv: list[str]) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Export the MNI152 brain of the home page.")
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--resolution",
        type=float,
        default=DEFAULT_RESOLUTION_MM,
        metavar="MM",
        help=f"voxel size in mm (default {DEFAULT_RESOLUTION_MM}; 1 keeps the original grid)",
    )
    args = parser.parse_args(argv[1:])
    if not 0.5 <= args.resolution <= 4:
        parser.error("--resolution must be between 0.5 and 4 mm")
    path = export_brain(args.output, args.resolution)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB, {args.resolution:g} mm)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
