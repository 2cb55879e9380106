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

import functools
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

__all__ = ["Projector", "joseph_matrix", "get_projector"]


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
    counts, cols_all, vals_all = [], [], []
    for t in theta:
        c, s = np.cos(t), np.sin(t)
        if abs(c) >= abs(s):
            # step over pixel rows z_k; x = u / c − z_k tan θ (x index units)
            pos = u[:, None] / c - (np.arange(nz) - zc)[None, :] * (s / c) + xc  # (n_det, nz)
            n_other, weight = nx, 1.0 / abs(c)
            base = (np.arange(nz) * nx)[None, :, None]  # flat index k * nx + j
            stride = 1
        else:
            # step over pixel columns x_j; z = u / s − x_j cot θ (z index units)
            pos = u[:, None] / s - (np.arange(nx) - xc)[None, :] * (c / s) + zc  # (n_det, nx)
            n_other, weight = nz, 1.0 / abs(s)
            base = np.arange(nx)[None, :, None]  # flat index k * nx + j
            stride = nx
        i0 = np.floor(pos).astype(np.int64)
        frac = (pos - i0).astype(np.float32)
        idx = np.stack((i0, i0 + 1), axis=-1)  # (n_det, n_steps, 2): entries already in row order
        w = np.stack((1.0 - frac, frac), axis=-1) * np.float32(weight)
        ok = (idx >= 0) & (idx < n_other) & (w > 0)
        counts.append(ok.reshape(n_det, -1).sum(axis=1))
        cols_all.append((base + idx * stride)[ok].astype(np.int32))
        vals_all.append(w[ok])
    indptr = np.concatenate(([0], np.cumsum(np.concatenate(counts)))).astype(np.int64)
    shape = (len(theta) * n_det, nz * nx)
    index_dtype = np.int32 if indptr[-1] < np.iinfo(np.int32).max else np.int64
    return sp.csr_matrix((np.concatenate(vals_all), np.concatenate(cols_all).astype(index_dtype, copy=False),
                          indptr.astype(index_dtype)), shape=shape)


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


@functools.lru_cache(maxsize=2)
def _cached_projector(tilts_key: bytes, nz: int, nx: int) -> Projector:
    return Projector(np.frombuffer(tilts_key, dtype=np.float64), nz, nx)


def get_projector(tilts_deg, nz: int, nx: int) -> Projector:
    """The projector for this geometry, reused while it is one of the last two asked for.

    A pipeline reconstructs, then reprojects for the residual, with the same geometry;
    building the matrix costs about as much as an FBP.
    """
    key = np.ascontiguousarray(tilts_deg, dtype=np.float64).tobytes()
    return _cached_projector(key, int(nz), int(nx))
