"""Geometry of two sintering spheres: neck radius ``r_n`` against centre distance ``d``.

Closed forms from ``docs/science.md`` §2 (derived there; verified to 1e-8 numerically):

* **model C** (Ihara et al., Nanoscale 15, 10934 (2023), doi:10.1039/d3nr00992k, Fig. 9b):
  two spheres of radius ``r_p`` whose overlap lens is recast as a cylindrical collar of
  radius ``r_n`` around the neck, total volume conserved. Each half-body (split at the
  neck plane) keeps exactly one sphere's volume; its small-neck limit is Coble's
  densifying geometry, centre approach ``r_n² / (4 r_p)`` per sphere (Coble, J. Appl.
  Phys. 32, 787 (1961), doi:10.1063/1.1736107).
* **truncated spheres** with volume conservation (no collar; Coble / German, *Sintering
  Theory and Practice*, Wiley 1996): the radius grows as the spheres are cut at the
  contact plane.

Lengths in any one unit (nm or voxels); the functions are scale-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameter

__all__ = ["model_c_distance", "model_c_neck_radius", "model_c_distance_unequal", "model_c_com_distance",
           "ModelCHalves", "model_c_halves", "two_sphere_halves",
           "truncated_sphere", "neck_distance_curve", "GEOMETRY_MODELS", "DISTANCE_FLAVOURS"]


def _ratio(r_n, r_p) -> np.ndarray:
    rho = np.asarray(r_n, dtype=np.float64) / np.asarray(r_p, dtype=np.float64)
    if np.any(rho < 0) or np.any(rho > 1):
        raise InvalidParameter("model C needs 0 ≤ r_n ≤ r_p (a neck no wider than the sphere); got "
                               f"r_n/r_p = {rho}.")
    return rho


def model_c_distance(r_n, r_p):
    """Sphere-centre distance of model C for neck radius ``r_n`` between spheres of radius ``r_p``.

    d / (2 r_p) = 2(1 + s + s²) / (3(1 + s)), s = √(1 − (r_n/r_p)²)  (docs/science.md §2;
    the form regular at r_n → 0). Exact points: r_n/r_p = 0.6 → 122/135, 0.8 → 49/60,
    √3/2 → 7/9, 1 → 2/3.

    Parameters
    ----------
    r_n, r_p : float or array_like, same length unit

    Returns
    -------
    d : float or ndarray, the unit of ``r_p``

    Raises
    ------
    InvalidParameter
        r_n < 0 or r_n > r_p.
    """
    s = np.sqrt(1.0 - _ratio(r_n, r_p) ** 2)
    return 2.0 * np.asarray(r_p, dtype=np.float64) * 2.0 * (1 + s + s * s) / (3.0 * (1 + s))


def model_c_neck_radius(d, r_p):
    """Inverse of :func:`model_c_distance`: the neck radius for a centre distance ``d``.

    k = 3 d/(2 r_p) − 2, s = [k + √(k² + 8k)]/4, r_n = r_p √(1 − s²) (docs/science.md §2).

    Parameters
    ----------
    d : float or array_like
        Centre distance (any length unit).
    r_p : float
        Sphere radius (same unit).

    Returns
    -------
    float or ndarray
        Neck radius, in the unit of ``r_p``.

    Raises
    ------
    InvalidParameter
        d outside [4 r_p / 3, 2 r_p], the range model C covers.
    """
    r_p = np.asarray(r_p, dtype=np.float64)
    k = 3.0 * np.asarray(d, dtype=np.float64) / (2.0 * r_p) - 2.0
    if np.any(k < -1e-12) or np.any(k > 1 + 1e-12):
        raise InvalidParameter(f"model C covers 4 r_p/3 ≤ d ≤ 2 r_p; got d/(2 r_p) = {(k + 2) / 3}.")
    k = np.clip(k, 0.0, 1.0)
    s = (k + np.sqrt(k * k + 8.0 * k)) / 4.0
    return r_p * np.sqrt(np.clip(1.0 - s * s, 0.0, None))


def model_c_distance_unequal(r_n, r_1, r_2):
    """Model C for unequal spheres: d = (2 / (3 r_n²)) Σ_i [R_i³ − (R_i² − r_n²)^{3/2}].

    Small-neck limit d ≈ R₁ + R₂ − (r_n²/4)(1/R₁ + 1/R₂) (docs/science.md §2), used below
    r_n = 1e-4 min(R_i) where the closed form loses precision.

    Parameters
    ----------
    r_n : float or array_like
        Neck radius (any length unit).
    r_1, r_2 : float
        Sphere radii (same unit).

    Returns
    -------
    float or ndarray
        Centre distance, in that unit.

    Raises
    ------
    InvalidParameter
        r_n < 0 or r_n > min(r_1, r_2).
    """
    r_n = np.asarray(r_n, dtype=np.float64)
    radii = [np.asarray(r, dtype=np.float64) for r in (r_1, r_2)]
    _ratio(r_n, np.minimum(*radii))
    small = r_n < 1e-4 * np.minimum(*radii)
    safe = np.where(small, 1.0, r_n)
    exact = 2.0 / (3.0 * safe ** 2) * sum(r ** 3 - (r ** 2 - safe ** 2) ** 1.5 for r in radii)
    approx = radii[0] + radii[1] - r_n ** 2 / 4.0 * (1 / radii[0] + 1 / radii[1])
    return np.where(small, approx, exact)


def model_c_com_distance(r_n, r_p):
    """Distance between the centres of mass of model C's two half-bodies.

    With R = 1, d = 2δ, s = √(1 − ρ²): x̄ = (3/4)[δ²ρ²/2 + 2δ/3 + 2δs³/3 + ρ²/2 − ρ⁴/4],
    d_COM = 2 r_p x̄ (docs/science.md §2; 11/16 × 2 r_p at r_n = r_p). A centroid-based
    measurement of a model-C pair returns this, not :func:`model_c_distance`.

    Parameters
    ----------
    r_n : float or array_like
        Neck radius (any length unit).
    r_p : float
        Sphere radius (same unit).

    Returns
    -------
    float or ndarray
        Distance between the halves' centres of mass, in that unit.

    Raises
    ------
    InvalidParameter
        r_n < 0 or r_n > r_p.
    """
    rho = _ratio(r_n, r_p)
    delta = model_c_distance(r_n, r_p) / (2.0 * np.asarray(r_p, dtype=np.float64))
    s = np.sqrt(1.0 - rho ** 2)
    xbar = 0.75 * (delta ** 2 * rho ** 2 / 2 + 2 * delta / 3 + 2 * delta * s ** 3 / 3 + rho ** 2 / 2 - rho ** 4 / 4)
    return 2.0 * np.asarray(r_p, dtype=np.float64) * xbar


@dataclass(frozen=True)
class ModelCHalves:
    """The two half-bodies of a model-C pair of unequal spheres (:func:`model_c_halves`).

    Attributes
    ----------
    d : float
        Sphere-centre distance.
    split : float
        Position of the neck plane along the pair axis, measured from the midpoint of the
        two sphere centres towards sphere 2: the plane that gives each half its sphere's
        volume (0 for equal spheres).
    d_com : float
        Distance between the centres of mass of the two halves.
    """

    d: float
    split: float
    d_com: float


def model_c_halves(r_n: float, r_1: float, r_2: float) -> ModelCHalves:
    """Neck plane and centre-of-mass distance of a model-C pair of unequal spheres.

    The body is a solid of revolution about the pair axis: the union of the spheres
    (radii ``r_1``, ``r_2``, centres at ∓d/2, d from :func:`model_c_distance_unequal`) and
    the collar of radius ``r_n`` between the centres, so its cross-section is
    A(t) = π max(ρ₁(t)², ρ₂(t)², r_n² [|t| ≤ d/2]). The neck plane t = p solves
    ∫_{−∞}^{p} A dt = 4π r_1³/3 (each half keeps its sphere's volume, the property of model
    C that makes the equal-volume radius of a half exact; see
    ``docs/science.md`` §2), and each half's centre of mass is ∫ t A dt / ∫ A dt over its
    side (:func:`two_sphere_halves` with model C's distance). Integrated numerically
    (``scipy.integrate.quad``, relative error ≪ 1e-6); equal spheres give p = 0 and
    :func:`model_c_com_distance`.

    Parameters
    ----------
    r_n, r_1, r_2 : float, one length unit
        Neck radius (0 < r_n ≤ min(r_1, r_2)) and the two sphere radii.

    Returns
    -------
    ModelCHalves
        Lengths in the unit of the input.

    Raises
    ------
    InvalidParameter
        r_n ≤ 0, r_n > min(r_1, r_2), or a radius ≤ 0.
    """
    r_n, r_1, r_2 = float(r_n), float(r_1), float(r_2)
    if not (r_1 > 0 and r_2 > 0 and 0 < r_n <= min(r_1, r_2)):
        raise InvalidParameter(f"model C needs radii > 0 and 0 < r_n ≤ min(r_1, r_2); got r_n={r_n}, "
                               f"r_1={r_1}, r_2={r_2}.")
    return two_sphere_halves(r_n, r_1, r_2, float(model_c_distance_unequal(r_n, r_1, r_2)))


def two_sphere_halves(r_n: float, r_1: float, r_2: float, d: float) -> ModelCHalves:
    """The two halves of two spheres joined by a collar, at any centre distance ``d``.

    The body of :func:`model_c_halves` with its centre distance free (a fitted model,
    :class:`~insitu4d.shape_fit.TwoSphereFit`): spheres of radii ``r_1``, ``r_2`` at ∓d/2 on
    the axis and the collar of radius ``r_n`` between them. The neck plane gives each half
    its sphere's share of the body's volume, r_1³ / (r_1³ + r_2³) (model C's rule where the
    body's volume is the spheres', as in model C itself), and each half's centre of mass is
    ∫ t A dt / ∫ A dt over its side. Model C: Ihara et al., Nanoscale 15, 10133 (2023),
    doi:10.1039/d3nr00992k.

    Parameters
    ----------
    r_n : float, one length unit
        Collar radius (0 for none).
    r_1, r_2 : float
        Sphere radii.
    d : float
        Centre distance, larger than ``|r_1 − r_2|`` (neither sphere inside the other).

    Returns
    -------
    ModelCHalves
        Lengths in the unit of the input.

    Raises
    ------
    InvalidParameter
        A radius ≤ 0, r_n < 0, or d ≤ |r_1 − r_2|.
    """
    from scipy.integrate import quad
    from scipy.optimize import brentq

    r_n, r_1, r_2, d = float(r_n), float(r_1), float(r_2), float(d)
    if not (r_1 > 0 and r_2 > 0 and r_n >= 0 and d > abs(r_1 - r_2)):
        raise InvalidParameter(f"two spheres joined by a collar need radii > 0, a collar ≥ 0 and a centre distance "
                               f"above |r_1 − r_2| (neither inside the other); got r_n={r_n}, r_1={r_1}, r_2={r_2}, "
                               f"d={d}.")
    lo, hi = -d / 2 - r_1, d / 2 + r_2
    breaks = sorted({-d / 2, d / 2, lo, hi})

    def area(t):
        a = max(r_1 ** 2 - (t + d / 2) ** 2, r_2 ** 2 - (t - d / 2) ** 2, 0.0)
        return np.pi * max(a, r_n ** 2 if abs(t) <= d / 2 else 0.0)

    def integral(f, a, b):
        pts = [x for x in breaks if a < x < b]
        return quad(f, a, b, points=pts or None, limit=200, epsabs=0.0, epsrel=1e-10)[0]

    share = integral(area, lo, hi) * r_1 ** 3 / (r_1 ** 3 + r_2 ** 3)
    split = brentq(lambda p: integral(area, lo, p) - share, lo, hi, xtol=1e-12 * max(r_1, r_2))
    c_1 = integral(lambda t: t * area(t), lo, split) / integral(area, lo, split)
    c_2 = integral(lambda t: t * area(t), split, hi) / integral(area, split, hi)
    return ModelCHalves(d=d, split=float(split), d_com=float(c_2 - c_1))


def truncated_sphere(x, a_0):
    """Truncated-sphere sintering with volume conservation: (d, a) for neck radius ``x``.

    Two spheres of initial radius a₀ grow to radius a while cut at their contact plane;
    with c = cos θ (θ the half-angle of the neck circle at the centre):
    a/a₀ = [4 / (2 + 3c − c³)]^{1/3}, x = a sin θ, d/2 = a cos θ (docs/science.md §2; German,
    *Sintering Theory and Practice*, Wiley 1996). Solved for θ by bisection (x/a₀ grows
    monotonically with θ up to 2^{1/3} at θ = 90°).

    Parameters
    ----------
    x : float or array_like
        Neck radius (any length unit).
    a_0 : float
        Initial sphere radius (same unit).

    Returns
    -------
    d : ndarray
        Centre distance.
    a : ndarray
        Grown sphere radius.

    Raises
    ------
    InvalidParameter
        x < 0 or x > 2^{1/3} a₀.
    """
    ratio = np.asarray(x, dtype=np.float64) / np.asarray(a_0, dtype=np.float64)
    if np.any(ratio < 0) or np.any(ratio > 2 ** (1 / 3) + 1e-12):
        raise InvalidParameter(f"the truncated-sphere model covers 0 ≤ x ≤ 2^(1/3) a₀; got x/a₀ = {ratio}.")

    def neck(theta):
        c = np.cos(theta)
        return (4.0 / (2 + 3 * c - c ** 3)) ** (1 / 3) * np.sin(theta)

    lo, hi = np.zeros_like(ratio), np.full_like(ratio, np.pi / 2)
    for _ in range(60):
        mid = (lo + hi) / 2
        below = neck(mid) < ratio
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    theta = (lo + hi) / 2
    c = np.cos(theta)
    a = np.asarray(a_0, dtype=np.float64) * (4.0 / (2 + 3 * c - c ** 3)) ** (1 / 3)
    return 2.0 * a * c, a


#: Geometric models of a sintering pair (docs/science.md §2) and the estimators a curve can be drawn for.
GEOMETRY_MODELS = ("model_c", "truncated_sphere", "interpenetration")
DISTANCE_FLAVOURS = ("centres", "com", "protocol_2d")


def _half_profile(model: str, neck_ratio: float):
    """(ρ(x) for x ≥ 0 of one half-body, its sphere-centre position c, and the end of the collar), r_p = 1."""
    if model == "model_c":
        c = float(model_c_distance(neck_ratio, 1.0)) / 2
        radius, collar = 1.0, neck_ratio
    elif model == "truncated_sphere":
        d, a = truncated_sphere(neck_ratio, 1.0)
        c, radius, collar = float(d) / 2, float(a), 0.0
    elif model == "interpenetration":
        if not 0 <= neck_ratio <= 1:
            raise InvalidParameter(f"interpenetration needs 0 ≤ r_n/r_p ≤ 1; got {neck_ratio}.")
        c, radius, collar = float(np.sqrt(1 - neck_ratio ** 2)), 1.0, 0.0
    else:
        raise InvalidParameter(f"unknown geometry model {model!r}; choose one of {', '.join(GEOMETRY_MODELS)}.")

    def rho(x):
        circle = np.sqrt(np.maximum(radius ** 2 - (x - c) ** 2, 0.0))
        return np.maximum(circle, collar) if x <= c else circle

    return rho, c, c + radius


def neck_distance_curve(model: str, flavour: str, neck_ratio):
    """A geometric model's (d/2r_p, r_n/r_p) as a given estimator would measure it.

    The half-bodies are solids of revolution about the pair axis with profile ρ(x) (neck
    plane x = 0), integrated numerically:

    * ``centres``: the sphere-centre distance (the EDT-maximum estimator);
    * ``com``: the distance between the 3D centres of mass of the halves,
      x̄ = ∫x ρ² dx / ∫ρ² dx (the centroid estimator; model C: :func:`model_c_com_distance`);
    * ``protocol_2d``: Ihara et al.'s protocol on a projection along z with the pair axis in
      plane (Nanoscale 15, 10133 (2023), doi:10.1039/d3nr00992k; docs/science.md §3): silhouette
      centroids x̄ = ∫x ρ dx / ∫ρ dx, r_p from the equal-area circle r_eq = √(2∫ρ dx / π),
      r_n = ρ(0); both ratios taken over r_eq, as the protocol reports them.

    Parameters
    ----------
    model : {"model_c", "truncated_sphere", "interpenetration"}
        Neck parameter r_n/r_p (truncated spheres: x/a₀).
    flavour : {"centres", "com", "protocol_2d"}
    neck_ratio : float or array_like

    Returns
    -------
    d_over_2r_p, r_n_over_r_p : ndarray

    Raises
    ------
    InvalidParameter
        Unknown model or flavour, or a neck ratio outside the model's range.
    """
    from scipy.integrate import quad

    if flavour not in DISTANCE_FLAVOURS:
        raise InvalidParameter(f"unknown flavour {flavour!r}; choose one of {', '.join(DISTANCE_FLAVOURS)}.")
    ratios = np.atleast_1d(np.asarray(neck_ratio, dtype=np.float64))
    d_out, n_out = np.empty_like(ratios), np.empty_like(ratios)
    for i, r in enumerate(ratios):
        rho, c, end = _half_profile(model, float(r))
        if flavour == "centres":
            d_out[i], n_out[i] = c, r
            continue
        power = 2 if flavour == "com" else 1
        breaks = [c] if 0 < c < end else None
        area = quad(lambda x, f=rho, k=power: f(x) ** k, 0, end, points=breaks, limit=200)[0]
        moment = quad(lambda x, f=rho, k=power: x * f(x) ** k, 0, end, points=breaks, limit=200)[0]
        if flavour == "com":
            d_out[i], n_out[i] = moment / area, r
        else:
            r_eq = np.sqrt(2 * area / np.pi)
            d_out[i], n_out[i] = moment / area / r_eq, rho(0.0) / r_eq
    return d_out, n_out
