import numpy as np
import pytest
from conftest import sphere_projections

from insitu4d.align import align_tilt_series, detect_tilt_axis_direction, find_tilt_axis, xcorr_shifts
from insitu4d.data import TiltSeries
from insitu4d.preprocess import rotate_and_shift

SPHERES = [((0.0, -10.0, -6.0), 6.0), ((4.0, 8.0, 9.0), 5.0), ((-6.0, 3.0, 2.0), 4.0), ((2.0, -2.0, -14.0), 3.0)]
TILTS = np.arange(-60, 61, 3.0)


def _misaligned(shifts, axis_offset=0.0, n=64):
    clean = sphere_projections(SPHERES, TILTS, n, n)
    moved = np.stack([rotate_and_shift(im[None], 0.0, 0.0, shifts_px=s[None])[0] for im, s in zip(clean, shifts)])
    if axis_offset:
        moved = rotate_and_shift(moved, 0.0, -axis_offset)  # the axis now sits at xc + axis_offset
    return TiltSeries(moved, TILTS, 1.0), clean


def _inconsistent_part(err_x, tilts_deg):
    """Remove what a rigid translation of the object and an axis offset explain.

    A translation (Δx, Δz) of the object moves its projection by Δx cos θ + Δz sin θ, and an
    axis offset adds a constant: those shift patterns reconstruct the same object, so only
    the rest is alignment error.
    """
    t = np.deg2rad(tilts_deg)
    basis = np.stack([np.ones_like(t), np.cos(t), np.sin(t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, err_x, rcond=None)
    return err_x - basis @ coef


def test_xcorr_recovers_random_shifts():
    # oracle: the shifts applied (the chain starts at 0°, whose shift is the reference)
    rng = np.random.default_rng(3)
    true = rng.uniform(-6, 6, (len(TILTS), 2))
    i0 = int(np.argmin(np.abs(TILTS)))
    true -= true[i0]
    ts, _ = _misaligned(true)
    found, quality = xcorr_shifts(ts)
    err = found + true  # found undoes the applied shifts
    assert np.sqrt((err[:, 0] ** 2).mean()) < 0.5  # along the tilt axis: direct
    assert np.sqrt((_inconsistent_part(err[:, 1], TILTS) ** 2).mean()) < 0.5
    assert quality.min() > 0.5


def test_tilt_axis_offset_found():
    ts, _ = _misaligned(np.zeros((len(TILTS), 2)), axis_offset=4.0)
    res = find_tilt_axis(ts.data, TILTS, max_rotation_deg=0.0)
    assert res["offset_px"] == pytest.approx(4.0, abs=0.5)
    assert res["residual"] < res["residual_at_zero"]


def test_tilt_axis_direction_detected():
    ts, _ = _misaligned(np.zeros((len(TILTS), 2)))
    assert detect_tilt_axis_direction(ts) == 0.0
    turned = ts.replace(data=np.ascontiguousarray(np.rot90(ts.data, axes=(1, 2))))
    assert detect_tilt_axis_direction(turned) == 90.0


def test_full_alignment_makes_the_series_as_consistent_as_the_clean_one():
    # oracle: the clean (never shifted) series. After alignment a short SIRT must fit the
    # data about as well as it fits the clean series, far better than the misaligned one.
    from insitu4d.recon import reconstruct, reprojection_residual

    rng = np.random.default_rng(5)
    true = rng.uniform(-5, 5, (len(TILTS), 2))
    ts, clean = _misaligned(true, axis_offset=3.0)
    aligned, info = align_tilt_series(ts, tilt_axis_deg="auto", max_rotation_deg=2.0)
    assert info.tilt_axis_deg == 0.0

    def residual(series):
        return reprojection_residual(reconstruct(series, method="sirt", iterations=30), series)

    r_clean = residual(TiltSeries(clean, TILTS, 1.0))
    r_bad = residual(ts)
    r_aligned = residual(aligned)
    assert r_aligned < r_clean + 0.15 * (r_bad - r_clean)
    assert info.residual_after < info.residual_before


def test_projection_matching_recovers_small_shifts():
    # oracle: random sub-pixel to 2-px shifts applied to a clean series; after matching,
    # the remaining error (minus its mean, which matching removes on purpose) is < 0.3 px RMS
    from insitu4d.align import projection_matching

    rng = np.random.default_rng(7)
    true = rng.uniform(-2, 2, (len(TILTS), 2))
    ts, _ = _misaligned(true)

    def resample(s):
        return rotate_and_shift(ts.data, shifts_px=s)

    found, rms = projection_matching(resample, np.zeros((len(TILTS), 2)), TILTS, rounds=4, binning=1)
    err = found + true
    err -= err.mean(axis=0)
    assert np.sqrt((err ** 2).sum(axis=1).mean()) < 0.3
    assert rms[-1] < rms[0]


def test_tilt_axis_rotation_found():
    # oracle: the series rotated by a known in-plane angle about the centre, axis offset 2 px
    clean = sphere_projections(SPHERES + [((0.0, 20.0, -12.0), 4.0), ((0.0, -22.0, 10.0), 4.0)], TILTS, 64, 64)
    rotated = rotate_and_shift(clean, -2.0, -2.0)  # the axis is now at +2° through xc + 2
    res = find_tilt_axis(rotated, TILTS, max_rotation_deg=4.0)
    assert res["fitted_rotation_deg"] == pytest.approx(2.0, abs=0.1)  # measured 2.06 (moments)
    assert res["fitted_offset_px"] == pytest.approx(2.0, abs=0.5)
    # applying the fit undoes the rotation (the opposite sign would make it worse: ~0.25)
    back = rotate_and_shift(rotated, res["fitted_rotation_deg"], res["fitted_offset_px"])
    m = np.s_[:, 10:-10, 10:-10]
    assert np.linalg.norm(back[m] - clean[m]) / np.linalg.norm(clean[m]) < 0.12
