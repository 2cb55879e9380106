"""Tilt-series alignment by cross-correlation of neighbouring tilts, chained from 0°."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from ..data import TiltSeries

__all__ = ["xcorr_shifts", "apply_shifts", "stretch_x", "prepare_for_registration"]


def stretch_x(image: np.ndarray, factor: float) -> np.ndarray:
    """Stretch an image along x (across the tilt axis) by ``factor`` about its centre.

    Parameters
    ----------
    image : (ny, nx) ndarray
    factor : float
        > 1 widens features.

    Returns
    -------
    (ny, nx) ndarray of float32
    """
    ny, nx = image.shape
    c = (nx - 1) / 2.0
    matrix = np.array([1.0, 1.0 / factor])
    offset = np.array([0.0, c - c / factor])
    return ndimage.affine_transform(np.asarray(image, np.float32), matrix, offset=offset, order=1,
                                    mode="constant", cval=0.0)


def prepare_for_registration(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Band-pass (difference of Gaussians) and taper, so edges and slow gradients do not dominate.

    Parameters
    ----------
    image : (ny, nx) array_like
    sigma_px : float, pixels
        Inner Gaussian of the band-pass (the outer is 8×); 0 skips the band-pass.

    Returns
    -------
    (ny, nx) ndarray of float32
        Zero mean, multiplied by a Hann window.
    """
    im = np.asarray(image, np.float32)
    if sigma_px > 0:
        im = ndimage.gaussian_filter(im, sigma_px) - ndimage.gaussian_filter(im, 8 * sigma_px)
    wy = np.hanning(im.shape[0])[:, None]
    wx = np.hanning(im.shape[1])[None, :]
    return (im - im.mean()) * (wy * wx).astype(np.float32)


def xcorr_shifts(ts: TiltSeries, *, stretch: bool = True, upsample: int = 20,
                 sigma_px: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Shifts that register each image to its neighbour nearer 0°, chained from the 0° image.

    The image at the larger |tilt| is stretched along x by cos θ_near / cos θ_far before the
    correlation (cosine stretching, Guckenberger, Ultramicroscopy 9, 167 (1982)), so that a
    thin specimen looks alike in both. Shifts are found by phase correlation with sub-pixel
    refinement (Guizar-Sicairos et al., Opt. Lett. 33, 156 (2008), doi:10.1364/OL.33.000156).

    Parameters
    ----------
    ts : TiltSeries
        Tilt axis along ``y``, background removed.
    stretch : bool
        Apply cosine stretching.
    upsample : int
        Sub-pixel precision 1/upsample px.
    sigma_px : float
        Band-pass inner scale in pixels.

    Returns
    -------
    shifts_px : (n_tilts, 2) ndarray of float, pixels
        (dy, dx) to apply to each image (:func:`apply_shifts`); 0 for the image nearest 0°.
    quality : (n_tilts,) ndarray of float
        Normalised cross-correlation of each aligned pair, 1 for the reference image.
    """
    data = np.asarray(ts.data, np.float32)
    tilts = ts.tilts_deg
    n = ts.n_tilts
    i0 = int(np.argmin(np.abs(tilts)))
    prepared = [prepare_for_registration(im, sigma_px) for im in data]
    shifts = np.zeros((n, 2))
    quality = np.ones(n)
    order = [(i, i + 1) for i in range(i0, n - 1)] + [(i, i - 1) for i in range(i0, 0, -1)]
    for near, far in order:
        factor = np.cos(np.deg2rad(tilts[near])) / np.cos(np.deg2rad(tilts[far])) if stretch else 1.0
        moving = stretch_x(prepared[far], factor) if factor != 1.0 else prepared[far]
        rel, _, _ = phase_cross_correlation(prepared[near], moving, upsample_factor=upsample,
                                            normalization=None)
        # rel registers the stretched far image; convert its x part back to far-image pixels
        # and chain: the far image follows its (already registered) near neighbour.
        rel = np.array([rel[0], rel[1] / factor])
        shifts[far] = shifts[near] + rel
        a = ndimage.shift(prepared[far], rel, order=1)
        a = stretch_x(a, factor) if factor != 1.0 else a
        b = prepared[near]
        quality[far] = float(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b) + 1e-30))
    return shifts, quality


def apply_shifts(ts: TiltSeries, shifts_px: np.ndarray) -> TiltSeries:
    """Shift each image by (dy, dx) pixels (bilinear, zero outside).

    Parameters
    ----------
    ts : TiltSeries
    shifts_px : (n_tilts, 2) ndarray of float, pixels
        (dy, dx) per image.

    Returns
    -------
    TiltSeries
        With ``shifts_px`` set to the total shifts applied so far.
    """
    shifts_px = np.asarray(shifts_px, dtype=np.float64)
    data = np.asarray(ts.data, np.float32)
    out = np.empty_like(data)
    for i, (im, s) in enumerate(zip(data, shifts_px)):
        out[i] = ndimage.shift(im, s, order=1, mode="constant", cval=0.0)
    total = shifts_px if ts.shifts_px is None else ts.shifts_px + shifts_px
    return ts.replace(data=out, shifts_px=total)
