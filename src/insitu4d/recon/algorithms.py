"""Reconstruction algorithms over a :class:`~insitu4d.recon.projector.Projector`.

All algorithms work on backend blocks ``(rows, ny)`` whose columns are the slices along
the tilt axis, with the projector's array module ``xp`` (NumPy, or CuPy on the GPU
backend), so each runs unchanged on every backend. The projector parallelises its
products itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.fft

from ..choices import FBP_FILTERS
from ..errors import InvalidParameter
from . import tv_kernels
from .projector import Projector

__all__ = ["FILTERS", "fbp_block", "sirt_block", "sart_block", "cgls_block", "tv_block", "asd_pocs_block",
           "angular_weights_rad", "fourier_filter", "density_scale", "tv_iterations", "TVState"]

FILTERS = FBP_FILTERS


def _inverse(xp, s, floor: float = 1e-6):
    """1/s where s > floor, else 0 (rays that miss the slice, pixels no ray reaches)."""
    s = xp.asarray(s, dtype=np.float32)
    return xp.where(s > floor, 1.0 / xp.maximum(s, floor), 0.0).astype(np.float32)


def _report(progress, it: int, total: int) -> None:
    if progress is not None:
        progress(it + 1, total)


def angular_weights_rad(tilts_deg) -> np.ndarray:
    """Quadrature weight of each tilt in the back-projection integral (midpoint rule).

    Parameters
    ----------
    tilts_deg : (n_tilts,) array_like of float, degrees

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

    Parameters
    ----------
    n_det : int
        Detector pixels of a row.
    name : {"ramp", "shepp-logan", "hann"}

    Returns
    -------
    filter : (n_pad,) ndarray of float
        Multiplier for ``numpy.fft.fft`` along the padded detector axis.
    n_pad : int
        Padded length (a power of two ≥ 2 n_det).

    Raises
    ------
    InvalidParameter
        Unknown filter.
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


