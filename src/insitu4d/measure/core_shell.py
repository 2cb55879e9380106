"""Core radius and shell thickness of core–shell particles from projected element maps, with uncertainty.

A particle seen along the beam is a sphere of radius R_c (the core) inside a sphere of
radius R_o (core plus shell). The X-ray counts of a line in a pixel at distance r from
the particle's centre have the mean

    μ(r) = β + a_core · ℓ(r; R_c) + a_shell · [ℓ(r; R_o) − ℓ(r; R_c)],  ℓ(r; R) = 2 √(R² − r²)  (r < R),

the chord through a sphere, averaged over the pixel and blurred by a Gaussian whose σ is
fitted with the rest (the probe, drift and scan noise spread a 2 nm core over a few 0.5 nm
pixels; left out, the blur moves the shell's annulus into the core); β the background under
the line (:mod:`insitu4d.edx.maps`). The core line (Pt Lα for FePt) is fitted with
a_shell = 0; the shell line (Fe Kα or O K for an iron-oxide shell) with both amplitudes, as
the core may hold the shell's element too. Both maps are fitted together by Poisson maximum
likelihood over the pixels of the particle (its watershed region): centre, R_c, R_o, the
three amplitudes and the blur.

The ratio of the shell line's to the core line's amplitude inside the core (Fe Kα / Pt Lα
for FePt) is the core's composition as a count ratio per unit path. It compares with the
ratio of bare cores measured in the same windows; Rossouw et al., Nano Lett. 15, 2716
(2015), doi:10.1021/acs.nanolett.5b00449, test their unmixed core signal that way.

The standard errors are those of the inverse Fisher information
(Jᵀ diag(1/μ) J)⁻¹, J the model's Jacobian (Cramér–Rao; e.g. Pawitan, *In All
Likelihood* (2001), §8). Beam broadening in the particle is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize
from skimage.feature import peak_local_max
from skimage.filters import threshold_otsu
from skimage.segmentation import watershed

from ..distance import distance_to_background
from ..errors import InvalidParameter

__all__ = ["CoreShellFit", "locate_particles", "fit_core_shell", "projected_core_shell", "CORE_SHELL_COLUMNS"]

#: Columns of ``core_shell.csv``.
CORE_SHELL_COLUMNS = ["particle", "centre_y_nm", "centre_x_nm", "core_radius_nm", "core_radius_error_nm",
                      "outer_radius_nm", "outer_radius_error_nm", "shell_thickness_nm", "shell_thickness_error_nm",
                      "core_shell_line_ratio", "core_shell_line_ratio_error", "blur_nm", "n_pixels",
                      "deviance_per_pixel"]

_SUPERSAMPLE = 5
#: Core radii the fit starts from, as fractions of the region's equivalent radius.
START_CORE_FRACTIONS = (0.3, 0.5, 0.7)
#: Largest and starting σ of the Gaussian blur (probe, drift, scan noise) in pixels.
MAX_BLUR_PX = 3.0
START_BLUR_PX = 0.7
#: Below this σ (px) the blur is held fixed in the standard errors (module docstring).
MIN_FREE_BLUR_PX = 0.1
#: Pixels by which a particle's watershed region is grown (into the background only) for the fit.
MARGIN_PX = 3


@dataclass(frozen=True)
class CoreShellFit:
    """One particle's fit (module docstring); lengths in nm, errors one standard error."""

    particle: int
    centre_y_nm: float
    centre_x_nm: float
    core_radius_nm: float
    core_radius_error_nm: float
    outer_radius_nm: float
    outer_radius_error_nm: float
    shell_thickness_nm: float
    shell_thickness_error_nm: float
    core_shell_line_ratio: float
    core_shell_line_ratio_error: float
    blur_nm: float
    n_pixels: int
    deviance_per_pixel: float

    def to_row(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def projected_core_shell(shape, centre_px, core_radius_px: float, outer_radius_px: float, a_core: float,
                         a_shell: float, background=0.0) -> np.ndarray:
    """The mean counts of the module docstring's model over an image, pixel-averaged (3 × 3 samples).

    Parameters
    ----------
    shape : (int, int)
    centre_px : (float, float)
        (y, x), pixel units, pixel centres at integers.
    core_radius_px, outer_radius_px : float
    a_core, a_shell : float
        Counts per pixel and unit chord length (px).
    background : float or ndarray

    Returns
    -------
    (ny, nx) ndarray of float64
    """
    offsets = (np.arange(_SUPERSAMPLE) + 0.5) / _SUPERSAMPLE - 0.5
    y = np.arange(shape[0])[:, None, None, None] + offsets[None, None, :, None] - centre_px[0]
    x = np.arange(shape[1])[None, :, None, None] + offsets[None, None, None, :] - centre_px[1]
    r2 = y ** 2 + x ** 2

    def chord(radius):
        return 2.0 * np.sqrt(np.maximum(radius ** 2 - r2, 0.0))

    core = chord(core_radius_px)
    model = a_core * core + a_shell * (chord(outer_radius_px) - core)
    return background + model.mean(axis=(2, 3))


def locate_particles(total: np.ndarray, *, smoothing_px: float = 1.5, min_distance_px: int = 3) -> np.ndarray:
    """Particles of a map: smoothed, Otsu threshold, split by a watershed on the distance from the background.

    Parameters
    ----------
    total : (ny, nx) ndarray
        A map where the particles are bright (the sum of the lines' net counts).
    smoothing_px : float
        Gaussian σ before thresholding.
    min_distance_px : int
        Fewest pixels between two particle centres.

    Returns
    -------
    (ny, nx) ndarray of int32
        0 background, 1 … n particles.
    """
    smooth = ndimage.gaussian_filter(np.asarray(total, np.float64), smoothing_px)
    mask = smooth > threshold_otsu(smooth)
    distance = distance_to_background(mask)
    peaks = peak_local_max(distance, min_distance=min_distance_px, labels=ndimage.label(mask)[0])
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-distance, markers, mask=mask).astype(np.int32)


