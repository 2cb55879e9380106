"""Tilt-series alignment by the intensity centre of mass."""

from __future__ import annotations

import numpy as np

from ..data import TiltSeries

__all__ = ["com_shifts"]


def com_shifts(ts: TiltSeries) -> tuple[np.ndarray, np.ndarray]:
    """Shifts that put each image's intensity centre of mass at the image centre.

    For a linear (HAADF, thickness-proportional) signal the total intensity is the same at
    every tilt and the centre of mass of a projection is the projection of the object's 3D
    centre of mass, so these shifts put that point on the tilt axis (the classical
    centre-of-mass alignment; Frank, *Electron Tomography*, 2nd ed., Springer 2006, ch. 6).
    It needs a background-free series (:func:`insitu4d.preprocess.remove_background`) with
    the whole object inside every image; noise only averages in, so it holds at very low dose.

    Parameters
    ----------
    ts : TiltSeries
        Background-free, with the whole object in every image.

    Returns
    -------
    shifts_px : (n_tilts, 2) ndarray of float, pixels
    quality : (n_tilts,) ndarray of float
        Each image's total intensity over the median total: 1 when the object stays whole
        in the field; lower where it leaves it.
    """
    data = np.clip(np.asarray(ts.data, np.float64), 0, None)
    n, ny, nx = data.shape
    total = data.sum(axis=(1, 2))
    cy = (data.sum(axis=2) @ np.arange(ny)) / np.where(total > 0, total, 1)
    cx = (data.sum(axis=1) @ np.arange(nx)) / np.where(total > 0, total, 1)
    shifts = np.stack([(ny - 1) / 2 - cy, (nx - 1) / 2 - cx], axis=1)
    return shifts, total / np.median(total)
