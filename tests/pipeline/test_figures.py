"""The montage and Grad-CAM figures: size, orientation markers, the display conventions."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.pipeline.io.naming import SEQUENCES
from app.pipeline.render import artefacts as art
from app.pipeline.render.saliency import CONVENTIONS, MIN_PANEL_PX, side_markers

SHAPE = (60, 72)  # (X, Y) of a RAS+ grid: X grows towards the patient's right


@pytest.fixture
def planes_and_mask():
    """Four planes with a bright lesion at high X (the patient's right) and its mask."""
    xx, yy = np.mgrid[: SHAPE[0], : SHAPE[1]]
    brain = ((xx - 30) / 27) ** 2 + ((yy - 36) / 33) ** 2 < 1
    mask = ((xx - 46) / 5) ** 2 + ((yy - 40) / 5) ** 2 < 1
    planes = {}
    for i, seq in enumerate(SEQUENCES):
        plane = brain * np.float32(60 + 10 * i)
        plane[mask] = 300
        planes[seq] = plane.astype(np.float32)
    return planes, mask


def _lesion_side(panel: np.ndarray) -> str:
    """Which half of a display panel holds the orange contour."""
    orange = np.all(panel == art.CONTOUR_RGB, axis=-1)
    cols = np.nonzero(orange.any(axis=0))[0]
    assert cols.size, "no contour drawn"
    return "left" if cols.mean() < panel.shape[1] / 2 else "right"


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_montage_panels_are_large_labelled_and_oriented(planes_and_mask, convention):
    planes, mask = planes_and_mask
    rgb = art.montage_rgb(planes, mask, convention)
    scale = rgb.shape[0] // SHAPE[1]
    assert rgb.shape[0] == SHAPE[1] * scale and rgb.shape[0] >= MIN_PANEL_PX
    panel_w = SHAPE[0] * scale
    assert rgb.shape[1] == 4 * panel_w + 3 * art.PANEL_GAP
    first = rgb[:, :panel_w]
    # The patient's right (high X) is on the screen's left in radiological convention only.
    expected = "left" if convention == "radiological" else "right"
    assert _lesion_side(first) == expected
    # White marker text at the middle of both edges (R/L) and the sequence label at the top left.
    white = np.all(first > 240, axis=-1)
    mid = slice(rgb.shape[0] // 2 - 15, rgb.shape[0] // 2 + 15)
    assert white[mid, :25].sum() > 10 and white[mid, -25:].sum() > 10
    assert white[:30, :60].sum() > 10
    assert side_markers(convention) == (("R", "L") if convention == "radiological" else ("L", "R"))


def test_montage_refuses_a_missing_sequence_and_an_unknown_convention(planes_and_mask):
    planes, mask = planes_and_mask
    with pytest.raises(ValueError, match="missing"):
        art.montage_rgb({k: v for k, v in planes.items() if k != "t2"}, mask)
    with pytest.raises(ValueError, match="convention"):
        art.montage_rgb(planes, mask, "upside-down")


def test_write_figures_writes_both_conventions_as_mirror_images(planes_and_mask, tmp_path):
    planes, mask = planes_and_mask
    cam = mask.astype(np.float32)
    written = art.write_figures(planes, mask, cam, tmp_path)
    names = set(written.values())
    assert names == {n for by_key in art.FIGURES.values() for n in by_key.values()}
    assert all(art.ARTEFACT_KEYS[key] == name for key, name in written.items())
    assert all((tmp_path / name).is_file() for name in names)
    assert names <= set(art.ARTEFACTS)
    with Image.open(tmp_path / art.MONTAGE_PNG) as radio_png:
        radio = np.asarray(radio_png)
    with Image.open(tmp_path / art.MONTAGE_NEURO_PNG) as neuro_png:
        neuro = np.asarray(neuro_png)
    assert radio.shape == neuro.shape
    panel_w = radio.shape[0] // SHAPE[1] * SHAPE[0]
    # Image content (the contour) is mirrored; the text stays readable (it is not mirrored).
    assert _lesion_side(radio[:, :panel_w]) == "left"
    assert _lesion_side(neuro[:, :panel_w]) == "right"
