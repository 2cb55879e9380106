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


def superlattice_movie(seed=0, n=50, shape=(112, 112), period=12.0, counts=20.0, jump_at=None, jump=(0.0, 0.0)):
    """A hexagonal superlattice of particles (period 12 px) drifting steadily at up to 0.9 px per frame in a random
    direction (over three periods in all) with 0.2 px jitter, bright field at 20 counts/px; optionally a jump of
    the stage."""
    rng = np.random.default_rng(seed)
    velocity = rng.uniform(-0.9, 0.9, 2)
    drift = np.arange(n)[:, None] * velocity + rng.normal(0, 0.2, (n, 2))
    if jump_at is not None:
        drift[jump_at:] += jump
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    a1, a2 = np.array([period, 0.0]), np.array([period / 2, period * np.sqrt(3) / 2])
    sites = np.array([i * a1 + j * a2 for i in range(-12, 24) for j in range(-12, 24)])
    frames = []
    for dy, dx in drift:
        c = sites + (dy, dx)
        c = c[(c[:, 0] > -8) & (c[:, 0] < shape[0] + 8) & (c[:, 1] > -8) & (c[:, 1] < shape[1] + 8)]
        dist2 = np.min((yy[..., None] - c[:, 0]) ** 2 + (xx[..., None] - c[:, 1]) ** 2, axis=-1)
        frames.append(rng.poisson(counts * (1 - 0.5 * (dist2 < (0.35 * period) ** 2))))
    return np.array(frames, np.float32), drift


def _rms(shifts, drift):
    err = shifts + (drift - drift[0])
    err = err - err.mean(axis=0)
    return float(np.sqrt((err ** 2).sum(axis=1).mean()))


@pytest.mark.parametrize("seed", range(3))
def test_a_superlattice_is_followed_over_many_periods(seed):
    """The failure reported on a real Au superlattice movie (180 of 194 frames rejected without a word): a periodic
    scene drifting over several periods. Registering to the reference without the predicted shift locked onto
    neighbouring periods (45 of 60 frames rejected, 15 px RMS, on this twin before the fix). Now: at most 3 frames
    rejected and the drift within 0.3 px RMS (measured 0.08–0.12)."""
    counts, drift = superlattice_movie(seed)
    _, info = movie_drift(counts)
    assert info.rejected.sum() <= 3 and info.warning is None
    assert _rms(info.shifts_px, drift) < 0.3


@pytest.mark.parametrize("seed", range(3))
def test_a_jump_of_the_stage_is_taken_not_rejected(seed):
    """A 15 px jump of the stage at frame 20 of the moving-particle twin: the frames after it are accepted as a jump
    (they agree with each other and match the scene), and the drift error stays as without the jump (0.3–0.45 px)."""
    counts, drift = low_dose_movie(seed)
    jumped = counts.copy()
    jumped[20:] = np.roll(counts[20:], (9, -12), axis=(1, 2))
    drift = drift.copy()
    drift[20:] += (9, -12)
    _, info = movie_drift(jumped)
    assert set(np.flatnonzero(info.rejected)) <= set(GLITCHES) | {20, 21, 22}
    assert _error(info.shifts_px, drift) < 0.6


def test_more_than_a_quarter_rejected_is_said():
    """The rule: above MAX_REJECTED_SHARE of frames rejected, a warning that says what to try; at or below, none."""
    from insitu4d.align.movie import MAX_REJECTED_SHARE, MovieDrift

    def record(n_bad, n=40):
        return MovieDrift(np.zeros((n, 2)), np.ones(n), np.arange(n) < n_bad, "xcorr", 1.0, 5)

    assert record(int(MAX_REJECTED_SHARE * 40)).warning is None
    text = record(int(MAX_REJECTED_SHARE * 40) + 1).warning
    assert text.startswith("11 of 40 frames were rejected") and "--method mi" in text and "periodic" in text
    assert record(11).to_dict()["warning"] == text


def test_a_movie_of_blank_frames_warns():
    """Ten of 30 frames blank (scan glitches): over four seeds, more than a quarter end rejected and the warning is
    given, and no blank frame is accepted."""
    for seed in range(4):
        counts, _ = low_dose_movie(seed=seed, n=30, peak_counts=4.0)
        rng = np.random.default_rng(seed)
        blank = rng.choice(np.arange(5, 30), 10, replace=False)
        counts[blank] = rng.poisson(0.05, counts.shape[1:])
        _, info = movie_drift(counts)
        assert info.warning is not None and info.rejected[blank].all()
