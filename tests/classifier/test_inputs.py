"""Input layouts: shapes, normalisation, crop and the inverse mapping used by saliency."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.io.naming import SEQUENCES
from app.pipeline.models.inputs import (
    brain_square,
    build_from_slices,
    normalise,
    slab_indices,
    to_slice_geometry,
)

from .conftest import blob_slices

ROBUST = {s: {"method": "robust-z", "clip": 5.0} for s in SEQUENCES}
MINMAX = {s: {"method": "minmax"} for s in SEQUENCES}


def test_channels4_shape_and_normalisation():
    slabs = blob_slices()
    batch, geom = build_from_slices(slabs, layout="channels4", image_size=64, normalisation=ROBUST)
    assert batch.shape == (3, 64, 64, 4) and batch.dtype == np.float32
    assert batch.min() >= 0 and batch.max() <= 10
    # Brain tissue sits at the shifted median (5); the background is exactly 0.
    centre = batch[:, 28:36, 28:36, :].mean(axis=(1, 2))
    assert np.allclose(centre, 5.0, atol=0.5)
    assert batch[:, 0, 0, :].max() == 0.0
    # Every channel is normalised on its own: different raw scales give the same picture.
    assert np.allclose(centre[:, 0], centre[:, 3], atol=0.5)
    assert batch[:, :, :, 0].max() == pytest.approx(10.0)  # the bright disc hits the clip
    assert geom.side >= 52 and geom.layout == "channels4"


def test_seed_strip_shape_and_range():
    slabs = blob_slices()
    batch, geom = build_from_slices(
        slabs, layout="seed-strip", image_size=224, normalisation=MINMAX
    )
    assert batch.shape == (3, 224, 224, 3)
    assert np.array_equal(batch[..., 0], batch[..., 2])
    assert 0 <= batch.min() and batch.max() <= 1.0
    # Four panels side by side along the second axis: the disc shows up in each quarter.
    row = batch[0, int(20 * 224 / 60), :, 0]
    quarters = row.reshape(4, 56).max(axis=1)
    assert (quarters > 0.9).all()


@pytest.mark.parametrize(
    "layout, norm, size", [("channels4", ROBUST, 48), ("seed-strip", MINMAX, 64)]
)
def test_saliency_maps_back_onto_the_slice(layout, norm, size):
    slabs = blob_slices(centre=(18, 48))
    batch, geom = build_from_slices(slabs, layout=layout, image_size=size, normalisation=norm)
    # Use the input itself (disc brightest) as a "map": after undoing crop/resize, its peak must
    # land on the disc in slice coordinates.
    image_map = batch[0, :, :, 0] / batch[0, :, :, 0].max()
    if layout == "seed-strip":
        image_map = image_map * (image_map > 0.9)
    back = to_slice_geometry(image_map, geom)
    assert back.shape == (60, 70)
    px, py = np.unravel_index(np.argmax(back), back.shape)
    assert abs(px - 18) <= 3 and abs(py - 48) <= 3


def test_normalise_methods_and_empty_brain():
    values = np.array([[0, 10, 20], [30, 40, 0]], dtype=np.float32)
    brain = values > 0
    z = normalise(values, brain, {"method": "robust-z", "clip": 2.0})
    assert z[~brain].tolist() == [0.0, 0.0] and z[brain].min() >= 0 and z[brain].max() <= 4
    m = normalise(values, brain, {"method": "minmax"})
    assert m.max() <= 1.0
    assert not normalise(values, np.zeros_like(brain), {"method": "minmax"}).any()
    with pytest.raises(ValueError):
        normalise(values, brain, {"method": "magic"})


def test_slab_indices_are_clipped_and_unique():
    assert slab_indices(5, 2, 20) == [3, 4, 5, 6, 7]
    assert slab_indices(0, 2, 20) == [0, 1, 2]
    assert slab_indices(19, 2, 20) == [17, 18, 19]
    with pytest.raises(ValueError):
        slab_indices(20, 2, 20)


def test_brain_square_is_centred_and_padded():
    mask = np.zeros((50, 50), dtype=bool)
    mask[10:20, 5:45] = True
    x0, y0, side = brain_square(mask, 2)
    assert side == 44 and y0 == 3 and x0 == 15 - 22
    assert brain_square(np.zeros((8, 9), bool), 1) == (0, 0, 9)


def test_missing_or_mismatched_slabs_are_refused():
    slabs = blob_slices()
    with pytest.raises(ValueError, match="missing"):
        build_from_slices({"flair": slabs["flair"]}, layout="channels4", image_size=32,
                          normalisation=ROBUST)
    bad = dict(slabs, t2=slabs["t2"][:, :, :2])
    with pytest.raises(ValueError, match="differs"):
        build_from_slices(bad, layout="channels4", image_size=32, normalisation=ROBUST)
    with pytest.raises(ValueError, match="layout"):
        build_from_slices(slabs, layout="rgb", image_size=32, normalisation=ROBUST)
