"""Parallel-beam projector for single-tilt-axis tomography (CPU, SciPy sparse).

In parallel-beam geometry with one tilt axis every slice perpendicular to the tilt axis
has the same system matrix. The projector therefore builds one sparse matrix ``A`` of
shape ``(n_tilts * n_det, nz * nx)`` and applies it to all slices at once as a
sparse-matrix x dense-block product, with the slices (the tilt-axis coordinate ``y``) as
the dense columns.

Internal ("backend") order, converted in :meth:`Projector.to_backend` /
:meth:`Projector.from_backend` and nowhere else:

* volume ``(nz, ny, nx)``  <->  block ``(nz * nx, ny)``
* tilt series ``(n_tilts, ny, n_det)``  <->  block ``(n_tilts * n_det, ny)``
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

__all__ = ["Projector", "joseph_matrix"]


def joseph_matrix(tilts_deg, nz: int, nx: int, n_det: int | None = None) -> sp.csr_matrix:
    """System matrix of the Joseph (ray-driven, linear interpolation) projector.

    Each ray is sampled once per pixel row (or column) along its dominant direction; the
    value there is linearly interpolated between the two nearest pixels and weighted by
    the path length through that row, ``1 / max(|cos θ|, |sin θ|)`` pixels.

    Geometry: pixel centres at ``x_j = j - (nx - 1)/2`` and ``z_k = k - (nz - 1)/2``;
    detector bin ``i`` at ``u_i = i - (n_det - 1)/2``; at tilt θ the ray through ``u``
    is the set of points with ``x cos θ + z sin θ = u``. At θ = 0 the beam runs along z.

    Parameters
    ----------
    tilts_deg : (n_tilts,) array_like of float, degrees
        Tilt angles.
    nz, nx : int
        Slice size in pixels (``z`` along the beam at 0°, ``x`` across the tilt axis).
    n_det : int, optional
        Detector bins; default ``nx``.

    Returns
    -------
    scipy.sparse.csr_matrix, float32, shape (n_tilts * n_det, nz * nx)

    Notes
    -----
    Joseph P.M., "An improved algorithm for reprojecting rays through pixel images",
    IEEE Trans. Med. Imaging 1, 192 (1982), doi:10.1109/TMI.1982.4307572.
    """
    theta = np.deg2rad(np.asarray(tilts_deg, dtype=np.float64))
    n_det = nx if n_det is None else int(n_det)
    u = np.arange(n_det) - (n_det - 1) / 2.0
    xc = (nx - 1) / 2.0
    zc = (nz - 1) / 2.0
    rows_all, cols_all, vals_all = [], [], []
    for a, t in enumerate(theta):
        c, s = np.cos(t), np.sin(t)
        if abs(c) >= abs(s):
            # step over pixel rows z_k; x = u / c - z_k * tan θ
            z = np.arange(nz) - zc
            pos = u[:, None] / c - z[None, :] * (s / c) + xc  # (n_det, nz) in x index units
            step_idx = np.broadcast_to(np.arange(nz)[None, :], pos.shape)
            n_other, weight = nx, 1.0 / abs(c)

            def flat(k, j):
                return k * nx + j
        else:
            # step over pixel columns x_j; z = u / s - x_j * cot θ
            x = np.arange(nx) - xc
            pos = u[:, None] / s - x[None, :] * (c / s) + zc  # (n_det, nx) in z index units
            step_idx = np.broadcast_to(np.arange(nx)[None, :], pos.shape)
            n_other, weight = nz, 1.0 / abs(s)

            def flat(j, k):
                return k * nx + j
        det = np.broadcast_to(np.arange(n_det)[:, None], pos.shape)
        i0 = np.floor(pos).astype(np.int64)
        frac = pos - i0
        for idx, w in ((i0, 1.0 - frac), (i0 + 1, frac)):
            ok = (idx >= 0) & (idx < n_other) & (w > 0)
            rows_all.append(a * n_det + det[ok])
            cols_all.append(flat(step_idx[ok], idx[ok]))
            vals_all.append((w[ok] * weight).astype(np.float32))
    rows = np.concatenate(rows_all)
    cols = np.concatenate(cols_all)
    vals = np.concatenate(vals_all)
    shape = (len(theta) * n_det, nz * nx)
    return sp.csr_matrix((vals, (rows, cols)), shape=shape, dtype=np.float32)


@dataclass
class Projector:
    """Forward projector ``A`` and back-projector ``Aᵀ`` shared by all slices.

    Parameters
    ----------
    tilts_deg : (n_tilts,) ndarray of float, degrees
        Tilt angles.
    nz, nx : int
        Reconstructed slice size in pixels; ``nx`` equals the detector width.
    """

    tilts_deg: np.ndarray
    nz: int
    nx: int
    matrix: sp.csr_matrix = field(init=False, repr=False)
    matrix_t: sp.csr_matrix = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.tilts_deg = np.asarray(self.tilts_deg, dtype=np.float64)
        self.matrix = joseph_matrix(self.tilts_deg, self.nz, self.nx)
        self.matrix_t = self.matrix.T.tocsr()

    @property
    def n_tilts(self) -> int:
        return len(self.tilts_deg)

    # -- order conversion: the one place where our order meets the backend's ----------
    def volume_to_backend(self, volume: np.ndarray) -> np.ndarray:
        """(nz, ny, nx) -> (nz * nx, ny) float32, C-contiguous."""
        nz, ny, nx = volume.shape
        return np.ascontiguousarray(np.transpose(volume, (0, 2, 1)), dtype=np.float32).reshape(nz * nx, ny)

    def volume_from_backend(self, block: np.ndarray) -> np.ndarray:
        """(nz * nx, ny) -> (nz, ny, nx)."""
        ny = block.shape[1]
        return np.ascontiguousarray(np.transpose(block.reshape(self.nz, self.nx, ny), (0, 2, 1)))

    def sino_to_backend(self, tilt_series: np.ndarray) -> np.ndarray:
        """(n_tilts, ny, n_det) -> (n_tilts * n_det, ny) float32, C-contiguous."""
        n, ny, nd = tilt_series.shape
        return np.ascontiguousarray(np.transpose(tilt_series, (0, 2, 1)), dtype=np.float32).reshape(n * nd, ny)

    def sino_from_backend(self, block: np.ndarray) -> np.ndarray:
        """(n_tilts * n_det, ny) -> (n_tilts, ny, n_det)."""
        ny = block.shape[1]
        return np.ascontiguousarray(np.transpose(block.reshape(self.n_tilts, self.nx, ny), (0, 2, 1)))

    # -- operators on backend blocks -----------------------------------------------------
    def forward_block(self, block: np.ndarray) -> np.ndarray:
        """``A x`` on a ``(nz * nx, ny)`` block -> ``(n_tilts * n_det, ny)``."""
        return self.matrix @ block

    def back_block(self, block: np.ndarray) -> np.ndarray:
        """``Aᵀ y`` on a ``(n_tilts * n_det, ny)`` block -> ``(nz * nx, ny)``."""
        return self.matrix_t @ block

    # -- operators in the project's order ------------------------------------------------
    def forward(self, volume: np.ndarray) -> np.ndarray:
        """Project a volume.

        Parameters
        ----------
        volume : (nz, ny, nx) ndarray

        Returns
        -------
        (n_tilts, ny, nx) ndarray of float32
        """
        return self.sino_from_backend(self.forward_block(self.volume_to_backend(volume)))

    def back(self, tilt_series: np.ndarray) -> np.ndarray:
        """Back-project a tilt series (the exact adjoint of :meth:`forward`).

        Parameters
        ----------
        tilt_series : (n_tilts, ny, nx) ndarray

        Returns
        -------
        (nz, ny, nx) ndarray of float32
        """
        return self.volume_from_backend(self.back_block(self.sino_to_backend(tilt_series)))
