"""File-name conventions: every supported naming scheme, and names that must not match."""

from __future__ import annotations

import json

import pytest

from app.pipeline.io.naming import (
    SEQUENCES,
    case_stem,
    is_segmentation_file,
    naming_table,
    sequence_from_filename,
)

CONVENTIONS = {
    "BraTS 2018-21": {
        "BraTS20_Training_001_flair.nii.gz": "flair", "BraTS20_Training_001_t1.nii.gz": "t1",
        "BraTS20_Training_001_t1ce.nii.gz": "t1ce", "BraTS20_Training_001_t2.nii.gz": "t2",
    },
    "BraTS 2023": {
        "BraTS-GLI-00000-000-t2f.nii.gz": "flair", "BraTS-GLI-00000-000-t1n.nii.gz": "t1",
        "BraTS-GLI-00000-000-t1c.nii.gz": "t1ce", "BraTS-GLI-00000-000-t2w.nii.gz": "t2",
    },
    "bare names": {
        "flair.nii.gz": "flair", "FLAIR.nii": "flair", "T1.nii": "t1", "T1Gd.nii.gz": "t1ce",
        "T1C.nii": "t1ce", "T1post.nii.gz": "t1ce", "T1_contrast.nii.gz": "t1ce",
        "T2w.nii": "t2", "T2.nii.gz": "t2", "T2_FLAIR.nii.gz": "flair",
    },
    "separators and case": {
        "case 7 flair.nii": "flair", "case.7.T1CE.nii.gz": "t1ce", "P-3-T2-FLAIR.nii.gz": "flair",
        "p_3_t1-contrast.nii": "t1ce", "dir/sub/CASE_T2.NII.GZ": "t2",
    },
}


@pytest.mark.parametrize(
    "name, sequence",
    [(name, seq) for table in CONVENTIONS.values() for name, seq in table.items()],
)
def test_every_convention_names_its_sequence(name, sequence):
    assert sequence_from_filename(name) == sequence
    assert not is_segmentation_file(name)


@pytest.mark.parametrize("name", [
    "flairy.nii.gz", "xt1.nii", "CASE_t3.nii.gz", "CASE_t1ce.txt", "CASE_flair.nii.gz.bak",
    "CASE_flair.img", "CASE_t1ce_mask", "notes.nii.gz", "CASE_t1ce_seg.nii.gz", "",
])
def test_names_that_must_not_match(name):
    assert sequence_from_filename(name) is None


@pytest.mark.parametrize("name", ["CASE_seg.nii.gz", "BraTS-GLI-00000-000-seg.nii.gz",
                                  "seg.nii", "x.SEG.nii.gz"])
def test_segmentations_are_recognised_and_never_a_sequence(name):
    assert is_segmentation_file(name) and sequence_from_filename(name) is None


@pytest.mark.parametrize("name, stem", [
    ("BraTS20_Training_001_flair.nii.gz", "BraTS20_Training_001"),
    ("BraTS-GLI-00000-000-t2f.nii.gz", "BraTS-GLI-00000-000"),
    ("C3_seg.nii.gz", "C3"), ("P-3-T2-FLAIR.nii.gz", "P-3"), ("flair.nii", ""),
])
def test_case_stem_drops_the_sequence_token(name, stem):
    assert case_stem(name) == stem


def test_naming_table_is_json_and_covers_every_sequence():
    table = json.loads(json.dumps(naming_table()))
    assert table["sequences"] == list(SEQUENCES) and set(table["tokens"]) == set(SEQUENCES)
    assert "seg" in table["segmentation_tokens"] and ".nii.gz" in table["extensions"]
    for seq, tokens in table["tokens"].items():
        for token in tokens:
            assert sequence_from_filename(f"CASE_{token}.nii.gz") == seq
