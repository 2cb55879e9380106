"""Parallel-beam projector for single-tilt-axis tomography.

In parallel-beam geometry with one tilt axis every slice perpendicular to the tilt axis
has the same system matrix ``A`` of shape ``(n_tilts * n_det, nz * nx)``. The projector
applies it to all slices at once, with the slices (the tilt-axis coordinate ``y``) as
the columns of a dense block: on the CPU through compiled kernels
(:mod:`insitu4d.recon.joseph`), on a GPU through the same kernels in CUDA
(:mod:`insitu4d.recon.cupy_backend`). :func:`joseph_matrix` builds ``A`` explicitly; it is
the reference the kernels are tested against.

Internal ("backend") order, converted by the ``*_to_backend`` / ``*_from_backend``
methods of :class:`Projector` and nowhere else:

* volume ``(nz, ny, nx)``  <->  block ``(nz * nx, ny)``
* tilt series ``(n_tilts, ny, n_det)``  <->  block ``(n_tilts * n_det, ny)``
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidParameter
from .joseph import back_project, forward_project, task_sizes

__all__ = ["Projector", "joseph_matrix", "copy_into"]


def joseph_matrix(tilts_deg, nz: int, nx: int, n_det: int | None = None,
                  centre_px: tuple[float, float] = (0.0, 0.0)) -> sp.csr_matrix:
    """System matrix of the Joseph (ray-driven, linear interpolation) projector.

    Each ray is sampled once per pixel row (or column) along its dominant direction; the
    value there is linearly interpolated between the two nearest pixels and weighted by
    the path length through that row, ``1 / max(|cos θ|, |sin θ|)`` pixels.

    Geometry: pixel centres at ``x_j = j - (nx - 1)/2 + c_x`` and ``z_k = k - (nz - 1)/2 + c_z``,
    (c_z, c_x) = ``centre_px``; detector bin ``i`` at ``u_i = i - (n_det - 1)/2``; at tilt θ
    the ray through ``u`` is the set of points with ``x cos θ + z sin θ = u``. At θ = 0 the
    beam runs along z. A volume smaller than the detector, off the tilt axis, is a window
    of a larger field (:class:`Projector`).

    Parameters
    ----------
    tilts_deg : (n_tilts,) array_like of float, degrees
        Tilt angles.
    nz, nx : int
        Slice size in pixels (``z`` along the beam at 0°, ``x`` across the tilt axis).
    n_det : int, optional
        Detector bins; default ``nx``.
    centre_px : (float, float)
        The volume's centre (z, x) relative to the tilt axis, pixels.

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
    xc = (nx - 1) / 2.0
    zc = (nz - 1) / 2.0
    counts, cols_all, vals_all = [], [], []
    cz, cx = (float(v) for v in centre_px)
    for t in theta:
        c, s = np.cos(t), np.sin(t)
        u = np.arange(n_det) - (n_det - 1) / 2.0 - (cx * c + cz * s)  # relative to the volume's centre
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


