import numpy as np
import pytest

from insitu4d.data import TiltSeries
from insitu4d.errors import InvalidParameter
from insitu4d.preprocess import (bin_tilt_series, crop, normalise, remove_background, rotate_and_shift,
                                 rotate_images, rotate_to_vertical_axis)


def _series(offset=-31880.0, n=5, seed=0):
    rng = np.random.default_rng(seed)
    data = np.full((n, 32, 32), offset) + rng.normal(0, 2, (n, 32, 32))
    data[:, 10:20, 8:24] += 500.0  # specimen
    return TiltSeries(data, np.linspace(-20, 20, n), 2.0)


def test_background_offset_recovered():
    # oracle: the vacuum level put in; its estimate is a median of ~800 noisy pixels (σ = 2)
    ts = remove_background(_series())
    np.testing.assert_allclose(ts.steps("remove_background")[0].parameters["offsets"], -31880.0, atol=0.5)
    assert np.median(ts.data[:, :5, :5]) == pytest.approx(0.0, abs=0.5)
    assert ts.data[:, 12:18, 10:20].mean() == pytest.approx(500.0, abs=1.0)


def test_given_offset():
    ts = remove_background(_series(offset=100.0), offset=100.0)
    assert ts.steps("remove_background")[0].parameters["offsets"] == [100.0] * 5


def test_normalise_scales_whole_stack_by_one_number():
    ts = remove_background(_series())
    n = normalise(ts)
    ratio = ts.data / np.where(n.data == 0, np.nan, n.data)
    assert np.nanstd(ratio) < 1e-3 * np.nanmean(ratio)
    with pytest.raises(InvalidParameter, match="remove the background first"):
        normalise(TiltSeries(-np.ones((2, 4, 4)), [0, 1], 1.0))


def test_processing_is_recorded_in_the_history_not_in_the_vendor_metadata():
    raw = _series()
    ts = rotate_to_vertical_axis(bin_tilt_series(normalise(remove_background(raw)), 2).replace(tilt_axis_deg=90.0))
    assert [s.name for s in ts.history] == ["remove_background", "normalise", "bin", "rotate_to_vertical_axis"]
    assert ts.raw_metadata == raw.raw_metadata  # untouched
    divisor = ts.steps("normalise")[0].parameters["divisor"]
    assert ts.intensity_scale == divisor
    # oracle: the scale undoes the normalisation (binning averages, so the mean is kept)
    assert ts.data.mean() * ts.intensity_scale == pytest.approx(remove_background(raw).data.mean(), rel=1e-4)
    assert normalise(normalise(remove_background(raw))).intensity_scale == pytest.approx(divisor)  # 2nd divisor ≈ 1
    assert ts.steps("bin")[0].to_dict() == {"name": "bin", "factor": 2}


def test_bin_and_crop():
    ts = _series()
    b = bin_tilt_series(ts, 2)
    assert b.shape == (5, 16, 16) and b.pixel_size_nm == 4.0
    np.testing.assert_allclose(b.data[0, 0, 0], ts.data[0, :2, :2].mean(), rtol=1e-6)
    c = crop(ts, y=(4, 20), x=(0, 10))
    assert c.shape == (5, 16, 10)
    with pytest.raises(InvalidParameter, match="outside the image"):
        crop(ts, y=(0, 40))
    with pytest.raises(InvalidParameter, match="positive integer"):
        bin_tilt_series(ts, 0)


def test_exact_and_interpolated_rotations_agree():
    a = np.random.default_rng(1).random((2, 9, 9)).astype(np.float32)
    for angle in (90.0, -90.0, 180.0):
        exact = rotate_images(a, angle)
        interp = rotate_images(a, angle + 1e-6)
        np.testing.assert_allclose(exact[:, 1:-1, 1:-1], interp[:, 1:-1, 1:-1], atol=1e-4)


def test_tilt_axis_along_x_becomes_y():
    # a bar along x (the tilt axis at 90°) must run along y afterwards
    data = np.zeros((2, 16, 16), np.float32)
    data[:, 7:9, :] = 1
    ts = rotate_to_vertical_axis(TiltSeries(data, [0, 1], 1.0, tilt_axis_deg=90.0))
    assert ts.tilt_axis_deg == 0.0
    assert ts.data[:, :, 7:9].min() == 1 and ts.data.sum() == data.sum()


def test_rotate_and_shift_moves_axis_to_centre():
    # a line at x = xc + 3 becomes the centre column
    data = np.zeros((1, 21, 21), np.float32)
    data[0, :, 13] = 1
    out = rotate_and_shift(data, 0.0, 3.0)
    assert out[0, :, 10].min() == pytest.approx(1.0)
