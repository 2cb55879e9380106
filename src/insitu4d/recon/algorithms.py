"""Reconstruction algorithms over a :class:`~insitu4d.recon.projector.Projector`.

All algorithms work on backend blocks ``(rows, ny)`` whose columns are the slices along
the tilt axis; slices are independent, so the column range is split into chunks that
run in parallel threads (SciPy's sparse products release the GIL).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
import scipy.fft

from ..errors import InvalidParameter
from .projector import Projector

__all__ = ["FILTERS", "fbp_block", "sirt_block", "sart_block", "cgls_block", "tv_block", "angular_weights_rad",
           "fourier_filter"]

FILTERS = ("ramp", "shepp-logan", "hann")


def _chunks(n_cols: int, n_workers: int) -> list[slice]:
    n = max(1, min(n_workers, n_cols))
    edges = np.linspace(0, n_cols, n + 1).round().astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _workers(n_workers: int | None) -> int:
    return max(1, n_workers or os.cpu_count() or 1)


def angular_weights_rad(tilts_deg) -> np.ndarray:
    """Quadrature weight of each tilt in the back-projection integral (midpoint rule).

    Returns
    -------
    (n_tilts,) ndarray of float, radians
        Half the distance to the two neighbouring tilts; the end tilts get the full
        distance to their one neighbour.
    """
    t = np.deg2rad(np.asarray(tilts_deg, dtype=np.float64))
    d = np.abs(np.diff(t))
    w = np.empty_like(t)
    w[1:-1] = (d[:-1] + d[1:]) / 2
    w[0], w[-1] = d[0], d[-1]
    return w


def fourier_filter(n_det: int, name: str = "ramp") -> tuple[np.ndarray, int]:
    """FBP filter in the Fourier domain, for a zero-padded detector row.

    The ramp is built in real space (band-limited, Kak & Slaney, *Principles of
    Computerized Tomographic Imaging*, IEEE Press 1988, eq. 61 of ch. 3) to avoid the DC
    error of a sampled ``|f|``; Shepp–Logan multiplies by ``sinc(f)`` (Shepp & Logan,
    IEEE Trans. Nucl. Sci. 21, 21 (1974), doi:10.1109/TNS.1974.6499235), Hann by
    ``(1 + cos 2πf)/2``.

    Returns
    -------
    filter : (n_pad,) ndarray of float
        Multiplier for ``numpy.fft.fft`` along the padded detector axis.
    n_pad : int
        Padded length (a power of two ≥ 2 n_det).
    """
    if name not in FILTERS:
        raise InvalidParameter(f"unknown FBP filter {name!r}; choose one of {', '.join(FILTERS)}.")
    n_pad = max(64, int(2 ** np.ceil(np.log2(2 * n_det))))
    n = np.concatenate((np.arange(1, n_pad // 2 + 1, 2), np.arange(n_pad // 2 - 1, 0, -2)))
    h = np.zeros(n_pad)
    h[0] = 0.25
    h[1::2] = -1.0 / (np.pi * n) ** 2
    filt = np.real(np.fft.fft(h))  # equals |f| (cycles/pixel) up to band-limiting
    f = np.fft.fftfreq(n_pad)
    if name == "shepp-logan":
        filt *= np.sinc(f)
    elif name == "hann":
        filt *= 0.5 * (1 + np.cos(2 * np.pi * f))
    return filt, n_pad


def fbp_block(projector: Projector, sino_block: np.ndarray, *, filter_name: str = "ramp",
              n_workers: int | None = None) -> np.ndarray:
    """Filtered back-projection of a ``(n_tilts * n_det, ny)`` block.

    f(x) = Σ_i w_i q_i(x cos θ_i + z sin θ_i), with q_i the filtered projection and w_i
    the angular weights in radians (:func:`angular_weights_rad`). Ref.: Kak & Slaney
    (1988), ch. 3, eq. 45.

    Returns
    -------
    (nz * nx, ny) ndarray of float32
    """
    n_t, n_det = projector.n_tilts, projector.nx
    filt, n_pad = fourier_filter(n_det, filter_name)
    weights = angular_weights_rad(projector.tilts_deg).astype(np.float32)
    workers = _workers(n_workers)
    # filter all detector rows at once (float32 FFT), angular weights folded into the filter
    s = np.asarray(sino_block, np.float32).reshape(n_t, n_det, -1)
    spec = scipy.fft.rfft(s, n=n_pad, axis=1, workers=workers)
    spec *= filt[: n_pad // 2 + 1, None].astype(np.float32)
    spec *= weights[:, None, None]
    q = scipy.fft.irfft(spec, n=n_pad, axis=1, workers=workers)[:, :n_det, :]
    q = np.ascontiguousarray(q, dtype=np.float32).reshape(n_t * n_det, -1)
    parts = _chunks(q.shape[1], workers)
    with ThreadPoolExecutor(len(parts)) as pool:
        return _products(projector.matrix_t, q, parts, pool)


def sirt_block(projector: Projector, sino_block: np.ndarray, *, iterations: int = 100,
               nonnegative: bool = True, mask: np.ndarray | None = None, x0: np.ndarray | None = None,
               n_workers: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """SIRT on a ``(n_tilts * n_det, ny)`` block.

    x ← x + C Aᵀ R (b − A x), with R and C the inverse row and column sums of A (zero where
    a sum is zero), optionally followed by clipping at 0 and a support mask. This is the
    SIRT variant of ASTRA (van Aarle et al., Ultramicroscopy 157, 35 (2015),
    doi:10.1016/j.ultramic.2015.05.002); Gilbert, J. Theor. Biol. 36, 105 (1972),
    doi:10.1016/0022-5193(72)90180-4.

    Parameters
    ----------
    projector : Projector
    sino_block : (n_tilts * n_det, ny) ndarray of float32
    iterations : int
    nonnegative : bool
        Clip negative values after each update.
    mask : (nz, nx) ndarray of bool, optional
        Support: voxels outside are held at 0.
    x0 : (nz * nx, ny) ndarray, optional
        Start volume; zeros by default.
    n_workers : int, optional
        Threads; default the number of CPUs.
    progress : callable(done, total), optional
        Called after each iteration.

    Returns
    -------
    (nz * nx, ny) ndarray of float32
    """
    if iterations < 1:
        raise InvalidParameter(f"SIRT needs at least 1 iteration; got {iterations}.")
    A, At = projector.matrix, projector.matrix_t
    row = np.asarray(A.sum(axis=1)).ravel()
    col = np.asarray(A.sum(axis=0)).ravel()
    R = np.divide(1.0, row, out=np.zeros_like(row), where=row > 1e-6).astype(np.float32)[:, None]
    C = np.divide(1.0, col, out=np.zeros_like(col), where=col > 1e-6).astype(np.float32)[:, None]
    if mask is not None:
        C = C * np.asarray(mask, dtype=np.float32).reshape(-1, 1)
    b = np.ascontiguousarray(sino_block, dtype=np.float32)
    x = np.zeros((A.shape[1], b.shape[1]), np.float32) if x0 is None else np.array(x0, np.float32)
    parts = _chunks(b.shape[1], _workers(n_workers))
    b_parts = [np.ascontiguousarray(b[:, p]) for p in parts]
    x_parts = [np.ascontiguousarray(x[:, p]) for p in parts]

    def step(k: int) -> None:
        xk = x_parts[k]
        r = b_parts[k] - A @ xk
        r *= R
        xk += C * (At @ r)
        if nonnegative:
            np.maximum(xk, 0, out=xk)

    with ThreadPoolExecutor(len(parts)) as pool:
        for it in range(iterations):
            list(pool.map(step, range(len(parts))))
            if progress is not None:
                progress(it + 1, iterations)
    return np.concatenate(x_parts, axis=1)


def _inverse_sums(A, axis: int) -> np.ndarray:
    s = np.asarray(A.sum(axis=axis)).ravel()
    return np.divide(1.0, s, out=np.zeros_like(s), where=s > 1e-6).astype(np.float32)


def cgls_block(projector: Projector, sino_block: np.ndarray, *, iterations: int = 30,
               n_workers: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """CGLS: conjugate gradients on the normal equations AᵀA x = Aᵀb (no constraints).

    Hestenes & Stiefel, J. Res. Natl. Bur. Stand. 49, 409 (1952), doi:10.6028/jres.049.044;
    the least-squares form as in Björck, *Numerical Methods for Least Squares Problems*
    (SIAM 1996), alg. 7.4.1. Each slice (column) is an independent problem, so the scalars
    α, β are per column.

    Returns
    -------
    (nz * nx, ny) ndarray of float32
    """
    if iterations < 1:
        raise InvalidParameter(f"CGLS needs at least 1 iteration; got {iterations}.")
    A, At = projector.matrix, projector.matrix_t
    b = np.ascontiguousarray(sino_block, dtype=np.float32)
    parts = _chunks(b.shape[1], _workers(n_workers))

    def init(p):
        r = b[:, p].copy()
        s = At @ r
        return {"x": np.zeros((A.shape[1], r.shape[1]), np.float32), "r": r, "d": s.copy(),
                "gamma": (s.astype(np.float64) ** 2).sum(axis=0)}

    state = [init(p) for p in parts]

    def step(k: int) -> None:
        st = state[k]
        q = A @ st["d"]
        qq = (q.astype(np.float64) ** 2).sum(axis=0)
        alpha = np.divide(st["gamma"], qq, out=np.zeros_like(qq), where=qq > 0).astype(np.float32)
        st["x"] += alpha * st["d"]
        st["r"] -= alpha * q
        s = At @ st["r"]
        gamma = (s.astype(np.float64) ** 2).sum(axis=0)
        beta = np.divide(gamma, st["gamma"], out=np.zeros_like(gamma), where=st["gamma"] > 0).astype(np.float32)
        st["d"] = s + beta * st["d"]
        st["gamma"] = gamma

    with ThreadPoolExecutor(len(parts)) as pool:
        for it in range(iterations):
            list(pool.map(step, range(len(parts))))
            if progress is not None:
                progress(it + 1, iterations)
    return np.concatenate([st["x"] for st in state], axis=1)


def sart_block(projector: Projector, sino_block: np.ndarray, *, iterations: int = 10, n_subsets: int = 8,
               relaxation: float = 1.0, nonnegative: bool = True, n_workers: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """SART with ordered subsets of tilt angles (OS-SART).

    For each subset S of tilts in turn, x ← x + λ C_S A_Sᵀ R_S (b_S − A_S x), with R_S, C_S the
    inverse row and column sums of the subset's rows; one iteration visits every subset.
    Subsets interleave the tilts (every ``n_subsets``-th tilt) so consecutive updates see
    different directions. Andersen & Kak, Ultrason. Imaging 6, 81 (1984),
    doi:10.1177/016173468400600107; ordered subsets: Hudson & Larkin, IEEE Trans. Med. Imaging
    13, 601 (1994), doi:10.1109/42.363108.

    Parameters
    ----------
    iterations : int
        Full passes over all tilts.
    n_subsets : int
        Tilt subsets per pass (1 gives SIRT).
    relaxation : float
        λ in (0, 2).

    Returns
    -------
    (nz * nx, ny) ndarray of float32
    """
    if iterations < 1:
        raise InvalidParameter(f"SART needs at least 1 iteration; got {iterations}.")
    if not 0 < relaxation < 2:
        raise InvalidParameter(f"SART relaxation must be in (0, 2); got {relaxation}.")
    n_t, n_det = projector.n_tilts, projector.nx
    n_subsets = max(1, min(int(n_subsets), n_t))
    subsets = []
    for s in range(n_subsets):
        tilts = np.arange(s, n_t, n_subsets)
        rows = (tilts[:, None] * n_det + np.arange(n_det)[None, :]).ravel()
        As = projector.matrix[rows]
        subsets.append((rows, As, As.T.tocsr(), _inverse_sums(As, 1)[:, None], _inverse_sums(As, 0)[:, None]))
    b = np.ascontiguousarray(sino_block, dtype=np.float32)
    parts = _chunks(b.shape[1], _workers(n_workers))
    x_parts = [np.zeros((projector.matrix.shape[1], p.stop - p.start), np.float32) for p in parts]
    b_parts = [np.ascontiguousarray(b[:, p]) for p in parts]

    def step(k: int) -> None:
        xk, bk = x_parts[k], b_parts[k]
        for rows, As, Ast, R, C in subsets:
            r = bk[rows] - As @ xk
            r *= R
            xk += (relaxation * C) * (Ast @ r)
            if nonnegative:
                np.maximum(xk, 0, out=xk)

    with ThreadPoolExecutor(len(parts)) as pool:
        for it in range(iterations):
            list(pool.map(step, range(len(parts))))
            if progress is not None:
                progress(it + 1, iterations)
    return np.concatenate(x_parts, axis=1)


def _products(mat, block: np.ndarray, parts: list[slice], pool: ThreadPoolExecutor) -> np.ndarray:
    out = np.empty((mat.shape[0], block.shape[1]), np.float32)

    def run(p: slice) -> None:
        out[:, p] = mat @ np.ascontiguousarray(block[:, p])

    list(pool.map(run, parts))
    return out


def _gradient(v: np.ndarray) -> np.ndarray:
    """Forward differences of a (nz, nx, ny) volume along its three axes (0 at the far edge)."""
    g = np.zeros((3,) + v.shape, np.float32)
    g[0, :-1] = v[1:] - v[:-1]
    g[1, :, :-1] = v[:, 1:] - v[:, :-1]
    g[2, :, :, :-1] = v[:, :, 1:] - v[:, :, :-1]
    return g


def _gradient_adjoint(g: np.ndarray) -> np.ndarray:
    """∇ᵀ g (minus the divergence), the exact adjoint of :func:`_gradient`."""
    out = np.zeros(g.shape[1:], np.float32)
    out[:-1] -= g[0, :-1]
    out[1:] += g[0, :-1]
    out[:, :-1] -= g[1, :, :-1]
    out[:, 1:] += g[1, :, :-1]
    out[:, :, :-1] -= g[2, :, :, :-1]
    out[:, :, 1:] += g[2, :, :, :-1]
    return out


def tv_block(projector: Projector, sino_block: np.ndarray, *, iterations: int = 200, tv_weight: float = 1.0,
             nonnegative: bool = True, n_workers: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Total-variation-regularised reconstruction (compressed sensing against the missing wedge).

    Solves min_x ½‖A x − b‖² + λ TV(x) (+ x ≥ 0), TV the isotropic 3D total variation
    Σ‖∇x‖₂ over the volume (z, x and the tilt-axis direction y), with the primal–dual
    algorithm of Chambolle & Pock (J. Math. Imaging Vis. 40, 120 (2011),
    doi:10.1007/s10851-010-0251-1) and its diagonal preconditioning (Pock & Chambolle,
    ICCV 2011, 1762, doi:10.1109/ICCV.2011.6126441): step sizes from the row and column sums
    of K = [A; λ∇], so no operator norm is needed and the data part behaves like SIRT.
    Sidky & Pan's ASD-POCS (Phys. Med. Biol. 53, 4777 (2008), doi:10.1088/0031-9155/53/17/021)
    and ISER pursue the same minimum-TV, data-consistent solution.

    The weight is made scale-free: the data are divided by a density scale s (the 99.9th
    percentile of one SIRT step from zero), and λ = ``tv_weight`` × n_tilts, because every
    voxel is seen by about n_tilts rays. The result is multiplied back by s.

    Parameters
    ----------
    iterations : int
    tv_weight : float
        Dimensionless; larger is smoother. 0 gives a non-negative least-squares solution.
        The default 1.0 was chosen on touching spheres at ±40°, 2° steps, ~10 detected
        counts at the thickest point (tests/test_missing_wedge.py); 0.1 suits noise-free data.
    nonnegative : bool

    Returns
    -------
    (nz * nx, ny) ndarray of float32
    """
    if iterations < 1:
        raise InvalidParameter(f"TV reconstruction needs at least 1 iteration; got {iterations}.")
    if tv_weight < 0:
        raise InvalidParameter(f"tv_weight must be ≥ 0; got {tv_weight}.")
    A, At = projector.matrix, projector.matrix_t
    nz, nx = projector.nz, projector.nx
    b = np.ascontiguousarray(sino_block, dtype=np.float32)
    ny = b.shape[1]
    parts = _chunks(ny, _workers(n_workers))
    R = _inverse_sums(A, 1)[:, None]
    col = np.asarray(A.sum(axis=0)).ravel().astype(np.float32)[:, None]
    lam = float(tv_weight) * projector.n_tilts
    with ThreadPoolExecutor(len(parts)) as pool:
        first = _products(At, R * b, parts, pool) * np.divide(1.0, col, out=np.zeros_like(col), where=col > 1e-6)
        scale = float(np.percentile(first, 99.9)) or 1.0
        bs = b / scale
        sigma_d = R  # 1 / row sums of A
        tau = np.divide(1.0, col + 6.0 * lam, out=np.zeros_like(col), where=(col + 6.0 * lam) > 1e-6)
        sigma_g = 1.0 / (2.0 * lam) if lam > 0 else 0.0
        x = np.zeros((A.shape[1], ny), np.float32)
        xbar = x.copy()
        p = np.zeros_like(bs)
        q = np.zeros((3, nz, nx, ny), np.float32)
        for it in range(iterations):
            p += sigma_d * (_products(A, xbar, parts, pool) - bs)
            p /= 1.0 + sigma_d
            update = _products(At, p, parts, pool)
            if lam > 0:
                q += (sigma_g * lam) * _gradient(xbar.reshape(nz, nx, ny))
                norm = np.sqrt((q ** 2).sum(axis=0))
                q /= np.maximum(norm, 1.0)
                update += lam * _gradient_adjoint(q).reshape(-1, ny)
            x_new = x - tau * update
            if nonnegative:
                np.maximum(x_new, 0, out=x_new)
            xbar = 2 * x_new - x
            x = x_new
            if progress is not None:
                progress(it + 1, iterations)
    return x * scale
