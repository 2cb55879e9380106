import numpy as np
import pytest

from insitu4d.data import TiltSeries, Volume, validate_tilts
from insitu4d.errors import InvalidParameter, InvalidPixelValues, InvalidTiltAngles, NotAStack, TiltAngleMismatch


def stack(n=5):
    return np.zeros((n, 8, 8), np.float32)


def test_tilt_series_converts_to_float32_and_keeps_metadata():
    ts = TiltSeries(np.ones((3, 4, 5), np.int16), [-2, 0, 2], 1.5, probe_current_pA=2.0)
    assert ts.data.dtype == np.float32
    assert ts.shape == (3, 4, 5)
    assert ts.probe_current_pA == 2.0
    assert "probe_current_pA" not in ts.missing_metadata()
    assert "dwell_time_s" in ts.missing_metadata()


def test_tilt_count_mismatch_message():
    with pytest.raises(TiltAngleMismatch, match="5 images but 4 tilt angles"):
        TiltSeries(stack(5), [-2, -1, 0, 1], 1.0)


def test_duplicated_tilts_message():
    with pytest.raises(InvalidTiltAngles, match=r"duplicated tilt angle 0° at images 1 and 2"):
        validate_tilts([-2, 0, 0, 2, 4])


def test_non_monotonic_tilts_message():
    with pytest.raises(InvalidTiltAngles, match="not monotonic: 2° -> 1° at image 3"):
        validate_tilts([-2, 0, 2, 1, 4])


def test_decreasing_tilts_are_valid():
    np.testing.assert_array_equal(validate_tilts([4, 2, 0]), [4, 2, 0])


def test_tilts_in_radians_are_refused():
    with pytest.raises(InvalidTiltAngles, match="radians"):
        validate_tilts(np.deg2rad([-100, 0, 100]) * 100)


def test_nan_pixels_message():
    data = stack()
    data[2, 3, 4] = np.nan
    with pytest.raises(InvalidPixelValues, match=r"1 NaN or infinite pixel\(s\), the first at index \(2, 3, 4\)"):
        TiltSeries(data, np.arange(5.0), 1.0)


def test_inf_pixels_refused():
    data = stack()
    data[0, 0, 0] = np.inf
    with pytest.raises(InvalidPixelValues):
        TiltSeries(data, np.arange(5.0), 1.0)


def test_2d_input_message():
    with pytest.raises(NotAStack, match="single image"):
        TiltSeries(np.zeros((8, 8)), [0.0], 1.0)


def test_pixel_size_must_be_positive():
    with pytest.raises(InvalidParameter, match="pixel_size_nm must be a positive number in nm"):
        TiltSeries(stack(), np.arange(5.0), -1.0)


def test_volume_validation():
    v = Volume(np.zeros((2, 3, 4)), 0.5)
    assert v.shape == (2, 3, 4) and v.data.dtype == np.float32
    with pytest.raises(NotAStack):
        Volume(np.zeros((3, 4)), 0.5)


def test_dask_data_accepted():
    da = pytest.importorskip("dask.array")
    ts = TiltSeries(da.zeros((3, 4, 4), chunks=(1, 4, 4)), [-1, 0, 1], 1.0)
    assert ts.shape == (3, 4, 4)
