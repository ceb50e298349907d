"""Grad-CAM maps: shape, range, alignment with the slice, PNG overlay and heatmap NIfTI."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from app.pipeline.models.inputs import InputGeometry, prepare_case
from app.pipeline.render.saliency import (
    cividis_lut,
    display_orientation,
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
    assert vol.dtype == np.uint8 and vol.shape == (6, 7, 9)
    assert vol[:, :, [3, 4]].min() == 128 and vol[:, :, [0, 1, 2, 5, 6, 7, 8]].max() == 0
    with pytest.raises(ValueError):
        heatmap_volume(maps, [3], (6, 7, 9))


def test_heatmap_nifti_keeps_the_patient_grid(tmp_path):
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    affine[:3, 3] = [-5, 3, 7]
    vol = np.zeros((6, 7, 9), np.uint8)
    vol[2, 3, 4] = 255
    path = write_nifti_fast(vol, affine, tmp_path / "h.nii.gz")
    with gzip.open(path) as fh:
        assert len(fh.read()) > 6 * 7 * 9
    img = nib.load(path)
    assert np.allclose(img.affine, affine) and img.get_data_dtype() == np.uint8
    assert np.asarray(img.dataobj)[2, 3, 4] == 255


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
        assert image.size[1] == 50 and image.mode == "RGB"  # rows are Y in display orientation


def test_display_orientation_is_radiological():
    plane = np.zeros((4, 3))
    plane[3, 2] = 1  # patient's right-most X, most anterior Y
    shown = display_orientation(plane)
    assert shown.shape == (3, 4) and shown[0, 0] == 1  # top (anterior), viewer's left
