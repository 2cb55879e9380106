"""Alignment at Ihara's dose (250 e⁻/nm² per series, ≤ 0.55 counts per pixel) with 20 px drift, against the truth."""

import numpy as np
import pytest

from insitu4d.align import LOW_DOSE_TV_WEIGHT, align_tilt_series, projection_matching, registration_sigma
from insitu4d.align.tilt_axis import rotation_from_moments, y_profile_shifts
from insitu4d.preprocess import rotate_and_shift
from insitu4d.errors import InvalidParameter
from insitu4d.simulate.haadf import haadf_tilt_series
from insitu4d.simulate.phantom import SinteringPair, Sphere, voxelise

TILTS = np.arange(-40, 41, 2.0)
PX_NM = 1.04


@pytest.fixture(scope="module")
def scene():
    pair = SinteringPair((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 20.0, 12.0)
    spheres = [Sphere.round((0, -35, 30), 12.0), Sphere.round((5, 30, -35), 10.0)]
    fill, _, zmap = voxelise((64, 160, 192), PX_NM, pairs=[pair], spheres=spheres, supersample=2)
    return fill, zmap


@pytest.fixture(scope="module")
def drifting_series(scene):
    ts, _, shifts = haadf_tilt_series(*scene, PX_NM, TILTS, dose_e_per_nm2=250, rng=np.random.default_rng(0),
                                      drift_max_px=20, tilt_axis_offset_px=3.0)
    return ts, shifts


def _rigid_fit(err_x):
    """Of the x errors: what no rigid translation of the object (Δx cos θ + Δz sin θ) and no axis
    offset explain, and the axis offset left (the constant of that fit), pixels."""
    t = np.deg2rad(TILTS)
    basis = np.stack([np.ones_like(t), np.cos(t), np.sin(t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, err_x, rcond=None)
    return err_x - basis @ coef, coef[0]


def _inconsistent_part(err_x):
    return _rigid_fit(err_x)[0]


@pytest.mark.parametrize("method", ["xcorr", "com", "mi"])
def test_drift_recovered_at_250_e_per_nm2(drifting_series, method):
    """The shifts applied undo the drift within the issue's 0.5 px RMS: along the axis
    (measured 0.26, 0.25, 0.26 px for xcorr, com, mi) and across it, apart from a rigid
    translation of the object (0.37, 0.38, 0.35 px; 0.30–0.38 over seeds 0–4). With a SIRT
    template in projection matching they were 0.41–0.43 and 0.53–0.56."""
    ts, true = drifting_series
    _, info = align_tilt_series(ts, tilt_axis_deg=0.0, method=method, max_rotation_deg=0.0)
    err = info.shifts_px + true
    err -= err.mean(axis=0)
    assert np.sqrt(np.mean(err[:, 0] ** 2)) <= 0.5
    assert np.sqrt(np.mean(_inconsistent_part(err[:, 1]) ** 2)) <= 0.5
    assert info.method == method and info.sigma_px > 1.0  # low counts: smoothed registration


def test_tv_template_sharpens_projection_matching(drifting_series):
    """Oracle: the twin's drift. Started 1 px (RMS) off the truth, three rounds against a TV
    re-projection (the weight align_tilt_series uses at low dose) land nearer the truth than
    three against a smoothed SIRT one (measured 0.33 vs 0.54 px RMS across the axis)."""
    ts, true = drifting_series
    sigma = registration_sigma(ts.data)
    start = -true + np.random.default_rng(3).normal(0.0, 1.0, true.shape)

    def resample(s):
        return rotate_and_shift(ts.data, shifts_px=s)

    errors = {}
    for tv_weight in (0.0, LOW_DOSE_TV_WEIGHT):
        found, _ = projection_matching(resample, start, TILTS, sigma_px=sigma, tv_weight=tv_weight)
        err = found + true
        errors[tv_weight] = np.sqrt(np.mean(_inconsistent_part(err[:, 1] - err[:, 1].mean()) ** 2))
    sirt, tv = errors.values()
    assert tv < 0.45 and tv < 0.8 * sirt
    with pytest.raises(InvalidParameter, match="tv_weight must be ≥ 0"):
        projection_matching(resample, start, TILTS, tv_weight=-1.0)


def test_registration_scale_follows_the_counts():
    rng = np.random.default_rng(0)
    assert registration_sigma(rng.poisson(30.0, (64, 64))) == 1.0
    assert registration_sigma(rng.poisson(0.5, (64, 64))) > 2.5
    with pytest.raises(InvalidParameter, match="unknown alignment method 'sift'"):
        align_tilt_series(drifting_series_stub(), method="sift")


def drifting_series_stub():
    from insitu4d.data import TiltSeries

    return TiltSeries(np.ones((3, 8, 8), np.float32), np.array([-2.0, 0.0, 2.0]), 1.0)


def test_y_profiles_register_along_the_axis(scene):
    """Oracle: known y shifts of the noiseless twin. The row sums are the same at every tilt,
    so registering them undoes the shifts to 0.05 px (measured 0.026 px at worst; the
    tolerance allows for the bilinear resampling of the test images)."""
    _, clean, _ = haadf_tilt_series(*scene, PX_NM, TILTS, dose_e_per_nm2=250, rng=np.random.default_rng(2))
    dy = np.random.default_rng(4).uniform(-4, 4, len(TILTS))
    moved = rotate_and_shift(clean, shifts_px=np.column_stack([dy, np.zeros_like(dy)]))
    found = y_profile_shifts(moved)
    assert np.abs(found + dy - np.mean(found + dy)).max() < 0.05
    with pytest.raises(InvalidParameter, match="needs a stack of images"):
        y_profile_shifts(moved[0])


def test_axis_rotation_from_band_moments(scene):
    """Oracle: the twin rendered with the axis rotated by 1°. On the clean images the band
    moments give it within 0.05° (measured 1.01°), whatever per-image shifts remain (1.01°
    with ±3 px in x and y: x shifts cancel, y shifts are undone by the row-sum profiles); at
    250 e⁻/nm² the estimate is within 3 standard errors of the truth, and the standard error
    says how little the dose allows (measured ±2.5–3.6° over 6 seed/angle cases; ±0.7–1.0° at
    2500 e⁻/nm²; ±0.2–0.3° on a 1024² frame, benchmarks/bench_low_dose.py): the issue's 0.5°
    is not reached at this dose on this small scene."""
    rng = np.random.default_rng(1)
    ts, clean, shifts = haadf_tilt_series(*scene, PX_NM, TILTS, dose_e_per_nm2=250, rng=rng, drift_max_px=20,
                                          tilt_axis_rotation_deg=1.0)
    registered = rotate_and_shift(clean, shifts_px=-shifts)
    assert rotation_from_moments(registered, TILTS)["rotation_deg"] == pytest.approx(1.0, abs=0.05)
    jitter = rng.uniform(-3, 3, (len(TILTS), 2))
    jittered = rotate_and_shift(clean, shifts_px=-shifts + jitter)
    assert rotation_from_moments(jittered, TILTS)["rotation_deg"] == pytest.approx(1.0, abs=0.05)
    noisy = rotation_from_moments(rotate_and_shift(ts.data, shifts_px=-shifts), TILTS)
    assert abs(noisy["rotation_deg"] - 1.0) < 3 * noisy["stderr_deg"] and 0.5 < noisy["stderr_deg"] < 10
    with pytest.raises(InvalidParameter, match="one tilt angle per image; got images"):
        rotation_from_moments(clean, TILTS[:-1])


def test_tilt_axis_on_the_full_frame_at_250_e_per_nm2():
    """The paper's 1024² frame (benchmarks/bench_low_dose.py, seed 1; the scene 5.3× larger,
    ≤ 2.45 counts per pixel): against the twin's drift the shifts are within 0.5 px (measured
    0.16 along, 0.19 across), the axis is left within 0.5 px of the centre (measured +0.02 px)
    and no rotation is invented (measured 0, SE 0.21°); with the axis rotated by 1° the
    rotation is found within 0.5° (measured 1.10° ± 0.22°). On the small test crop the same
    dose does not carry this information (test_axis_rotation_from_band_moments)."""
    n, scale = 1024, 1024 / 192
    pair = SinteringPair((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 20.0 * scale, 12.0 * scale)
    spheres = [Sphere.round((0, -35 * scale, 30 * scale), 12.0 * scale),
               Sphere.round((5, 30 * scale, -35 * scale), 10.0 * scale)]
    fill, _, zmap = voxelise((int(64 * scale), n, n), PX_NM, pairs=[pair], spheres=spheres, supersample=1)
    rng = np.random.default_rng(1)
    ts, expected, true = haadf_tilt_series(fill, zmap, PX_NM, TILTS, dose_e_per_nm2=250, rng=rng, drift_max_px=20,
                                           tilt_axis_offset_px=3.0)
    rng.poisson(expected)  # the benchmark's second exposure: keeps its random stream
    rotated, *_ = haadf_tilt_series(fill, zmap, PX_NM, TILTS, dose_e_per_nm2=250, rng=rng, drift_max_px=20,
                                    tilt_axis_offset_px=3.0, tilt_axis_rotation_deg=1.0)
    del fill, zmap, expected
    _, info = align_tilt_series(ts, tilt_axis_deg=0.0, method="xcorr")
    err = info.shifts_px + true
    across, axis_left_px = _rigid_fit(err[:, 1])
    assert err[:, 0].std() <= 0.5 and np.sqrt(np.mean(across ** 2)) <= 0.5
    assert abs(axis_left_px) <= 0.5  # the tilt axis left in the aligned images
    assert abs(info.tilt_axis_rotation_deg) <= 0.5
    _, info = align_tilt_series(rotated, tilt_axis_deg=0.0, method="xcorr")
    assert info.tilt_axis_rotation_deg == pytest.approx(1.0, abs=0.5) and info.tilt_axis_rotation_stderr_deg < 0.5
