"""The drop zone's script reads the server's naming table and recognises the same names."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from app.pipeline.io.naming import is_segmentation_file, naming_table, sequence_from_filename

SCRIPT = Path(__file__).resolve().parents[2] / "static" / "js" / "upload.js"

NAMES = [
    "BraTS20_001_flair.nii.gz", "BraTS20_001_t1.nii.gz", "BraTS20_001_t1ce.nii.gz",
    "BraTS20_001_t2.nii", "BraTS-GLI-00001-000-t2f.nii.gz", "BraTS-GLI-00001-000-t1n.nii.gz",
    "BraTS-GLI-00001-000-t1c.nii.gz", "BraTS-GLI-00001-000-t2w.nii.gz", "flair.nii.gz",
    "T1.nii", "T1Gd.nii.gz", "case 7 T1C.nii.gz", "x.T1post.nii", "p_T1_contrast.nii.gz",
    "T2w.nii.gz", "T2_FLAIR.nii.gz", "FLAIR.NII.GZ", "dir/sub/CASE_t2.nii.gz",
    "CASE_seg.nii.gz", "CASE-seg.nii", "notes.txt", "t1ce.png", "bt1.nii.gz", "t2star.nii.gz",
    "CASE_flair.nii.gz.bak", "myt2.nii",
]

HARNESS = """
const table = %s;
globalThis.document = { getElementById: (id) => (id === 'slots'
  ? { dataset: { naming: JSON.stringify(table) } } : null) };
const mod = await import(%s);
const names = %s;
console.log(JSON.stringify(names.map((n) => [mod.sequenceFromFilename(n),
  mod.isSegmentationFile(n)])));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is installed by `make setup`")
def test_upload_script_recognises_exactly_what_the_server_does(tmp_path):
    harness = tmp_path / "harness.mjs"
    harness.write_text(HARNESS % (json.dumps(naming_table()), json.dumps(SCRIPT.as_uri()),
                                  json.dumps(NAMES)))
    out = subprocess.run(["node", str(harness)], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    from_js = [tuple(pair) for pair in json.loads(out)]
    from_python = [(sequence_from_filename(n), is_segmentation_file(n)) for n in NAMES]
    assert from_js == from_python
    assert from_python[0] == ("flair", False) and from_python[18] == (None, True)
