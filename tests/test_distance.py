"""The distance transform against SciPy's (an independent exact implementation)."""

import numpy as np
import pytest
from scipy import ndimage

from insitu4d.distance import distance_to_background, distance_within_labels
from insitu4d.errors import InvalidParameter


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", [(37, 52), (19, 33, 41)])
def test_distance_equals_scipys(seed, shape):
    # oracle: scipy.ndimage.distance_transform_edt (float64); edt takes the square root in float32, so the
    # two agree to float32's relative rounding (6e-8) of distances up to ~40 voxels: 1e-5
    rng = np.random.default_rng(seed)
    mask = ndimage.gaussian_filter(rng.normal(size=shape), 3) > -0.05  # blobs, touching the edges
    expected = ndimage.distance_transform_edt(mask)
    got = distance_to_background(mask)
    assert got.dtype == np.float64 and got.shape == mask.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert expected.max() > 3  # the mask has depth


def test_distance_without_background_is_infinite():
    assert np.isinf(distance_to_background(np.ones((4, 5, 6), bool))).all()
    assert np.isinf(distance_within_labels(np.ones((4, 5, 6), np.int32))).all()
    assert (distance_to_background(np.zeros((4, 5), bool)) == 0).all()


def test_distance_refuses_a_mask_that_is_not_2d_or_3d():
    for shape in [(7,), (2, 3, 4, 5)]:
        with pytest.raises(InvalidParameter, match=r"needs a 2D image or a 3D volume mask; got \d dimensions"):
            distance_to_background(np.ones(shape, bool))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", [(37, 52), (19, 33, 41)])
def test_distance_within_labels_is_each_labels_own_distance(seed, shape):
    # oracle: SciPy's transform of each label's mask on its own (the other labels count as background);
    # touching labels (random coarse cells) in blobs, the array's edges not background, as distance_to_background
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=shape), 3)
    cells = rng.integers(1, 7, tuple(max(n // 9, 2) for n in shape))
    labels = ndimage.zoom(cells, [n / c for n, c in zip(shape, cells.shape)], order=0, grid_mode=True,
                          mode="grid-constant")
    labels = np.where(field > -0.05, labels, 0)
    expected = np.zeros(shape)
    for label in range(1, 7):
        expected = np.where(labels == label, ndimage.distance_transform_edt(labels == label), expected)
    got = distance_within_labels(labels)
    assert got.dtype == np.float64 and np.unique(labels).size >= 4
    np.testing.assert_allclose(got, expected, atol=1e-5)
    with pytest.raises(InvalidParameter, match=r"needs a 2D or 3D label array; got 1 dimensions"):
        distance_within_labels(np.ones(7, np.int32))