class Projector:
    """Forward projector ``A`` and back-projector ``Aᵀ`` shared by all slices (CPU backend).

    The default backend: the compiled Joseph kernels of :mod:`insitu4d.recon.joseph`, run
    on all CPU cores. Optional backends (:mod:`insitu4d.recon.backends`) subclass it and
    override the block operators and the array module ``xp``.

    Parameters
    ----------
    tilts_deg : (n_tilts,) array_like of float, degrees
        Tilt angles.
    nz, nx : int
        Reconstructed slice size in pixels.
    n_det : int, optional
        Detector width in pixels; default ``nx``.
    centre_px : (float, float)
        The volume's centre (z, x) relative to the tilt axis, pixels. With ``n_det`` it makes
        the volume a window of the field: a region of interest, or the box of one particle
        pair, whose rays are the detector's (:func:`joseph_matrix`).

    Raises
    ------
    InvalidParameter
        A size below 1 pixel, or a centre that is not two finite numbers.
    """

    name = "cpu"
    xp = np

    def __init__(self, tilts_deg, nz: int, nx: int, *, n_det: int | None = None,
                 centre_px: tuple[float, float] = (0.0, 0.0)) -> None:
        self.tilts_deg = np.asarray(tilts_deg, dtype=np.float64).ravel()
        self.nz, self.nx = int(nz), int(nx)
        self.n_det = self.nx if n_det is None else int(n_det)
        self.centre_px = tuple(float(c) for c in np.ravel(centre_px))
        if min(self.nz, self.nx, self.n_det) < 1:
            raise InvalidParameter(f"a projector needs at least 1 pixel along z, x and the detector; got nz={self.nz}, "
                                   f"nx={self.nx}, n_det={self.n_det}.")
        if len(self.centre_px) != 2 or not np.all(np.isfinite(self.centre_px)):
            raise InvalidParameter(f"centre_px is the window's (z, x) centre in pixels, two finite numbers; got "
                                   f"{centre_px!r}.")
        theta = np.deg2rad(self.tilts_deg)
        self._cos, self._sin = np.cos(theta), np.sin(theta)
        # where the volume's centre projects, bins from the detector's centre, at each tilt
        self._shift = self.centre_px[1] * self._cos + self.centre_px[0] * self._sin
        self._sums: dict = {}

    def __repr__(self) -> str:
        window = "" if self.is_whole_field else f", n_det={self.n_det}, centre_px={self.centre_px}"
        return f"{type(self).__name__}(n_tilts={self.n_tilts}, nz={self.nz}, nx={self.nx}{window})"

    @property
    def is_whole_field(self) -> bool:
        """Whether the volume is the whole field: as wide as the detector and centred on the tilt axis."""
        return self.n_det == self.nx and self.centre_px == (0.0, 0.0)

    @property
    def n_tilts(self) -> int:
        return len(self.tilts_deg)

    @functools.cached_property
    def matrix(self) -> sp.csr_matrix:
        """The explicit system matrix (:func:`joseph_matrix`), built on first use."""
        return joseph_matrix(self.tilts_deg, self.nz, self.nx, self.n_det, self.centre_px)

    # -- order conversion: the one place where our order meets the backend's ----------
    def volume_to_backend(self, volume):
        """(nz, ny, nx) -> (nz * nx, ny) float32, C-contiguous, on the backend's device."""
        nz, ny, nx = volume.shape
        host = np.ascontiguousarray(np.transpose(volume, (0, 2, 1)), dtype=np.float32)
        return self.xp.asarray(host).reshape(nz * nx, ny)

    def volume_from_backend(self, block) -> np.ndarray:
        """(nz * nx, ny) -> (nz, ny, nx) NumPy array."""
        block = self.to_host(block)
        return np.ascontiguousarray(np.transpose(block.reshape(self.nz, self.nx, -1), (0, 2, 1)))

    def sino_to_backend(self, tilt_series):
        """(n_tilts, ny, n_det) -> (n_tilts * n_det, ny) float32, C-contiguous, on the backend's device."""
        n, ny, nd = tilt_series.shape
        host = np.ascontiguousarray(np.transpose(tilt_series, (0, 2, 1)), dtype=np.float32)
        return self.xp.asarray(host).reshape(n * nd, ny)

    def sino_from_backend(self, block) -> np.ndarray:
        """(n_tilts * n_det, ny) -> (n_tilts, ny, n_det) NumPy array."""
        block = self.to_host(block)
        return np.ascontiguousarray(np.transpose(block.reshape(-1, self.n_det, block.shape[1]), (0, 2, 1)))

    def to_host(self, block) -> np.ndarray:
        """A backend array as a NumPy array."""
        return np.asarray(block)

    # -- operators on backend blocks -----------------------------------------------------
    def _trig(self, tilts):
        if tilts is None:
            return self._cos, self._sin, self._shift
        idx = np.asarray(tilts, dtype=np.int64)
        return (np.ascontiguousarray(self._cos[idx]), np.ascontiguousarray(self._sin[idx]),
                np.ascontiguousarray(self._shift[idx]))

    def forward_block(self, block, tilts=None, out=None):
        """``A x`` on a ``(nz * nx, ny)`` block -> ``(n * n_det, ny)`` float32.

        ``tilts`` (indices into ``tilts_deg``) restricts ``A`` to those tilts' rows, in
        that order (ordered subsets); default all tilts. ``out``, a C-contiguous float32
        array of the result's shape, receives the result (iterations reuse their buffers:
        fresh arrays of this size cost page faults every time).
        """
        c, s, shift = self._trig(tilts)
        x = np.ascontiguousarray(block, dtype=np.float32)
        out = self._buffer(out, (len(c) * self.n_det, x.shape[1]))
        forward_project(x, self.nz, self.nx, c, s, shift, out, task_sizes(len(c), self.nz)[0])
        return out

    def back_block(self, block, tilts=None, out=None):
        """``Aᵀ y`` on a ``(n * n_det, ny)`` block -> ``(nz * nx, ny)`` float32 (``tilts`` and
        ``out`` as in :meth:`forward_block`)."""
        c, s, shift = self._trig(tilts)
        r = np.ascontiguousarray(block, dtype=np.float32)
        out = self._buffer(out, (self.nz * self.nx, r.shape[1]))
        back_project(r, self.nz, self.nx, c, s, shift, out, task_sizes(len(c), self.nz)[1])
        return out

    @staticmethod
    def _buffer(out, shape):
        if out is None:
            return np.empty(shape, np.float32)
        if out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous float32 array of shape {shape}; got {out.shape} {out.dtype}.")
        return out

    def _ones_sums(self, tilts, axis: int):
        key = (axis, None if tilts is None else np.asarray(tilts, np.int64).tobytes())
        if key not in self._sums:
            if axis == 1:
                ones = self.xp.ones((self.nz * self.nx, 1), dtype=np.float32)
                self._sums[key] = self.forward_block(ones, tilts)[:, 0]
            else:
                n = self.n_tilts if tilts is None else len(tilts)
                ones = self.xp.ones((n * self.n_det, 1), dtype=np.float32)
                self._sums[key] = self.back_block(ones, tilts)[:, 0]
        return self._sums[key]

    def row_sums(self, tilts=None):
        """Row sums of ``A`` (the ray lengths through the slice), ``(n * n_det,)`` float32."""
        return self._ones_sums(tilts, 1)

    def col_sums(self, tilts=None):
        """Column sums of ``A`` (each pixel's total weight), ``(nz * nx,)`` float32."""
        return self._ones_sums(tilts, 0)

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


def copy_into(out, result):
    """``result`` as float32, copied into ``out`` when one is given (for backends whose
    products cannot write into a buffer).

    Parameters
    ----------
    out : ndarray of float32 or None
    result : ndarray
        Same shape as ``out``.

    Returns
    -------
    ndarray of float32
        ``out`` (filled), or ``result`` as float32.
    """
    if out is None:
        return result.astype(np.float32, copy=False)
    out[...] = result
    return out
