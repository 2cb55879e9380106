"""Fused multimodal tomography: all element volumes at once, from their X-ray counts and the HAADF tilt series.

EDX maps hold a few counts per pixel; the HAADF images of the same tilts hold thousands of
electrons. For a thin object the HAADF image is a weighted sum of the projected element
densities (Zhong et al., Ultramicroscopy 174, 35 (2017), doi:10.1016/j.ultramic.2016.12.008),
h ≈ A (Σ_e z_e x_e). The element volumes x_e solve

    min_{x_e ≥ 0}  Σ_e KL(y_e ; g A x_e + β_e)  +  (μ/2) ‖A Σ_e z_e x_e − h‖²  +  λ R(x_1 … x_E),

* KL the Poisson negative log-likelihood of the counts y_e with background β_e and per-tilt
  gain g (:mod:`insitu4d.recon.poisson`);
* μ = 1/σ_h², σ_h² the variance of the HAADF noise per pixel, so that both data terms are
  log-likelihoods and the modality weight is set by the noise levels, as Zhong et al. ask;
* z_e the HAADF signal per X-ray count of each element, fitted on the projections
  (:func:`haadf_weights`);
* R the total nuclear variation (Rigie & La Rivière, Phys. Med. Biol. 60, 1741 (2015),
  doi:10.1088/0031-9155/60/5/1741; applied to EDX by Zhong et al., Ultramicroscopy 191, 34
  (2018), doi:10.1016/j.ultramic.2018.04.011): the nuclear norm of each voxel's 3 × E
  Jacobian, which favours element volumes whose edges coincide, or ``"tv"``: the sum of
  each element's own total variation.

Solved by the primal–dual algorithm of Chambolle & Pock (J. Math. Imaging Vis. 40, 120
(2011), doi:10.1007/s10851-010-0251-1) with diagonal preconditioning (Pock & Chambolle,
ICCV 2011, doi:10.1109/ICCV.2011.6126441); the KL dual step is the closed form of Sidky,
Jørgensen & Pan (Phys. Med. Biol. 57, 3065 (2012), doi:10.1088/0031-9155/57/10/3065).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.optimize import nnls

from ..errors import InvalidParameter
from .algorithms import _gradient, _gradient_adjoint
from .poisson import mlem, rows_per_tilt
from .projector import Projector

__all__ = ["FusedResult", "fused_reconstruction", "haadf_weights", "regularisation_scale", "COUPLINGS",
           "FUSED_ITERATIONS", "FUSED_WEIGHT", "STRUCTURE_DOMINANCE", "STRUCTURE_WEIGHT"]

#: Regularisers that couple (or not) the element volumes.
COUPLINGS = ("tnv", "tv")
#: EM iterations of the reconstructions whose reprojections fit the HAADF weights (:func:`haadf_weights`).
WEIGHT_FIT_EM_ITERATIONS = 5
#: Weight of a structure channel (the HAADF volume) over the elements in the TNV: on random core–shell twins the
#: error falls from 1 to 100 and is flat from 100 to 1000 (``benchmarks/bench_fused_edx.py``); 300 lies on the plateau.
STRUCTURE_DOMINANCE = 300.0
#: λ by default with a structure channel (its best of 0.3, 0.5, 1, 2 on the same twins).
STRUCTURE_WEIGHT = 0.5
#: Primal–dual iterations by default.
FUSED_ITERATIONS = 150
#: λ by default, in units of :func:`regularisation_scale`: within the best weights (0.2–0.4) of random core–shell
#: twins at 1–30 counts (``benchmarks/bench_fused_edx.py``).
FUSED_WEIGHT = 0.3


@dataclass(frozen=True)
class FusedResult:
    """Element volumes of :func:`fused_reconstruction`.

    Attributes
    ----------
    volumes : (n_elements, nz, ny, nx) ndarray of float32
        Expected counts per voxel and unit ray length, as :func:`~insitu4d.recon.poisson.mlem`.
    haadf_weights : (n_elements,) ndarray
        z_e used.
    modality_weight : float
        μ = 1/σ_h².
    regularisation : float
        λ used (absolute).
    """

    volumes: np.ndarray
    haadf_weights: np.ndarray
    modality_weight: float
    regularisation: float


def haadf_weights(projector: Projector, counts, background, haadf, gain=None) -> np.ndarray:
    """The HAADF signal per X-ray count of each element, by non-negative least squares on smooth projections.

    Fits h ≈ Σ_e z_e A x̂_e over every pixel of every tilt, x̂_e a short EM reconstruction
    (:data:`WEIGHT_FIT_EM_ITERATIONS` iterations, :func:`~insitu4d.recon.poisson.mlem`) of
    each element: its reprojection is the element's map with most of the Poisson noise
    gone. Fitting the raw maps instead biases z towards 0 (noise in the regressors:
    regression dilution), and smoothing them in-plane mixes core and shell.

    Parameters
    ----------
    projector : Projector
    counts, background : (n_elements, n_tilts, ny, nx) ndarray, counts
    haadf : (n_tilts, ny, nx) ndarray
    gain : (n_tilts,) array_like, optional

    Returns
    -------
    (n_elements,) ndarray of float
        ≥ 0.

    Raises
    ------
    InvalidParameter
        Shapes that do not match.
    """
    counts = np.asarray(counts, np.float32)
    h = np.asarray(haadf, np.float64)
    if counts.ndim != 4 or counts.shape[1:] != h.shape:
        raise InvalidParameter(f"element counts of shape {counts.shape} do not match the HAADF images {h.shape}.")
    smooth = [projector.forward(mlem(projector, counts[e], background[e], gain,
                                     iterations=WEIGHT_FIT_EM_ITERATIONS)).ravel()
              for e in range(counts.shape[0])]
    weights, _ = nnls(np.stack(smooth, axis=1).astype(np.float64), h.ravel())
    return weights


def regularisation_scale(counts, background, n_tilts: int) -> float:
    """λ per unit of ``regularisation``: n_tilts / √c, c the typical counts of a bright pixel.

    The gradient of the Poisson likelihood at the noise level is about n_tilts / √c per
    voxel (n_tilts rays, each off by about one standard deviation, √c out of c); the
    subgradient of the TV or TNV term is about λ. Matching them makes the weight free of
    the count level. c is the mean over the elements of the 99th percentile of their net
    counts per pixel (at least 1).

    Parameters
    ----------
    counts, background : (n_elements, n_tilts, ny, nx) ndarray, counts
    n_tilts : int

    Returns
    -------
    float
    """
    net = np.asarray(counts, np.float32) - np.asarray(background, np.float32)
    c = max(float(np.mean([np.percentile(net[e], 99) for e in range(net.shape[0])])), 1.0)
    return n_tilts / np.sqrt(c)


def _dual_norm_projection(q, coupling: str):
    """Project the gradient duals (E, 3, N) onto the unit ball of the dual norm of R."""
    if coupling == "tv":
        norms = np.sqrt((q ** 2).sum(axis=1, keepdims=True))
        return q / np.maximum(norms, 1.0)
    # each voxel's 3 × E matrix M: with MᵀM = V diag(s²) Vᵀ, the projection is M V diag(min(1, 1/s)) Vᵀ
    m = np.ascontiguousarray(np.transpose(q, (2, 1, 0)))  # (N, 3, E)
    gram = np.einsum("nki,nkj->nij", m, m)
    s2, v = np.linalg.eigh(gram)
    shrink = 1.0 / np.maximum(np.sqrt(np.maximum(s2, 0.0)), 1.0)
    m = np.einsum("nki,nij,nj,nlj->nkl", m, v, shrink, v, optimize=True)
    return np.ascontiguousarray(np.transpose(m, (2, 1, 0)), dtype=np.float32)


def fused_reconstruction(projector: Projector, counts, background, haadf=None, *, haadf_noise_var: float | None = None,
                         weights=None, gain=None, coupling: str = "tnv", regularisation: float | None = None,
                         iterations: int = FUSED_ITERATIONS, structure=None,
                         progress: Callable[[int, int], None] | None = None) -> FusedResult:
    """Reconstruct all element volumes together from X-ray counts and HAADF images (module docstring).

    Parameters
    ----------
    projector : Projector
    counts : (n_elements, n_tilts, ny, nx) ndarray, counts
        Peak counts of each line, aligned (tilt axis along y).
    background : (n_elements, n_tilts, ny, nx) ndarray, counts
        Their expected background.
    haadf : (n_tilts, ny, nx) ndarray, optional
        The HAADF tilt series on the same grid, its vacuum level removed. Without it the
        elements are reconstructed from their counts alone, with the same regulariser
        (the separate reconstruction fused reconstruction is judged against).
    haadf_noise_var : float
        σ_h², variance of the HAADF noise per pixel (in the HAADF's units); needed with ``haadf``.
    weights : (n_elements,) array_like, optional
        z_e; fitted by :func:`haadf_weights` by default.
    gain : (n_tilts,) array_like, optional
        Per-tilt X-ray detection efficiency.
    coupling : {"tnv", "tv"}
    regularisation : float, optional
        λ in units of :func:`regularisation_scale` (n_tilts / √(counts of a bright pixel)),
        so that it is free of the count level; default :data:`FUSED_WEIGHT`, or
        :data:`STRUCTURE_WEIGHT` with a ``structure``.
    iterations : int
    structure : (nz, ny, nx) ndarray, optional
        The HAADF volume on the elements' grid (reconstructed from the HAADF series alone,
        whose counts are high): a fixed extra channel of the TNV, divided by Σ z_e (so that
        it is on the elements' scale) and multiplied by :data:`STRUCTURE_DOMINANCE`. A
        dominant fixed channel turns the TNV into a directional TV: element gradients
        parallel to the HAADF's edges cost little, others the full TV (Ehrhardt & Betcke,
        SIAM J. Imaging Sci. 9, 1084 (2016), doi:10.1137/15M1047325), which is how the
        element volumes come to share the HAADF volume's edges (Zhong et al. 2018).
    progress : callable(done, total), optional

    Returns
    -------
    FusedResult

    Raises
    ------
    InvalidParameter
        Shapes that do not match, a coupling not in :data:`COUPLINGS`, a non-positive
        noise variance, negative counts, iterations < 1, or a structure volume without
        the HAADF images or with ``coupling="tv"``.
    """
    counts = np.asarray(counts, np.float32)
    beta = np.asarray(background, np.float32)
    with_haadf = haadf is not None
    h = np.asarray(haadf, np.float32) if with_haadf else np.zeros(counts.shape[1:], np.float32)
    if coupling not in COUPLINGS:
        raise InvalidParameter(f"coupling must be one of {', '.join(COUPLINGS)}; got {coupling!r}.")
    if counts.ndim != 4 or counts.shape != beta.shape or counts.shape[1:] != h.shape:
        raise InvalidParameter(f"counts {counts.shape}, background {beta.shape} and HAADF {h.shape} do not match: "
                               "(n_elements, n_tilts, ny, nx) twice and (n_tilts, ny, nx).")
    if counts.shape[1] != projector.n_tilts:
        raise InvalidParameter(f"{counts.shape[1]} tilts in the counts; the projector has {projector.n_tilts}.")
    if structure is not None and (coupling != "tnv" or not with_haadf):
        raise InvalidParameter("a structure volume guides the total nuclear variation of a fused reconstruction: "
                               "give it with coupling='tnv' and the HAADF images.")
    if structure is not None and tuple(np.shape(structure)) != (projector.nz, counts.shape[2], projector.nx):
        raise InvalidParameter(f"the structure volume has shape {tuple(np.shape(structure))}; the element volumes "
                               f"are {(projector.nz, counts.shape[2], projector.nx)}.")
    if with_haadf and not (haadf_noise_var is not None and haadf_noise_var > 0):
        raise InvalidParameter(f"the HAADF noise variance must be > 0; got {haadf_noise_var}.")
    if np.any(counts < 0):
        raise InvalidParameter("counts must be ≥ 0.")
    if iterations < 1:
        raise InvalidParameter(f"fused reconstruction needs at least 1 iteration; got {iterations}.")
    gain_t = np.ones(projector.n_tilts) if gain is None else np.asarray(gain, np.float64)
    if not with_haadf:
        z, haadf_noise_var = np.zeros(counts.shape[0]), 1.0
    elif weights is None:
        z = haadf_weights(projector, counts, beta, h, gain_t)
    else:
        z = np.asarray(weights, np.float64)
    n_el, ny = counts.shape[0], counts.shape[2]
    nz, nx = projector.nz, projector.nx
    mu_root = float(1.0 / np.sqrt(haadf_noise_var))
    g = rows_per_tilt(projector, gain_t)
    R, C = projector.row_sums()[:, None], projector.col_sums()[:, None]
    y = [projector.sino_to_backend(counts[e]) for e in range(n_el)]
    b = [projector.sino_to_backend(beta[e]) for e in range(n_el)]
    h_b = projector.sino_to_backend(h) * mu_root
    level = max(float(np.mean([np.maximum(yy - bb, 0).sum() for yy, bb in zip(y, b)]))
                / max(float((g * R).sum()) * ny, 1e-12), 1e-9)  # a flat start of the right total
    if regularisation is None:
        regularisation = FUSED_WEIGHT if structure is None else STRUCTURE_WEIGHT
    lam = regularisation_scale(counts, beta, projector.n_tilts) * float(regularisation)
    sigma_e = np.where(g * R > 0, 1.0 / np.maximum(g * R, 1e-12), 0.0).astype(np.float32)
    z_sum = float(z.sum())
    sigma_h = np.where(R > 0, 1.0 / np.maximum(mu_root * z_sum * R, 1e-12), 0.0).astype(np.float32) \
        if z_sum > 0 else np.zeros_like(R)
    back_g = projector.back_block(g * np.ones_like(y[0]))
    tau = [(1.0 / np.maximum(back_g + mu_root * z[e] * C + 6.0 * lam, 1e-12))
           .astype(np.float32) for e in range(n_el)]
    x = np.full((n_el, nz * nx, ny), level, np.float32)
    xbar = x.copy()
    p = [np.zeros_like(y[0]) for _ in range(n_el)]
    p_h = np.zeros_like(h_b)
    q = np.zeros((n_el + (structure is not None), 3, nz * nx * ny), np.float32)
    if structure is not None:  # on the elements' scale (h ≈ Σ z_e x_e), then made to dominate
        guide = np.asarray(structure, np.float32) * (STRUCTURE_DOMINANCE / max(float(z.sum()), 1e-12))
        grad_structure = 0.5 * _gradient(np, projector.volume_to_backend(guide).reshape(nz, nx, ny)).reshape(3, -1)
    for it in range(iterations):
        projections = [projector.forward_block(xbar[e]) for e in range(n_el)]
        for e in range(n_el):  # Poisson data: the closed-form prox of the KL conjugate
            pt = p[e] + sigma_e * (g * projections[e] + b[e])
            p[e] = 0.5 * (1.0 + pt - np.sqrt((pt - 1.0) ** 2 + 4.0 * sigma_e * y[e]))
        haadf_model = mu_root * sum(float(z[e]) * projections[e] for e in range(n_el))
        p_h = (p_h + sigma_h * (haadf_model - h_b)) / (1.0 + sigma_h)
        if lam > 0:
            for e in range(n_el):
                q[e] += 0.5 * _gradient(np, xbar[e].reshape(nz, nx, ny)).reshape(3, -1)
            if structure is not None:
                q[n_el] += grad_structure
            q = _dual_norm_projection(q, coupling)
        back_h = projector.back_block(p_h)
        x_old = x.copy()
        for e in range(n_el):
            update = projector.back_block(g * p[e]) + (mu_root * float(z[e])) * back_h
            if lam > 0:
                update += lam * _gradient_adjoint(np, q[e].reshape(3, nz, nx, ny)).reshape(-1, ny)
            x[e] = np.maximum(x[e] - tau[e] * update, 0.0)
        xbar = 2.0 * x - x_old
        if progress is not None:
            progress(it + 1, iterations)
    volumes = np.stack([projector.volume_from_backend(x[e]) for e in range(n_el)])
    return FusedResult(volumes=volumes, haadf_weights=z, modality_weight=mu_root ** 2 if with_haadf else 0.0,
                       regularisation=lam)
