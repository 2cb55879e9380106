"""Drift correction of a low-dose 2D movie in which particles move and merge, against the drift applied."""

import numpy as np
import pytest

from insitu4d.align.movie import movie_drift
from insitu4d.errors import InvalidParameter

GLITCHES = (13, 27)


def _render(shape, centres, radii, peak):
    """Projected spheres (thickness profiles, union not sum), rendered at sub-pixel centres."""
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    img = np.zeros(shape)
    for (cy, cx), r in zip(centres, radii):
        img = np.maximum(img, np.sqrt(np.clip(r * r - (yy - cy) ** 2 - (xx - cx) ** 2, 0, None)) / r)
    return peak * img


def low_dose_movie(seed=0, n=40, shape=(128, 160), peak_counts=1.0):
    """Six particles at rest, two that approach and merge while one of them slides; a smooth drift
    of up to ~20 px; Poisson counts (~1100 per frame); two blank frames (scan glitches)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    drift = np.stack([6 * np.sin(t / 7.0) + 0.2 * t, -0.4 * t + 3 * np.cos(t / 5.0)], axis=1)
    rest = [(rng.uniform(15, shape[0] - 15), rng.uniform(15, shape[1] - 15)) for _ in range(6)]
    radii = list(rng.uniform(6, 10, 6)) + [9.0, 8.0]
    expected = []
    for k in range(n):
        separation = 26 - 16 * min(k / (0.7 * n), 1.0)
        moving = [(64.0, 80 - separation / 2), (64 + 0.2 * k, 80 + separation / 2)]
        expected.append(_render(shape, [(y + drift[k, 0], x + drift[k, 1]) for y, x in rest + moving], radii,
                                peak_counts))
    counts = rng.poisson(np.array(expected)).astype(np.float32)
    for g in GLITCHES:
        counts[g] = rng.poisson(0.05, shape)
    return counts, drift


@pytest.fixture(scope="module")
def movie():
    return low_dose_movie()


def _error(shifts, drift):
    """RMS error of the shifts against the drift, on the frames that carry an image, less a constant
    (a translation of the whole corrected movie is not an error)."""
    err = shifts + (drift - drift[0])
    good = np.setdiff1d(np.arange(len(err)), GLITCHES)
    e = err[good] - err[good].mean(axis=0)
    return float(np.sqrt((e ** 2).sum(axis=1).mean()))


def test_drift_recovered_while_particles_move_and_merge(movie):
    """Measured 0.40 px RMS on this seed (0.29–0.40 over seeds 0–4); registration to the running
    reference alone gives 1.20 (0.93–1.20): the moving pair drags it, and its bias adds up frame
    by frame until the final registration to the mean with the moving regions masked removes it."""
    counts, drift = movie
    corrected, info = movie_drift(counts)
    assert set(np.flatnonzero(info.rejected)) == set(GLITCHES)
    assert _error(info.shifts_px, drift) < 0.5
    assert 0.02 < info.changing_fraction < 0.3  # the merging pair, not the field, is masked
    assert corrected.shape == counts.shape
    _, running_only = movie_drift(counts, refine_rounds=0)
    assert _error(running_only.shifts_px, drift) > 0.8


def test_outliers_are_what_the_rejection_removes(movie):
    """Without the outlier test the blank frames get arbitrary shifts (measured tens of px)."""
    counts, drift = movie
    _, info = movie_drift(counts, outlier_threshold=np.inf, refine_rounds=0)
    err = info.shifts_px + (drift - drift[0])
    assert not info.rejected.any()
    assert np.abs(err[list(GLITCHES)]).max() > 5.0


def test_bad_movie_input_is_refused():
    with pytest.raises(InvalidParameter, match="at least two frames"):
        movie_drift(np.zeros((1, 8, 8)))
    with pytest.raises(InvalidParameter, match="unknown drift-correction method 'sift'"):
        movie_drift(np.zeros((3, 8, 8)), method="sift")
    with pytest.raises(InvalidParameter, match="reference_frames must be a whole number ≥ 1"):
        movie_drift(np.zeros((3, 8, 8)), reference_frames=0)
