"""Grad-CAM maps: shape, range, alignment with the slice, PNG overlay and heatmap NIfTI."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from app.pipeline.models.inputs import InputGeometry, prepare_case
from app.pipeline.render.saliency import (
    HEATMAP_RANGE,
    MIN_PANEL_PX,
    cividis_lut,
    colour_bar_rgb,
    display_orientation,
    gradcam_rgb,
    heatmap_volume,
    maps_to_slices,
    overlay_rgb,
    write_nifti_fast,
    write_overlay_png,
)


def test_gradcam_shape_and_range(tiny_classifier, phantom_case):
    case, found = phantom_case
    prepared = prepare_case(case, tiny_classifier.card, found.index)
    cams = tiny_classifier.gradcam(prepared.batch, 2)
    n, size = len(prepared.indices), tiny_classifier.card.image_size
    assert cams.shape == (n, size, size)
    assert cams.min() >= 0 and cams.max() <= 1.0 + 1e-6
    slices = maps_to_slices(cams, prepared.geometry)
    assert slices.shape == (*case.shape[:2], n)
    assert 0 <= slices.min() and slices.max() <= 1


def test_maps_are_undone_into_slice_geometry():
    geom = InputGeometry("channels4", (100, 80), 32, x0=10, y0=-5, side=90)
    cam = np.zeros((32, 32), np.float32)
    cam[8, 24] = 1.0  # input pixel (8, 24) ↔ slice (10 + 8·89/31, -5 + 24·89/31)
    back = maps_to_slices(cam, geom)[:, :, 0]
    px, py = np.unravel_index(np.argmax(back), back.shape)
    assert abs(px - (10 + 8 * 89 / 31)) <= 1.5 and abs(py - (-5 + 24 * 89 / 31)) <= 1.5
    assert back[0:5, :].max() == 0.0  # the crop started at x = 10: nothing above it


def test_heatmap_volume_is_zero_outside_the_slices():
    maps = np.full((6, 7, 2), 0.5, np.float32)
    vol = heatmap_volume(maps, [3, 4], (6, 7, 9))
    assert vol.dtype == np.float32 and vol.shape == (6, 7, 9)
    assert vol[:, :, [3, 4]].min() == 0.5 and vol[:, :, [0, 1, 2, 5, 6, 7, 8]].max() == 0
    with pytest.raises(ValueError):
        heatmap_volume(maps, [3], (6, 7, 9))


def test_heatmap_nifti_keeps_the_patient_grid(tmp_path):
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    affine[:3, 3] = [-5, 3, 7]
    maps = np.zeros((6, 7, 1), np.float32)
    maps[2, 3, 0] = 0.75
    vol = heatmap_volume(maps, [4], (6, 7, 9))
    path = write_nifti_fast(vol, affine, tmp_path / "h.nii.gz", HEATMAP_RANGE)
    with gzip.open(path) as fh:
        assert len(fh.read()) > 6 * 7 * 9 * 4
    img = nib.load(path)
    assert np.allclose(img.affine, affine) and img.get_data_dtype() == np.float32
    assert np.asarray(img.dataobj)[2, 3, 4] == np.float32(0.75)
    # A fixed display range travels with the file: the viewer never rescales saliency.
    assert (float(img.header["cal_min"]), float(img.header["cal_max"])) == (0.0, 1.0)


def test_overlay_png_and_lut(tmp_path):
    lut = cividis_lut()
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert lut[0].tolist() != lut[-1].tolist() and lut[-1][0] > 200  # dark blue -> yellow
    plane = np.random.default_rng(0).uniform(1, 100, (40, 50)).astype(np.float32)
    cam = np.zeros((40, 50), np.float32)
    rgb = overlay_rgb(plane, cam)
    assert rgb.shape == (40, 50, 3) and np.array_equal(rgb[..., 0], rgb[..., 1])  # no map: grey
    path = write_overlay_png(plane, np.ones_like(cam), tmp_path / "g.png")
    with Image.open(path) as image:
        # Rows are Y in display orientation, enlarged to at least MIN_PANEL_PX; a colour bar beside.
        assert image.mode == "RGB" and image.size[1] >= MIN_PANEL_PX and image.size[1] % 50 == 0
        assert image.size[0] > image.size[1] * 40 // 50


def test_colour_bar_runs_from_high_at_the_top_to_low_and_is_labelled():
    bar = colour_bar_rgb(400)
    lut = cividis_lut()
    column = bar[:, 4]  # inside the ramp
    ramp = column[np.ptp(column.astype(int), axis=1) > 0]  # coloured, not the grey title text
    # The ramp's top is the LUT's high end (yellow), its bottom the low end (dark blue).
    assert np.abs(ramp[0].astype(int) - lut[-1]).max() <= 8
    assert np.abs(ramp[-1].astype(int) - lut[0]).max() <= 8
    labels = bar[:, 20:]
    assert (labels > 200).all(axis=-1).sum() > 30  # white label text ("1 high", "0 low")


def _tumour_on_patients_right(shape=(40, 48)):
    """(X, Y) slice of a RAS+ grid with a bright blob at high X: the patient's right."""
    plane = np.full(shape, 50.0, np.float32)
    cam = np.zeros(shape, np.float32)
    plane[30:36, 20:28] = 400
    cam[28:38, 18:30] = 1.0
    return plane, cam


