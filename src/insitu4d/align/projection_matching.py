"""Alignment refinement by projection matching (re-projection of a reconstruction)."""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from ..recon.algorithms import sirt_block
from ..recon.projector import Projector

__all__ = ["projection_matching"]


def projection_matching(resample: Callable[[np.ndarray], np.ndarray], shifts_px: np.ndarray, tilts_deg, *,
                        rounds: int = 3, binning: int = 2, iterations: int = 20,
                        upsample: int = 20, sigma_px: float = 0.0) -> tuple[np.ndarray, list[float]]:
    """Refine per-image shifts by registering each image to the re-projection of a reconstruction.

    Each round: resample the images with the current shifts, bin them, reconstruct with
    ``iterations`` of SIRT, re-project, and register every image to its own re-projection
    (phase correlation, 1/``upsample`` pixel). The correction's mean is removed so the
    object does not drift. Chained cross-correlation accumulates a random walk of
    sub-pixel errors; the re-projection is a common reference for all images
    (projection matching: Dengler, Ultramicroscopy 30, 337 (1989)).

    Parameters
    ----------
    resample : callable
        ``resample(shifts_px) -> (n_tilts, ny, nx)`` images with those shifts applied (one
        interpolation from the unshifted data).
    shifts_px : (n_tilts, 2) ndarray of float, pixels
        Start shifts (dy, dx).
    tilts_deg : (n_tilts,) ndarray of float, degrees
    rounds, binning, iterations, upsample : int
    sigma_px : float, pixels
        Gaussian smoothing of images and re-projections before registering them (low dose).

    Returns
    -------
    shifts_px : (n_tilts, 2) ndarray of float, pixels
    rms_corrections_px : list of float
        RMS length of the correction of each round (it shrinks as the shifts converge).
    """
    shifts = np.array(shifts_px, dtype=np.float64)
    rms = []
    for _ in range(rounds):
        data = resample(shifts)
        n, ny, nx = data.shape
        nyb, nxb = ny // binning, nx // binning
        binned = data[:, : nyb * binning, : nxb * binning].reshape(n, nyb, binning, nxb, binning).mean(axis=(2, 4))
        proj = Projector(tilts_deg, nxb, nxb)
        b = proj.sino_to_backend(binned)
        reproj = proj.sino_from_backend(proj.forward_block(sirt_block(proj, b, iterations=iterations)))
        if sigma_px / binning > 0.5:
            binned = ndimage.gaussian_filter(binned, (0, sigma_px / binning, sigma_px / binning))
            reproj = ndimage.gaussian_filter(reproj, (0, sigma_px / binning, sigma_px / binning))
        corr = np.array([phase_cross_correlation(reproj[i], binned[i], upsample_factor=upsample,
                                                 normalization=None)[0] for i in range(n)]) * binning
        corr -= corr.mean(axis=0)
        shifts += corr
        rms.append(float(np.sqrt((corr ** 2).sum(axis=1).mean())))
    return shifts, rms
