"""Export the MNI152 T1 template that ships inside nilearn as static/brain/mni152.nii.gz.

The home page shows this brain in the 3D viewer. The template is the MNI ICBM152 2009 nonlinear
symmetric T1 template (McConnell Brain Imaging Centre, Montreal Neurological Institute), which
nilearn includes in its package data: nothing is downloaded.

Usage: .venv/bin/python scripts/export_brain.py [OUTPUT]   (default: static/brain/mni152.nii.gz)
Idempotent: an existing output is rewritten atomically.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "static" / "brain" / "mni152.nii.gz"


def export_brain(output: Path = DEFAULT_OUTPUT) -> Path:
    """Write the nilearn MNI152 T1 template as a uint8 NIfTI-1 (.nii.gz) at `output`; return it."""
    from nilearn.datasets import load_mni152_template  # imported late: nilearn is slow to import

    template = load_mni152_template()  # packaged with nilearn, 1 mm, values 0..1
    data = np.asarray(template.get_fdata(dtype=np.float32))
    peak = float(data.max()) or 1.0
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
    """Command-line entry point: optional output path as the only argument."""
    output = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUTPUT
    path = export_brain(output)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