@pytest.mark.parametrize(("convention", "tumour_side"), [("radiological", "left"),
                                                        ("neurological", "right")])
def test_gradcam_figure_puts_the_patients_right_where_the_convention_says(convention,
                                                                          tumour_side):
    plane, cam = _tumour_on_patients_right()
    rgb = gradcam_rgb(plane, cam, convention).astype(int)
    panel_w = display_orientation(plane).shape[1] * (rgb.shape[0] // plane.shape[1])
    panel = rgb[:, :panel_w]
    yellow = panel[..., 0] - panel[..., 2] > 40  # the warm (high) end of the saliency map
    cols = np.nonzero(yellow.any(axis=0))[0]
    assert cols.size
    side = "left" if cols.mean() < panel_w / 2 else "right"
    assert side == tumour_side
    with pytest.raises(ValueError):
        gradcam_rgb(plane, cam, "sideways")


def test_display_orientation_is_radiological():
    plane = np.zeros((4, 3))
    plane[3, 2] = 1  # patient's right-most X, most anterior Y
    shown = display_orientation(plane)
    assert shown.shape == (3, 4) and shown[0, 0] == 1  # top (anterior), viewer's left


def test_the_viewer_uses_the_same_saliency_colour_map_as_the_png():
    """One colour map everywhere: static/js/colormaps.js holds the PNG LUT's anchor colours."""
    import json
    import re
    from pathlib import Path

    from app.pipeline.render.saliency import _CIVIDIS_ANCHORS

    js = (Path(__file__).resolve().parents[2] / "static/js/colormaps.js").read_text("utf-8")
    found = re.search(r"SALIENCY_ANCHORS = (\[[\s\S]*?\]);", js)
    assert found, "SALIENCY_ANCHORS not found in colormaps.js"
    anchors = json.loads(re.sub(r",\s*\]", "]", found.group(1)))
    assert np.array_equal(np.asarray(anchors, np.float32), _CIVIDIS_ANCHORS)


class _EverywhereSalient:
    """A classifier stand-in whose Grad-CAM is 1 on every input pixel (no TensorFlow)."""

    def gradcam(self, batch: np.ndarray, class_index: int) -> np.ndarray:
        return np.ones(batch.shape[:3], np.float32)


@pytest.mark.parametrize("background", [0.0, 4.0], ids=["skull-stripped", "noisy-background"])
def test_saliency_stage_leaves_no_heat_outside_the_brain(tmp_path, background):
    """Saliency is cut to the brain the classifier saw, also when the background is not 0."""
    from types import SimpleNamespace

    from app.pipeline.analysis.context import AnalysisContext
    from app.pipeline.analysis.stages import SaliencyResult, SaliencyStage, SubtypeOutput
    from app.pipeline.models.inputs import PreparedInput, build_from_slices

    rng = np.random.default_rng(0)
    xx, yy = np.mgrid[:48, :40]
    brain = (xx - 26) ** 2 / 18**2 + (yy - 20) ** 2 / 15**2 <= 1  # off-centre, not square
    plane = np.where(brain, 100.0, background) + rng.uniform(0, background, brain.shape)
    slabs = {s: np.repeat(plane[:, :, None], 3, axis=2).astype(np.float32)
             for s in ("flair", "t1", "t1ce", "t2")}
    norm = {s: {"method": "none"} for s in slabs}
    batch, geometry = build_from_slices(slabs, layout="channels4", image_size=32,
                                        normalisation=norm)
    ctx = AnalysisContext(paths={}, models=None, scratch=tmp_path)
    prepared = PreparedInput(batch, geometry, [9, 10, 11], 10, slabs)
    ctx.set_result("subtype", SubtypeOutput(prepared, SimpleNamespace(class_index=0)))

    SaliencyStage(_EverywhereSalient()).run(ctx)

    maps = ctx.result("saliency", SaliencyResult).slice_maps
    assert maps.shape == (48, 40, 3)
    assert maps[~brain].max() == 0.0, "saliency outside the brain"
    inner = (xx - 26) ** 2 / 14**2 + (yy - 20) ** 2 / 11**2 <= 1
    assert maps[inner].min() > 0.5  # the heat inside the brain is kept