def _negative_log_likelihood(mu, y):
    mu = np.maximum(mu, 1e-9)
    return float(np.sum(mu - y * np.log(mu)))


def fit_core_shell(core_peak, core_background, shell_peak, shell_background, labels, pixel_size_nm: float, *,
                   min_pixels: int = 12) -> list[CoreShellFit]:
    """Fit every particle of ``labels`` (module docstring).

    Parameters
    ----------
    core_peak, core_background : (ny, nx) ndarray, counts
        The core line's peak counts and background (:class:`insitu4d.edx.maps.LineMap`).
    shell_peak, shell_background : (ny, nx) ndarray, counts
        The shell line's.
    labels : (ny, nx) ndarray of int
        :func:`locate_particles`.
    pixel_size_nm : float, nm
    min_pixels : int
        Smaller particles are skipped.

    Returns
    -------
    list of CoreShellFit
        Particles at the image edge (their region touches it) are skipped: their chords are
        cut. Each is fitted on its watershed region grown by :data:`MARGIN_PX` into the
        background, so that the rim of the shell is inside.

    Raises
    ------
    InvalidParameter
        Maps of different shapes, or a pixel size ≤ 0.
    """
    maps = [np.asarray(a, np.float64) for a in (core_peak, core_background, shell_peak, shell_background)]
    if any(m.shape != labels.shape for m in maps):
        raise InvalidParameter(f"the maps {[m.shape for m in maps]} and labels {labels.shape} differ in shape.")
    if not pixel_size_nm > 0:
        raise InvalidParameter(f"the pixel size must be > 0 nm; got {pixel_size_nm}.")
    yc_all, bc_all, ys_all, bs_all = maps
    fits = []
    for pid in np.unique(labels[labels > 0]):
        # the particle's region grown by MARGIN_PX into the background: the shell's faint rim lies outside a threshold
        region = (ndimage.binary_dilation(labels == pid, iterations=MARGIN_PX) & ((labels == 0) | (labels == pid)))
        if (labels == pid).sum() < min_pixels or region[0].any() or region[-1].any() or region[:, 0].any() \
                or region[:, -1].any():
            continue
        rows, cols = np.nonzero(region)
        lo_y, lo_x = rows.min(), cols.min()
        box = (slice(lo_y, rows.max() + 1), slice(lo_x, cols.max() + 1))
        p, cov, deviance, n = _fit_particle(region[box], yc_all[box], bc_all[box], ys_all[box], bs_all[box])
        thickness_var = cov[3, 3] + cov[2, 2] - 2 * cov[2, 3]
        ratio = p[6] / p[4] if p[4] > 0 else float("nan")
        # delta method for a_shell_in_core / a_core
        ratio_var = ratio ** 2 * (cov[6, 6] / max(p[6], 1e-12) ** 2 + cov[4, 4] / p[4] ** 2
                                  - 2 * cov[4, 6] / (p[4] * max(p[6], 1e-12))) if p[4] > 0 else float("nan")
        h = pixel_size_nm
        fits.append(CoreShellFit(
            particle=int(pid), centre_y_nm=float((lo_y + p[0]) * h), centre_x_nm=float((lo_x + p[1]) * h),
            core_radius_nm=float(p[2] * h), core_radius_error_nm=float(np.sqrt(cov[2, 2]) * h),
            outer_radius_nm=float(p[3] * h), outer_radius_error_nm=float(np.sqrt(cov[3, 3]) * h),
            shell_thickness_nm=float((p[3] - p[2]) * h),
            shell_thickness_error_nm=float(np.sqrt(max(thickness_var, 0.0)) * h),
            core_shell_line_ratio=float(ratio), core_shell_line_ratio_error=float(np.sqrt(max(ratio_var, 0.0))),
            blur_nm=float(p[7] * h),
            n_pixels=n, deviance_per_pixel=float(deviance / (2 * n))))
    return fits


