"""Tilt-axis direction, in-plane rotation and offset.

* :func:`detect_tilt_axis_direction` chooses between the image ``y`` and ``x`` axes: in
  parallel-beam geometry every slice perpendicular to the tilt axis keeps its integrated
  mass at every tilt (the zeroth Helgason–Ludwig moment condition), so the 1D profile
  along the tilt axis is the same in every image; along the wrong axis it is not.
* :func:`find_tilt_axis` refines the rotation and the x-offset of the axis by minimising
  the reprojection residual ‖A x − b‖/‖b‖ of a short SIRT reconstruction of a few slices.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from skimage.registration import phase_cross_correlation

from ..preprocess import rotate_and_shift, rotate_images
from ..recon.algorithms import sirt_block
from ..recon.projector import Projector

__all__ = ["detect_tilt_axis_direction", "find_tilt_axis", "profile_inconsistency"]


def profile_inconsistency(data: np.ndarray) -> float:
    """How much the profiles along ``y`` (summed over ``x``) differ between tilts.

    Each profile is shifted onto the median profile (1D phase correlation, so drift along
    the axis does not count) and normalised to unit sum; the score is the mean over ``y`` of
    the standard deviation over tilts, divided by the mean profile value.

    Parameters
    ----------
    data : (n_tilts, ny, nx) ndarray, background removed

    Returns
    -------
    float
        0 for a perfectly consistent tilt axis along ``y``.
    """
    prof = np.asarray(data, np.float64).sum(axis=2)
    prof /= np.maximum(np.abs(prof.sum(axis=1, keepdims=True)), 1e-30)
    ref = np.median(prof, axis=0)
    aligned = np.empty_like(prof)
    for i, p in enumerate(prof):
        shift, _, _ = phase_cross_correlation(ref, p, upsample_factor=10, normalization=None)
        aligned[i] = np.interp(np.arange(p.size) - shift[0], np.arange(p.size), p)
    return float(aligned.std(axis=0).mean() / max(np.abs(aligned.mean()), 1e-30))


def detect_tilt_axis_direction(data: np.ndarray) -> float:
    """Whether the tilt axis runs along image ``y`` (0°) or ``x`` (90°).

    Parameters
    ----------
    data : (n_tilts, ny, nx) ndarray, background removed

    Returns
    -------
    float
        0.0 or 90.0 degrees (``tilt_axis_deg`` convention of :class:`~insitu4d.data.TiltSeries`).
    """
    scores = {angle: profile_inconsistency(rotate_images(data, angle)) for angle in (0.0, 90.0)}
    return min(scores, key=scores.get)


def _sample_rows(ny: int, n_rows: int) -> np.ndarray:
    margin = max(1, ny // 8)
    return np.unique(np.linspace(margin, ny - 1 - margin, n_rows).round().astype(int))


def _residual(data, tilts_deg, rows, rotation_deg, offset_px, iterations, binning) -> float:
    sub = rotate_and_shift(data, rotation_deg, offset_px, rows=rows)
    n, m, nx = sub.shape
    nxb = nx // binning
    sub = sub[:, :, : nxb * binning].reshape(n, m, nxb, binning).mean(axis=3)
    proj = Projector(tilts_deg, nxb, nxb)
    b = proj.sino_to_backend(sub)
    x = sirt_block(proj, b, iterations=iterations, n_workers=1)
    r = proj.forward_block(x) - b
    return float(np.linalg.norm(r) / max(np.linalg.norm(b), 1e-30))


def find_tilt_axis(data: np.ndarray, tilts_deg, *, max_offset_px: float | None = None,
                   max_rotation_deg: float = 3.0, n_rows: int = 12, iterations: int = 15,
                   binning: int = 2) -> dict:
    """Offset and in-plane rotation of the tilt axis from the reprojection residual.

    For a candidate offset δ the images are resampled so that ``x = xc + δ`` becomes the
    centre column, a few slices are reconstructed with ``iterations`` of SIRT at
    ``binning``, and the normalised residual ‖A x − b‖/‖b‖ is evaluated: projections about
    a wrong axis are inconsistent, and SIRT cannot fit them. The offset is searched (grid,
    then bounded Brent) over all sampled rows, and again in three bands of rows along the
    axis: a rotated axis shows as an offset that changes linearly along ``y``, so a line
    fit gives the rotation ρ = arctan(dδ/dy) and the offset at the centre row. The
    rotation is kept only if it lowers the residual over all rows.

    Parameters
    ----------
    data : (n_tilts, ny, nx) ndarray
        Tilt axis near ``y``, images registered to each other (e.g. :func:`xcorr_shifts`).
    tilts_deg : (n_tilts,) ndarray of float, degrees
    max_offset_px : float, pixels, optional
        Search range ±; default nx/6.
    max_rotation_deg : float, degrees
        Largest rotation accepted; a larger fitted rotation (an unreliable fit) or 0 here
        leaves the rotation at 0.
    n_rows, iterations, binning : int
        Size of the criterion's reconstruction.

    Returns
    -------
    dict
        ``offset_px`` (the axis crosses the centre row at ``xc + offset_px``),
        ``rotation_deg``, ``band_offsets_px`` with ``band_rows``, ``residual`` (at the
        optimum) and ``residual_at_zero`` (offset 0, rotation 0).
    """
    data = np.asarray(data, np.float32)
    ny, nx = data.shape[1:]
    yc = (ny - 1) / 2.0
    rows = _sample_rows(ny, n_rows)
    max_offset_px = nx / 6 if max_offset_px is None else float(max_offset_px)

    def crit(rows_, rot, off):
        return _residual(data, tilts_deg, rows_, rot, off, iterations, binning)

    def search_offset(rows_):
        grid = np.linspace(-max_offset_px, max_offset_px, 13)
        vals = [crit(rows_, 0.0, g) for g in grid]
        k = int(np.argmin(vals))
        step = grid[1] - grid[0]
        lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
        res = minimize_scalar(lambda o: crit(rows_, 0.0, o), bounds=(lo, hi), method="bounded",
                              options={"xatol": 0.05 * max(step, 1.0)})
        return float(res.x) if res.fun <= vals[k] else float(grid[k])

    residual_at_zero = crit(rows, 0.0, 0.0)
    offset = search_offset(rows)
    best = crit(rows, 0.0, offset)
    rotation = 0.0
    bands = [b for b in np.array_split(rows, 3) if b.size]
    band_offsets = np.array([search_offset(b) for b in bands]) if max_rotation_deg > 0 else np.array([offset])
    band_y = np.array([b.mean() for b in bands]) - yc if max_rotation_deg > 0 else np.array([0.0])
    if max_rotation_deg > 0 and len(bands) >= 2:
        slope, intercept = np.polyfit(band_y, band_offsets, 1)
        fitted = float(np.degrees(np.arctan(slope)))
        if abs(fitted) <= max_rotation_deg:
            candidate = crit(rows, fitted, float(intercept))
            if candidate < best:  # keep the rotation only where it makes the projections more consistent
                rotation, offset, best = fitted, float(intercept), candidate
    return {"offset_px": offset, "rotation_deg": rotation, "band_offsets_px": band_offsets.tolist(),
            "band_rows": [float(y + yc) for y in band_y], "residual": best,
            "residual_at_zero": residual_at_zero}
