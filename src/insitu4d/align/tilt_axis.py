"""Tilt-axis offset and in-plane rotation.

* :func:`find_tilt_axis` finds the x-offset of the axis, and its in-plane rotation from the
  offsets of bands of slices, by minimising the reprojection residual ‖A x − b‖/‖b‖ of a
  short SIRT reconstruction of a few slices.
"""

from __future__ import annotations

import numpy as np

from ..preprocess import rotate_and_shift
from ..recon.algorithms import sirt_block
from ..recon.projector import Projector

__all__ = ["find_tilt_axis", "residual_table"]


def _sample_rows(ny: int, n_rows: int) -> np.ndarray:
    margin = max(1, ny // 8)
    return np.unique(np.linspace(margin, ny - 1 - margin, n_rows).round().astype(int))


def residual_table(data, tilts_deg, rows, offsets, *, rotation_deg: float = 0.0, shifts_px=None,
                   iterations: int = 30, binning: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Squared reprojection residuals of short SIRT reconstructions, for many axis offsets at once.

    The slices ``rows`` resampled for every offset (:func:`insitu4d.preprocess.rotate_and_shift`)
    become the columns of one block, reconstructed together.

    Returns
    -------
    r2 : (n_offsets, n_rows) ndarray
        ‖A x − b‖² of each slice.
    b2 : (n_offsets, n_rows) ndarray
        ‖b‖² of each slice.
    """
    subs = [rotate_and_shift(data, rotation_deg, float(o), rows=rows, shifts_px=shifts_px) for o in offsets]
    sub = np.concatenate(subs, axis=1)  # (n, K*m, nx)
    n, km, nx = sub.shape
    nxb = nx // binning
    sub = sub[:, :, : nxb * binning].reshape(n, km, nxb, binning).mean(axis=3)
    proj = Projector(tilts_deg, nxb, nxb)
    b = proj.sino_to_backend(sub)
    x = sirt_block(proj, b, iterations=iterations)
    r = proj.forward_block(x) - b
    shape = (len(offsets), len(rows))
    r2 = (r.astype(np.float64) ** 2).sum(axis=0).reshape(shape)
    b2 = (b.astype(np.float64) ** 2).sum(axis=0).reshape(shape)
    return r2, b2


def _vertex(xs: np.ndarray, ys: np.ndarray) -> float:
    """Minimum of a sampled curve, refined by a parabola through the lowest point and its neighbours."""
    k = int(np.argmin(ys))
    if 0 < k < len(xs) - 1:
        y0, y1, y2 = ys[k - 1], ys[k], ys[k + 1]
        denom = y0 - 2 * y1 + y2
        if denom > 0:
            return float(xs[k] + 0.5 * (xs[1] - xs[0]) * (y0 - y2) / denom)
    return float(xs[k])


def find_tilt_axis(data: np.ndarray, tilts_deg, *, max_offset_px: float | None = None,
                   max_rotation_deg: float = 3.0, n_rows: int = 24, n_bands: int = 6,
                   iterations: int = 30, binning: int = 2) -> dict:
    """Offset and in-plane rotation of the tilt axis from the reprojection residual.

    For a candidate offset δ the images are resampled so that ``x = xc + δ`` becomes the
    centre column, ``n_rows`` slices are reconstructed with ``iterations`` of SIRT at
    ``binning``, and the normalised residual ‖A x − b‖/‖b‖ is evaluated: projections about
    a wrong axis are inconsistent, and SIRT cannot fit them. A coarse grid over
    ±``max_offset_px`` then a fine grid (1 px) with a parabolic vertex give δ. The fine
    grid is also evaluated in ``n_bands`` bands of rows along the axis: a rotated axis shows
    as an offset that changes linearly along ``y``, and a line fit δ(y) = δ₀ + y tan ρ gives
    the rotation ρ (reported in ``fitted_rotation_deg``; whether to use it is decided by
    the caller, after registering the images in the rotated frame).

    Parameters
    ----------
    data : (n_tilts, ny, nx) ndarray
        Tilt axis near ``y``, images registered to each other (e.g. :func:`xcorr_shifts`).
    tilts_deg : (n_tilts,) ndarray of float, degrees
    max_offset_px : float, pixels, optional
        Search range ±; default nx/6.
    max_rotation_deg : float, degrees
        Largest rotation reported; a larger fit (unreliable) reports 0; 0 skips the fit.
    n_rows, n_bands, iterations, binning : int
        Size of the criterion's reconstruction.

    Returns
    -------
    dict
        ``offset_px`` (the axis crosses the centre row at ``xc + offset_px``),
        ``residual`` there, ``residual_at_zero`` (offset 0), ``fitted_rotation_deg``,
        ``fitted_offset_px`` (δ₀ of the line fit), ``band_offsets_px`` and ``band_rows``.
    """
    data = np.asarray(data, np.float32)
    ny, nx = data.shape[1:]
    yc = (ny - 1) / 2.0
    rows = _sample_rows(ny, n_rows)
    max_offset_px = nx / 6 if max_offset_px is None else float(max_offset_px)
    kw = {"iterations": iterations, "binning": binning}

    coarse = np.linspace(-max_offset_px, max_offset_px, 15)
    r2, b2 = residual_table(data, tilts_deg, rows, coarse, **kw)
    total = np.sqrt(r2.sum(1) / b2.sum(1))
    k0 = int(np.argmin(total))
    residual_at_zero = float(np.interp(0.0, coarse, total))
    step = 1.0
    fine = coarse[k0] + np.arange(-8, 9) * step
    r2, b2 = residual_table(data, tilts_deg, rows, fine, **kw)
    total = np.sqrt(r2.sum(1) / b2.sum(1))
    offset = _vertex(fine, total)
    result = {"offset_px": offset, "residual": float(total.min()), "residual_at_zero": residual_at_zero,
              "fitted_rotation_deg": 0.0, "fitted_offset_px": offset, "band_offsets_px": [], "band_rows": []}
    if max_rotation_deg <= 0:
        return result
    bands = [np.flatnonzero(np.isin(rows, b)) for b in np.array_split(rows, n_bands) if b.size]
    energy = np.array([b2[:, b].sum() for b in bands])
    bands = [b for b, e in zip(bands, energy) if e > 0.05 * energy.max()]  # empty (vacuum) bands say nothing
    if len(bands) < 3:
        return result
    band_offsets = np.array([_vertex(fine, r2[:, b].sum(1) / b2[:, b].sum(1)) for b in bands])
    band_y = np.array([rows[b].mean() for b in bands]) - yc
    slope, intercept = np.polyfit(band_y, band_offsets, 1)
    fitted = float(np.degrees(np.arctan(slope)))
    if abs(fitted) <= max_rotation_deg:
        # rotate_and_shift puts the axis through centre + Rot(ρ)(0, δ): δ = δ₀ cos ρ
        result.update(fitted_rotation_deg=fitted, fitted_offset_px=float(intercept * np.cos(np.arctan(slope))))
    result.update(band_offsets_px=band_offsets.tolist(), band_rows=[float(y + yc) for y in band_y])
    return result