def _fit_particle(inside, y_core, b_core, y_shell, b_shell):
    """Poisson ML fit of one particle's box: parameters (y, x, R_c, R_o, a_core, a_shell, a_shell_in_core, blur) in
    box pixels, their covariance, the deviance and the number of pixels."""
    net_core = np.maximum(y_core - b_core, 0) * inside
    weight = net_core.sum() or 1.0
    cy = float((net_core * np.arange(inside.shape[0])[:, None]).sum() / weight)
    cx = float((net_core * np.arange(inside.shape[1])[None, :]).sum() / weight)
    outer0 = float(np.sqrt(inside.sum() / np.pi))
    a_core0 = max(float(net_core.max()) / outer0, 1e-3)
    a_shell0 = max(float(np.maximum(y_shell - b_shell, 0)[inside].mean()) / (2 * outer0), 1e-3)
    data = (y_core[inside], y_shell[inside])

    def model(p):
        yy, xx, rc, ro, ac, as_, asc, blur = p
        core = projected_core_shell(inside.shape, (yy, xx), rc, ro, ac, 0.0)
        shell = projected_core_shell(inside.shape, (yy, xx), rc, ro, asc, as_)
        if blur > 0:
            core = ndimage.gaussian_filter(core, blur, mode="constant")
            shell = ndimage.gaussian_filter(shell, blur, mode="constant")
        return (core + b_core)[inside], (shell + b_shell)[inside]

    def objective(p):
        mc, ms = model(p)
        return _negative_log_likelihood(mc, data[0]) + _negative_log_likelihood(ms, data[1])

    bounds = [(cy - 3, cy + 3), (cx - 3, cx + 3), (0.3, 2 * outer0), (0.5, 3 * outer0), (0, None), (0, None),
              (0, None), (0.0, MAX_BLUR_PX)]
    # several core sizes to start from: the likelihood has local minima where core and shell trade pixels
    best = min((optimize.minimize(objective, np.array([cy, cx, f * outer0, outer0, a_core0 / f * 0.5, a_shell0,
                                                       a_shell0, START_BLUR_PX]), method="L-BFGS-B", bounds=bounds)
                for f in START_CORE_FRACTIONS), key=lambda r: r.fun)
    # the pixel-averaged chords make the likelihood only piecewise smooth in the radii: polish without gradients
    best = optimize.minimize(objective, best.x, method="Nelder-Mead", bounds=bounds,
                             options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 4000, "adaptive": True})
    p = best.x
    if p[3] < p[2]:  # the ordering R_o ≥ R_c is the model's, not the optimiser's
        p[2], p[3] = p[3], p[2]
    mc, ms = model(p)
    deviance = 2 * sum(float(np.sum(np.where(y > 0, y * np.log(np.maximum(y, 1e-9) / np.maximum(m, 1e-9)), 0)
                                   - (y - m))) for y, m in ((data[0], mc), (data[1], ms)))
    return p, _covariance(model, p), deviance, int(inside.sum())


def _covariance(model, p) -> np.ndarray:
    """Inverse Fisher information of the Poisson model at ``p`` (finite-difference Jacobian)."""
    base = np.concatenate(model(p))
    jac = np.empty((base.size, p.size))
    for k in range(p.size):
        # centre and radii (the first four) in pixels: a step of 0.05 px spans several of the 5 × 5 samples whose
        # chords begin at the sphere's edge, where one sample's derivative is unbounded
        step = 0.05 if k < 4 or k == 7 else 1e-3 * max(abs(p[k]), 1e-3)
        shifted = p.copy()
        shifted[k] += step
        jac[:, k] = (np.concatenate(model(shifted)) - base) / step
    # a blur at its lower bound (sharp maps) has a zero derivative (the blur is even in σ): held fixed there
    free = np.arange(p.size) if p[7] > MIN_FREE_BLUR_PX else np.arange(7)
    jac = jac[:, free]
    fisher = jac.T @ (jac / np.maximum(base, 1e-9)[:, None])
    cov = np.full((p.size, p.size), np.inf)
    try:
        cov[np.ix_(free, free)] = np.linalg.inv(fisher)
    except np.linalg.LinAlgError:
        pass
    return cov
