"""Drift correction of 2D in situ movies, with a reference that follows the scene."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from ..choices import DRIFT_METHODS
from ..data import require_contrast, require_whole
from ..errors import InvalidParameter
from .mi import register_pair_mi
from .scales import registration_sigma
from .xcorr import prepare_for_registration

__all__ = ["MovieDrift", "movie_drift", "MOVIE_METHODS"]

#: Registration methods of :func:`movie_drift`.
MOVIE_METHODS = DRIFT_METHODS
#: consecutive rejected frames that agree with each other are taken as a jump of the stage, not as outliers
JUMP_FRAMES = 3
#: share of rejected frames above which the drift is reported as untrustworthy
MAX_REJECTED_SHARE = 0.25


@dataclass
class MovieDrift:
    """What drift correction did to a movie.

    Attributes
    ----------
    shifts_px : (n_frames, 2) ndarray of float, pixels
        (dy, dx) applied to each frame (0 for the first): the drift is its negative.
    quality : (n_frames,) ndarray of float
        Normalised cross-correlation of each registered frame with its reference (1 for
        the first frame).
    rejected : (n_frames,) ndarray of bool
        Frames whose measured shift was an outlier; their shift is the prediction from the
        frames before, and they are left out of later references.
    method : str
    sigma_px : float, pixels
        Smoothing scale of the registration.
    reference_frames : int
    changing_fraction : float
        Fraction of the field masked out of the final registration as changing (moving,
        sintering or merging particles).
    """

    shifts_px: np.ndarray
    quality: np.ndarray
    rejected: np.ndarray
    method: str
    sigma_px: float
    reference_frames: int
    changing_fraction: float = 0.0

    @property
    def warning(self) -> str | None:
        """What to tell the user when more than ``MAX_REJECTED_SHARE`` of the frames were rejected, else None."""
        n, bad = len(self.rejected), int(np.sum(self.rejected))
        if bad <= MAX_REJECTED_SHARE * n:
            return None
        return (f"{bad} of {n} frames were rejected as outliers, more than a quarter: their drift is predicted, not "
                "measured, and the corrected movie is not to be trusted. Look at the drift plot; then try "
                "--method mi, more --reference-frames, or summing frames in pairs before correcting (a low-dose "
                "movie), or crop to a region with distinct, non-repeating features (a periodic scene such as a "
                "superlattice aliases shifts of a whole period).")

    def to_dict(self) -> dict:
        return {"shifts_px": np.asarray(self.shifts_px).tolist(), "quality": np.asarray(self.quality).tolist(),
                "rejected": np.flatnonzero(self.rejected).tolist(), "method": self.method,
                "sigma_px": self.sigma_px, "reference_frames": self.reference_frames,
                "changing_fraction": self.changing_fraction, "warning": self.warning}


def _shifted(data: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    return np.stack([ndimage.shift(im, s, order=1, mode="constant", cval=0.0)
                     for im, s in zip(data, shifts)]).astype(np.float32)


def _changing_regions(aligned: np.ndarray, sigma: float, threshold: float = 4.0) -> np.ndarray:
    """Pixels whose aligned, smoothed intensity varies over time more than noise does (moving particles).

    The temporal variance of the smoothed frames over their mean is about constant where
    only shot noise varies; the median ratio over the pixels that carry signal (a scene
    mostly at rest) is that constant, and pixels ``threshold`` times above it, dilated by
    3σ, are where something moves.
    """
    smooth = ndimage.gaussian_filter(aligned, (0, max(sigma, 1.0), max(sigma, 1.0)))
    mean = smooth.mean(axis=0)
    ratio = smooth.var(axis=0) / np.maximum(mean, 1e-3 * max(float(mean.max()), 1e-12))
    signal = mean > 0.1 * mean.max()
    if not signal.any():
        return np.zeros(mean.shape, bool)
    changing = (ratio > threshold * np.median(ratio[signal])) & signal
    return ndimage.binary_dilation(changing, iterations=max(1, int(round(3 * sigma))))


def _refine(data: np.ndarray, shifts: np.ndarray, rejected: np.ndarray, sigma: float,
            upsample: int) -> tuple[np.ndarray, np.ndarray]:
    """Register every accepted frame again, to the mean of all, with the changing regions masked out."""
    aligned = _shifted(data, shifts)
    keep = ~rejected
    changing = _changing_regions(aligned[keep], sigma)
    weight = ndimage.gaussian_filter((~changing).astype(np.float32), max(sigma, 1.0))
    reference = prepare_for_registration(aligned[keep].mean(axis=0), sigma) * weight
    out = shifts.copy()
    for k in np.flatnonzero(keep):
        moving = prepare_for_registration(aligned[k], sigma) * weight
        out[k] += phase_cross_correlation(reference, moving, upsample_factor=upsample, normalization=None)[0]
    return out - out[0], changing


def _consistent(shifts: np.ndarray, limit: np.ndarray) -> bool:
    """Whether consecutive measured shifts step by less than ``limit`` from one to the next."""
    return bool(np.all(np.abs(np.diff(shifts, axis=0)) <= limit))


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b) + 1e-30))


def movie_drift(frames, *, method: str = "xcorr", sigma_px: float | str = "auto", reference_frames: int = 5,
                outlier_threshold: float = 5.0, min_outlier_px: float = 2.0, upsample: int = 20,
                refine_rounds: int = 2) -> tuple[np.ndarray, MovieDrift]:
    """Register every frame of a movie to a reference that is updated as the scene changes.

    Frame k is registered to the mean of the last ``reference_frames`` accepted frames,
    each already shifted into the first frame's coordinates: a reference close in time,
    so particles that move, sinter or merge change little between it and the frame, and
    averaged, so its noise is lower than a single neighbour's. Registration is the tilt
    series core: phase correlation with sub-pixel refinement on band-passed, tapered images
    (``"xcorr"``; Guizar-Sicairos et al., Opt. Lett. 33, 156 (2008),
    doi:10.1364/OL.33.000156), or Mattes mutual information with the (1+1) evolutionary
    optimizer started from it (``"mi"``, :func:`~insitu4d.align.mi_shifts`).

    Each frame is first moved by its predicted shift (the last accepted shift plus the median
    of the recent per-frame steps, times the frames since), and only what is left is
    measured: a periodic scene (a superlattice) then cannot lock onto a neighbouring period
    once the drift passes half of one. A measured shift is rejected as an outlier when it
    departs from the prediction by more than ``outlier_threshold`` robust standard
    deviations of the steps (1.4826 × their median absolute deviation), times the frames
    since the last accepted one, and by more than ``min_outlier_px``; the prediction is used
    instead, and the frame is left out of the references. ``JUMP_FRAMES`` rejected frames in
    a row that agree with each other and match the reference at their measured shifts (NCC
    at least half the typical one) are a jump of the stage: they are accepted. When more
    than ``MAX_REJECTED_SHARE`` of the frames end rejected, :attr:`MovieDrift.warning` says
    so and what to try.

    A reference that follows the scene also follows, a little, whatever moves in it: the
    bias adds up frame by frame (on the tests' twin 0.9–1.2 px over 40 frames). So
    ``refine_rounds`` times every accepted frame is registered again to the mean of all,
    with the regions whose aligned intensity varies more than shot noise (moving, sintering,
    merging particles) masked out, which brings the twin to 0.3–0.4 px.

    Parameters
    ----------
    frames : (n_frames, ny, nx) array_like
        Movie frames (counts or any intensity with a flat background).
    method : {"xcorr", "mi"}
    sigma_px : float or "auto", pixels
        Smoothing scale; "auto": :func:`~insitu4d.align.registration_sigma` of the frames,
        larger at low counts.
    reference_frames : int
        Accepted frames averaged into the reference (≥ 1).
    outlier_threshold : float
        Robust standard deviations of the steps beyond which a shift is rejected.
    min_outlier_px : float, pixels
        Departures below this are never rejected.
    upsample : int
        Sub-pixel precision 1/upsample px.
    refine_rounds : int
        Rounds of the final registration to the masked mean (0 skips it).

    Returns
    -------
    corrected : (n_frames, ny, nx) ndarray of float32
        Frames shifted by ``shifts_px`` (bilinear, zero outside).
    drift : MovieDrift

    Raises
    ------
    InvalidParameter
        Unknown method, fewer than two frames, or ``reference_frames`` not a whole number ≥ 1.
    InvalidPixelValues
        A constant movie (no image in it).
    """
    data = np.asarray(frames, np.float32)
    if method not in MOVIE_METHODS:
        raise InvalidParameter(f"unknown drift-correction method {method!r}; choose one of {', '.join(MOVIE_METHODS)}.")
    if data.ndim != 3 or data.shape[0] < 2:
        raise InvalidParameter(f"a movie is (frames, y, x) with at least two frames; got shape {data.shape}.")
    require_whole(reference_frames, "reference_frames", minimum=1)
    require_contrast(data, "movie")
    sigma = registration_sigma(data) if sigma_px == "auto" else float(sigma_px)
    n = data.shape[0]
    shifts = np.zeros((n, 2))
    quality = np.ones(n)
    rejected = np.zeros(n, bool)
    accepted = [0]
    shifted = {0: data[0]}
    measured = np.zeros((n, 2))
    fit = np.zeros(n)  # NCC with the reference at the measured shift, for rejected frames
    for k in range(1, n):
        recent = accepted[-reference_frames:]
        reference = np.mean([shifted[j] for j in recent], axis=0)
        prepared = prepare_for_registration(reference, sigma)
        # steps per frame between accepted frames; the recent ones carried over the frames since the last accepted
        steps = np.diff(shifts[accepted], axis=0) / np.diff(accepted)[:, None]
        step = np.median(steps[-reference_frames:], axis=0) if len(steps) else 0.0
        predicted = shifts[accepted[-1]] + step * (k - accepted[-1])
        # register what is left after the predicted shift: a periodic scene (a superlattice) cannot then
        # lock onto a neighbouring period once the drift exceeds half of one
        ahead = ndimage.shift(data[k], predicted, order=1, mode="nearest")
        if method == "xcorr":
            residual = phase_cross_correlation(prepared, prepare_for_registration(ahead, sigma),
                                               upsample_factor=upsample, normalization=None)[0]
        else:
            ref, mov = ndimage.gaussian_filter(reference, sigma), ndimage.gaussian_filter(ahead, sigma)
            start = phase_cross_correlation(ref, mov, normalization=None)[0]
            residual = register_pair_mi(ref, mov, start, bins=32, iterations=200, seed=1)[0]
        rel = measured[k] = predicted + residual
        if len(steps) >= 3:
            spread = 1.4826 * np.median(np.abs(steps - np.median(steps, axis=0)), axis=0)
            # the prediction's uncertainty grows with the frames it is carried over
            limit = np.maximum(outlier_threshold * spread * (k - accepted[-1]), min_outlier_px)
            if np.any(np.abs(residual) > limit):
                rejected[k] = True
                rel = predicted
                fit[k] = _ncc(prepared, prepare_for_registration(
                    ndimage.shift(data[k], measured[k], order=1, mode="constant", cval=0.0), sigma))
                run = np.arange(k - JUMP_FRAMES + 1, k + 1)
                typical = np.median(quality[accepted[1:]]) if len(accepted) > 1 else 1.0
                if run[0] > accepted[-1] and _consistent(measured[run], limit) and np.all(fit[run] >= 0.5 * typical):
                    # the stage jumped: the last frames agree with each other and match the scene where they
                    # were measured (a blank or garbled frame does not), not where they were predicted
                    rejected[run] = False
                    shifts[run] = measured[run]
                    for j in run:
                        shifted[j] = ndimage.shift(data[j], measured[j], order=1, mode="constant", cval=0.0)
                    accepted.extend(int(j) for j in run)
                    for j in accepted[:-reference_frames]:
                        shifted.pop(j, None)
                    quality[run] = fit[run]
                    continue
        shifts[k] = rel
        moved = ndimage.shift(data[k], rel, order=1, mode="constant", cval=0.0)
        quality[k] = _ncc(prepared, prepare_for_registration(moved, sigma))
        if not rejected[k]:
            accepted.append(k)
            shifted[k] = moved
            if len(accepted) > reference_frames:
                shifted.pop(accepted[-reference_frames - 1])
    moving = np.zeros(data.shape[1:], bool)
    for _ in range(refine_rounds):
        shifts, moving = _refine(data, shifts, rejected, sigma, upsample)
    corrected = _shifted(data, shifts)
    return corrected, MovieDrift(shifts_px=shifts, quality=quality, rejected=rejected, method=method,
                                 sigma_px=sigma, reference_frames=reference_frames,
                                 changing_fraction=float(moving.mean()))