def fbp_block(projector: Projector, sino_block, *, filter_name: str = "ramp"):
    """Filtered back-projection of a ``(n_tilts * n_det, ny)`` block.

    f(x) = Σ_i w_i q_i(x cos θ_i + z sin θ_i), with q_i the filtered projection and w_i
    the angular weights in radians (:func:`angular_weights_rad`). Ref.: Kak & Slaney
    (1988), ch. 3, eq. 45.

    Parameters
    ----------
    projector : Projector
    sino_block : (n_tilts * n_det, ny) ndarray of float32
        Sinograms of ``ny`` slices, one per column.
    filter_name : {"ramp", "shepp-logan", "hann"}

    Returns
    -------
    (nz * nx, ny) array of float32

    Raises
    ------
    InvalidParameter
        Unknown filter.
    """
    xp = projector.xp
    n_t, n_det = projector.n_tilts, projector.n_det
    filt, n_pad = fourier_filter(n_det, filter_name)
    weights = angular_weights_rad(projector.tilts_deg).astype(np.float32)
    kernel = xp.asarray((filt[: n_pad // 2 + 1, None][None, :, :] * weights[:, None, None]).astype(np.float32))
    s = xp.asarray(sino_block, dtype=np.float32).reshape(n_t, n_det, -1)
    if xp is np:  # filter all detector rows at once, in float32, on every core
        fft, kw = scipy.fft, {"workers": os.cpu_count() or 1}
    else:
        fft, kw = xp.fft, {}
    spec = fft.rfft(s, n=n_pad, axis=1, **kw)
    spec *= kernel
    q = fft.irfft(spec, n=n_pad, axis=1, **kw)[:, :n_det, :]
    q = xp.ascontiguousarray(q, dtype=np.float32).reshape(n_t * n_det, -1)
    return projector.back_block(q)


def sirt_block(projector: Projector, sino_block, *, iterations: int = 100,
               nonnegative: bool = True, mask: np.ndarray | None = None, x0=None,
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
    progress : callable(done, total), optional
        Called after each iteration.

    Returns
    -------
    (nz * nx, ny) ndarray of float32

    Raises
    ------
    InvalidParameter
        Iterations below 1.
    """
    if iterations < 1:
        raise InvalidParameter(f"SIRT needs at least 1 iteration; got {iterations}.")
    xp = projector.xp
    R = _inverse(xp, projector.row_sums())[:, None]
    C = _inverse(xp, projector.col_sums())[:, None]
    if mask is not None:
        C = C * xp.asarray(mask, dtype=np.float32).reshape(-1, 1)
    b = xp.ascontiguousarray(xp.asarray(sino_block, dtype=np.float32))
    x = xp.zeros((projector.nz * projector.nx, b.shape[1]), np.float32) if x0 is None \
        else xp.array(x0, dtype=np.float32)
    r = xp.empty_like(b)
    update = xp.empty_like(x)
    for it in range(iterations):
        r = projector.forward_block(x, out=r)
        xp.subtract(b, r, out=r)
        r *= R
        update = projector.back_block(r, out=update)
        update *= C
        x += update
        if nonnegative:
            xp.maximum(x, 0, out=x)
        _report(progress, it, iterations)
    return x


def cgls_block(projector: Projector, sino_block, *, iterations: int = 30,
               progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """CGLS: conjugate gradients on the normal equations AᵀA x = Aᵀb (no constraints).

    Hestenes & Stiefel, J. Res. Natl. Bur. Stand. 49, 409 (1952), doi:10.6028/jres.049.044;
    the least-squares form as in Björck, *Numerical Methods for Least Squares Problems*
    (SIAM 1996), alg. 7.4.1. Each slice (column) is an independent problem, so the scalars
    α, β are per column.

    Parameters
    ----------
    projector : Projector
    sino_block : (n_tilts * n_det, ny) ndarray of float32
    iterations : int
        ≥ 1.
    progress : callable(done, total), optional
        Called after each iteration.

    Returns
    -------
    (nz * nx, ny) ndarray of float32

    Raises
    ------
    InvalidParameter
        Iterations below 1.
    """
    if iterations < 1:
        raise InvalidParameter(f"CGLS needs at least 1 iteration; got {iterations}.")
    xp = projector.xp
    r = xp.array(sino_block, dtype=np.float32)
    x = xp.zeros((projector.nz * projector.nx, r.shape[1]), np.float32)
    s = projector.back_block(r)
    d = s.copy()
    gamma = (s.astype(np.float64) ** 2).sum(axis=0)
    for it in range(iterations):
        q = projector.forward_block(d)
        qq = (q.astype(np.float64) ** 2).sum(axis=0)
        alpha = xp.where(qq > 0, gamma / xp.where(qq > 0, qq, 1.0), 0.0).astype(np.float32)
        x += alpha * d
        r -= alpha * q
        s = projector.back_block(r)
        gamma_new = (s.astype(np.float64) ** 2).sum(axis=0)
        beta = xp.where(gamma > 0, gamma_new / xp.where(gamma > 0, gamma, 1.0), 0.0).astype(np.float32)
        d = s + beta * d
        gamma = gamma_new
        _report(progress, it, iterations)
    return x


def sart_block(projector: Projector, sino_block, *, iterations: int = 10, n_subsets: int = 8,
               relaxation: float = 1.0, nonnegative: bool = True,
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
    projector : Projector
    sino_block : (n_tilts * n_det, ny) ndarray of float32
    nonnegative : bool
        Clip negative values after each subset.
    progress : callable(done, total), optional
        Called after each iteration.

    Returns
    -------
    (nz * nx, ny) ndarray of float32

    Raises
    ------
    InvalidParameter
        Iterations below 1, or a relaxation outside (0, 2).
    """
    if iterations < 1:
        raise InvalidParameter(f"SART needs at least 1 iteration; got {iterations}.")
    if not 0 < relaxation < 2:
        raise InvalidParameter(f"SART relaxation must be in (0, 2); got {relaxation}.")
    xp = projector.xp
    subsets = _sart_subsets(projector, n_subsets)
    b = xp.asarray(sino_block, dtype=np.float32)
    x = xp.zeros((projector.nz * projector.nx, b.shape[1]), np.float32)
    for it in range(iterations):
        _sart_pass(projector, x, b, subsets, relaxation, nonnegative)
        _report(progress, it, iterations)
    return x


def _sart_subsets(projector: Projector, n_subsets: int) -> list:
    """Interleaved tilt subsets with their rows and inverse row and column sums."""
    xp = projector.xp
    n_t, n_det = projector.n_tilts, projector.n_det
    n = max(1, min(int(n_subsets), n_t))
    subsets = []
    for s in range(n):
        tilts = np.arange(s, n_t, n)
        rows = xp.asarray((tilts[:, None] * n_det + np.arange(n_det)[None, :]).ravel())
        subsets.append((tilts, rows, _inverse(xp, projector.row_sums(tilts))[:, None],
                        _inverse(xp, projector.col_sums(tilts))[:, None]))
    return subsets


def _sart_pass(projector: Projector, x, b, subsets: list, relaxation: float, nonnegative: bool) -> None:
    """One OS-SART pass over all subsets, updating ``x`` in place."""
    for tilts, rows, R, C in subsets:
        r = b[rows] - projector.forward_block(x, tilts)
        r *= R
        x += relaxation * C * projector.back_block(r, tilts)
        if nonnegative:
            projector.xp.maximum(x, 0, out=x)


def _gradient(xp, v):
    """Forward differences of a (nz, nx, ny) volume along its three axes (0 at the far edge)."""
    g = xp.zeros((3,) + v.shape, np.float32)
    g[0, :-1] = v[1:] - v[:-1]
    g[1, :, :-1] = v[:, 1:] - v[:, :-1]
    g[2, :, :, :-1] = v[:, :, 1:] - v[:, :, :-1]
    return g


def _gradient_adjoint(xp, g):
    """∇ᵀ g (minus the divergence), the exact adjoint of :func:`_gradient`."""
    out = xp.zeros(g.shape[1:], np.float32)
    out[:-1] -= g[0, :-1]
    out[1:] += g[0, :-1]
    out[:, :-1] -= g[1, :, :-1]
    out[:, 1:] += g[1, :, :-1]
    out[:, :, :-1] -= g[2, :, :, :-1]
    out[:, :, 1:] += g[2, :, :, :-1]
    return out


def density_scale(projector: Projector, b) -> float:
    """The 99.9th percentile of one SIRT step from zero: the scale of the densities.

    Parameters
    ----------
    projector : Projector
    b : (n_tilts * n_det, ny) array of float32

    Returns
    -------
    float
        1.0 when the step is zero everywhere.
    """
    return float(projector.xp.percentile(first_sirt_step(projector, b), DENSITY_PERCENTILE)) or 1.0


#: The percentile of one SIRT step that :func:`density_scale` takes.
DENSITY_PERCENTILE = 99.9


def first_sirt_step(projector: Projector, b):
    """One SIRT step from zero, C Aᵀ R b: ``(nz * nx, ny)`` (:func:`density_scale`)."""
    xp = projector.xp
    first = projector.back_block(_inverse(xp, projector.row_sums())[:, None] * b)
    first *= _inverse(xp, projector.col_sums())[:, None]
    return first


def tv_block(projector: Projector, sino_block, *, iterations: int = 150, tv_weight: float = 1.0,
             nonnegative: bool = True, prior=None, prior_share: float = 0.0, scale: float | None = None,
             progress: Callable[[int, int], None] | None = None):
    """Total-variation-regularised reconstruction (compressed sensing against the missing wedge).

    Solves min_x ½‖A x − b‖² + λ TV(x) (+ x ≥ 0), TV the isotropic 3D total variation
    Σ‖∇x‖₂ over the volume (z, x and the tilt-axis direction y), with the primal–dual
    algorithm of Chambolle & Pock (J. Math. Imaging Vis. 40, 120 (2011),
    doi:10.1007/s10851-010-0251-1) and its diagonal preconditioning (Pock & Chambolle,
    ICCV 2011, 1762, doi:10.1109/ICCV.2011.6126441): step sizes from the row and column sums
    of K = [A; λ∇], so no operator norm is needed and the data part behaves like SIRT.
    :func:`asd_pocs_block` pursues the same minimum-TV, data-consistent solution the
    ASD-POCS / ISER way.

    The weight is made scale-free: the data are divided by a density scale s (the 99.9th
    percentile of one SIRT step from zero, :func:`density_scale`), and λ = ``tv_weight`` ×
    n_tilts, because every voxel is seen by about n_tilts rays. The result is multiplied
    back by s. :func:`insitu4d.recon.auto.discrepancy_tv_weight` chooses the weight from
    the noise of the data.

    Parameters
    ----------
    projector : Projector
    sino_block : (n_tilts * n_det, ny) ndarray of float32
    iterations : int
    tv_weight : float
        Dimensionless; larger is smoother. 0 gives a non-negative least-squares solution.
    nonnegative : bool
    prior : (nz * nx, ny) array of float32, optional
        A temporal prior on the data's density scale (:mod:`insitu4d.recon.prior`): the
        start, and the PICCS term of :func:`tv_iterations`.
    prior_share : float
        α of the PICCS term, in [0, 1].
    scale : float, optional
        The density scale s; default :func:`density_scale` of these data. A volume made in
        slabs (:mod:`insitu4d.recon.slabs`) gives every slab the whole volume's.
    progress : callable(done, total), optional

    Returns
    -------
    (nz * nx, ny) array of float32

    Raises
    ------
    InvalidParameter
        iterations < 1, tv_weight < 0, or a prior of the wrong shape or share.
    """
    if iterations < 1:
        raise InvalidParameter(f"TV reconstruction needs at least 1 iteration; got {iterations}.")
    if tv_weight < 0:
        raise InvalidParameter(f"tv_weight must be ≥ 0; got {tv_weight}.")
    b = projector.xp.asarray(sino_block, dtype=np.float32)
    scale = density_scale(projector, b) if scale is None else float(scale)
    prior = None if prior is None else projector.xp.asarray(prior, dtype=np.float32) / scale
    state = tv_iterations(projector, b / scale, tv_weight, iterations, nonnegative=nonnegative, prior=prior,
                          prior_share=prior_share, progress=progress)
    return state.x * scale


@dataclass
class TVState:
    """The iterate of :func:`tv_iterations`: the volume ``x`` and the dual variables ``p`` (data) and
    ``q`` (gradient), so that a solve can continue from it (warm start)."""

    x: np.ndarray
    p: np.ndarray
    q: np.ndarray


def tv_iterations(projector: Projector, b_scaled, tv_weight: float, iterations: int, *,
                  state: TVState | None = None, nonnegative: bool = True, prior=None, prior_share: float = 0.0,
                  progress: Callable[[int, int], None] | None = None) -> TVState:
    """Chambolle–Pock iterations of :func:`tv_block` on density-scaled data, from ``state`` or from zero.

    With a ``prior`` the regulariser is that of prior-image-constrained compressed sensing
    (PICCS; Chen, Tang & Leng, Med. Phys. 35, 660 (2008), doi:10.1118/1.2836423):
    λ [(1 − α) TV(x) + α TV(x − x_prior)], α = ``prior_share``. A change between the
    prior and the data that is sparse in its gradient (a surface that moved near a neck)
    costs little; noise that the prior does not hold costs the full TV. The iteration
    starts from the prior when no ``state`` is given. The diagonal preconditioning is that
    of :func:`tv_block`: the two gradient rows together weigh λ, as the one row without a
    prior does.

    Parameters
    ----------
    projector : Projector
    b_scaled : (n_tilts * n_det, ny) array of float32
        The data divided by :func:`density_scale`.
    tv_weight : float
        As :func:`tv_block`.
    iterations : int
    state : TVState, optional
        Continue from this iterate (same shapes); zeros (or the prior) by default.
    nonnegative : bool
    prior : (nz * nx, ny) array of float32, optional
        The prior volume on the scale of ``b_scaled``, in the projector's block layout.
    prior_share : float
        α in [0, 1]; 0 ignores the prior's TV term (it is then only the start).
    progress : callable(done, total), optional

    Returns
    -------
    TVState
        ``q`` holds both gradient duals, stacked along its first axis (6 components) when
        a prior is given.

    Raises
    ------
    InvalidParameter
        ``prior_share`` outside [0, 1], or a prior of another shape than the volume.
    """
    xp = projector.xp
    nz, nx = projector.nz, projector.nx
    ny = b_scaled.shape[1]
    lam = float(tv_weight) * projector.n_tilts
    sigma_d = _inverse(xp, projector.row_sums())  # 1 / row sums of A
    tau = _inverse(xp, projector.col_sums() + 6.0 * lam)
    if not 0.0 <= prior_share <= 1.0:
        raise InvalidParameter(f"prior_share must lie in [0, 1]; got {prior_share}.")
    if prior is not None and tuple(prior.shape) != (nz * nx, ny):
        raise InvalidParameter(f"the prior has shape {tuple(prior.shape)}; the volume block is {(nz * nx, ny)}.")
    alpha = float(prior_share) if prior is not None else 0.0
    n_q = 6 if prior is not None else 3
    if state is None:
        x = xp.zeros((nz * nx, ny), np.float32) if prior is None else xp.array(prior, dtype=np.float32)
        p = xp.zeros_like(b_scaled)
        q = xp.zeros((n_q, nz, nx, ny), np.float32)
    else:
        x, p, q = state.x.copy(), state.p.copy(), state.q.copy()
    # the compiled steps (:mod:`insitu4d.recon.tv_kernels`) make one pass each and no temporaries
    loop = _tv_loop_cpu if xp is np else _tv_loop_arrays
    loop(projector, b_scaled, x, p, q, sigma_d, tau, lam, alpha, iterations, nonnegative, prior, progress)
    return TVState(x, p, q)


def _tv_loop_arrays(projector: Projector, b, x, p, q, sigma, tau, lam: float, alpha: float, iterations: int,
                    nonnegative: bool, prior, progress) -> None:
    """The iterations of :func:`tv_iterations` as array expressions (any array module, e.g. CuPy),
    updating ``x``, ``p`` and ``q`` in place."""
    xp = projector.xp
    nz, nx, ny = projector.nz, projector.nx, b.shape[1]
    sigma, tau = sigma[:, None], tau[:, None]
    grad_prior = None if alpha == 0 else _gradient(xp, xp.asarray(prior, np.float32).reshape(nz, nx, ny))
    xbar = x.copy()
    for it in range(iterations):
        p += sigma * (projector.forward_block(xbar) - b)
        p /= 1.0 + sigma
        update = projector.back_block(p)
        if lam > 0:
            # each gradient row of K has |row| sum 2 λ_k, so the dual step 1/(2 λ_k) times λ_k is ½ for both
            grad = _gradient(xp, xbar.reshape(nz, nx, ny))
            q[:3] += 0.5 * grad
            q[:3] /= xp.maximum(xp.sqrt((q[:3] ** 2).sum(axis=0)), 1.0)
            update += (lam * (1.0 - alpha)) * _gradient_adjoint(xp, q[:3]).reshape(-1, ny)
            if alpha > 0:
                q[3:] += 0.5 * (grad - grad_prior)
                q[3:] /= xp.maximum(xp.sqrt((q[3:] ** 2).sum(axis=0)), 1.0)
                update += (lam * alpha) * _gradient_adjoint(xp, q[3:]).reshape(-1, ny)
        x_new = x - tau * update
        if nonnegative:
            xp.maximum(x_new, 0, out=x_new)
        xbar = 2 * x_new - x
        x[...] = x_new
        _report(progress, it, iterations)


def _tv_loop_cpu(projector: Projector, b, x, p, q, sigma, tau, lam: float, alpha: float, iterations: int,
                 nonnegative: bool, prior, progress) -> None:
    """The iterations of :func:`tv_iterations` by the compiled kernels, updating ``x``, ``p`` and ``q`` in place."""
    nz, nx, ny = projector.nz, projector.nx, b.shape[1]
    xbar = x.copy()
    b = np.ascontiguousarray(b, dtype=np.float32)
    sigma = np.ascontiguousarray(sigma, dtype=np.float32)
    tau = np.ascontiguousarray(tau, dtype=np.float32)
    ax = np.empty_like(b)
    update = np.empty_like(x)
    with_prior = alpha > 0
    prior_volume = np.ascontiguousarray(prior, dtype=np.float32).reshape(nz, nx, ny) if with_prior \
        else np.zeros((1, 1, 1), np.float32)
    q_used = q if with_prior else q[:3]
    for it in range(iterations):
        projector.forward_block(xbar, out=ax)
        tv_kernels.dual_data_step(p, ax, b, sigma)
        projector.back_block(p, out=update)
        if lam > 0:
            tv_kernels.dual_tv_step(xbar.reshape(nz, nx, ny), q_used, prior_volume)
            tv_kernels.add_gradient_adjoint(q_used, 0, lam * (1.0 - alpha), update.reshape(nz, nx, ny))
            if with_prior:
                tv_kernels.add_gradient_adjoint(q_used, 3, lam * alpha, update.reshape(nz, nx, ny))
        tv_kernels.primal_step(x, xbar, update, tau, nonnegative)
        _report(progress, it, iterations)


def asd_pocs_block(projector: Projector, sino_block, *, iterations: int = 50, n_subsets: int = 8,
                   tv_steps: int = 20, alpha: float = 0.2, alpha_reduction: float = 0.95,
                   beta_reduction: float = 0.995, r_max: float = 0.95, nonnegative: bool = True,
                   progress: Callable[[int, int], None] | None = None):
    """TV-minimising reconstruction by adaptive steepest descent and POCS (ASD-POCS, ISER-like).

    Each iteration is a data step (one OS-SART pass with relaxation β and x ≥ 0) followed
    by ``tv_steps`` steepest-descent steps on the 3D total variation, their length tied to
    the change the data step made (dp) and cut by ``alpha_reduction`` whenever the TV steps
    move the volume more than ``r_max`` × dp; β shrinks by ``beta_reduction`` each
    iteration. Sidky & Pan, Phys. Med. Biol. 53, 4777 (2008),
    doi:10.1088/0031-9155/53/17/021; the pattern of ISER used for 4D tomography of
    sintering Cu nanoparticles by Ihara et al., Nanoscale 15, 10934 (2023),
    doi:10.1039/d3nr00992k. The smoothed TV gradient uses ε = 1e-3 of the density scale.

    Parameters
    ----------
    iterations : int
    n_subsets : int
        Tilt subsets of the data step.
    tv_steps : int
        TV descent steps per iteration.
    alpha : float
        First TV step length as a fraction of the first data-step change.
    alpha_reduction, beta_reduction, r_max : float
        Adaptation constants (Sidky & Pan's defaults).
    nonnegative : bool
    projector : Projector
    sino_block : (n_tilts * n_det, ny) ndarray of float32
    progress : callable(done, total), optional
        Called after each iteration.

    Returns
    -------
    (nz * nx, ny) array of float32

    Raises
    ------
    InvalidParameter
        Iterations below 1, TV steps below 0, or reduction factors outside (0, 1].
    """
    if iterations < 1:
        raise InvalidParameter(f"ASD-POCS needs at least 1 iteration; got {iterations}.")
    if tv_steps < 0 or not 0 < alpha_reduction <= 1 or not 0 < beta_reduction <= 1:
        raise InvalidParameter("ASD-POCS needs tv_steps ≥ 0 and reduction factors in (0, 1]; got "
                               f"tv_steps={tv_steps}, alpha_reduction={alpha_reduction}, "
                               f"beta_reduction={beta_reduction}.")
    xp = projector.xp
    nz, nx = projector.nz, projector.nx
    b = xp.asarray(sino_block, dtype=np.float32)
    ny = b.shape[1]
    subsets = _sart_subsets(projector, n_subsets)
    eps = 1e-3 * density_scale(projector, b)
    x = xp.zeros((nz * nx, ny), np.float32)
    beta, step = 1.0, None
    for it in range(iterations):
        x_prev = x.copy()
        _sart_pass(projector, x, b, subsets, beta, nonnegative)
        dp = float(xp.linalg.norm(x - x_prev))
        if step is None:
            step = alpha * dp
        x_data = x.copy()
        for _ in range(tv_steps):
            g = _gradient(xp, x.reshape(nz, nx, ny))
            g /= xp.sqrt((g ** 2).sum(axis=0) + eps ** 2)
            d = _gradient_adjoint(xp, g).reshape(-1, ny)
            norm = float(xp.linalg.norm(d))
            if norm == 0:
                break
            x -= (step / norm) * d
        if nonnegative:
            xp.maximum(x, 0, out=x)
        if float(xp.linalg.norm(x - x_data)) > r_max * dp:
            step *= alpha_reduction
        beta *= beta_reduction
        _report(progress, it, iterations)
    return x
