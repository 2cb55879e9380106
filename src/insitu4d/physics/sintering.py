"""Initial-stage sintering laws of two spheres: the fit with the time origin free, mechanisms, Arrhenius.

(x/a)^n = B (t − t₀), x the neck radius, a the particle radius, n the time exponent, B the
rate (which holds the size dependence B ∝ a^(−m)); the mechanism table below gives n and the
size exponent m (Kuczynski, Trans. AIME 185, 169 (1949); Kingery & Berg, J. Appl. Phys. 26,
1205 (1955), doi:10.1063/1.1721874; Coble, J. Am. Ceram. Soc. 41, 55 (1958),
doi:10.1111/j.1151-2916.1958.tb13494.x; Frenkel, J. Phys. USSR 9, 385 (1945); docs/science.md
§1). A hidden time origin biases the usual log–log slope badly (t₀ = 5 s turns n = 5 into
6.5 on the Ihara time points, docs/science.md §1), so t₀ is a fitted parameter. A neck x₀
already present at the first frame, x^n = x₀^n + B (t − t₁), is the same law with
t₀ = t₁ − x₀^n / B: the two nuisance parameters are one, so the fit reports both.

Residuals are taken in ln(x/a): neck-ratio noise is close to relative (a fixed error in nm
on a growing neck). Given error bars σ, residuals are weighted by x/σ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import least_squares

from ..errors import InvalidParameter

__all__ = ["MECHANISMS", "neck_ratio_law", "fit_neck_growth", "loglog_exponent", "rank_mechanisms",
           "arrhenius_fit", "BOLTZMANN_EV_PER_K", "NeckGrowthFit", "MechanismFit", "MechanismRanking",
           "ArrheniusFit"]

#: Boltzmann constant, eV/K (CODATA 2018, exact).
BOLTZMANN_EV_PER_K = 8.617333262e-5

#: Akaike weight the best mechanism needs before :func:`rank_mechanisms` names it.
MIN_WEIGHT_TO_NAME = 0.5

#: Two-sphere mechanisms: time exponent n and size exponent m of (x/a)^n = H t / a^m
#: (docs/science.md §1; exponents standard, prefactors vary between authors).
MECHANISMS = {
    "viscous flow": {"time_exponent": 2, "size_exponent": 1, "source": "Frenkel, J. Phys. USSR 9, 385 (1945)"},
    "evaporation-condensation": {"time_exponent": 3, "size_exponent": 2,
                                 "source": "Kingery & Berg, J. Appl. Phys. 26, 1205 (1955)"},
    "volume diffusion": {"time_exponent": 5, "size_exponent": 3, "source": "Kuczynski, Trans. AIME 185, 169 (1949)"},
    "grain-boundary diffusion": {"time_exponent": 6, "size_exponent": 4,
                                 "source": "Coble, J. Am. Ceram. Soc. 41, 55 (1958)"},
    "surface diffusion": {"time_exponent": 7, "size_exponent": 4, "source": "Kuczynski, Trans. AIME 185, 169 (1949)"},
}


class _FitRecord:
    """JSON of the frozen fit records below (tuples are written as lists)."""

    def to_dict(self) -> dict:
        """The record for JSON (``experiment.json``, ``insitu4d fit --json-out``), nested records as dicts.

        Returns
        -------
        dict
        """
        return asdict(self)


@dataclass(frozen=True)
class NeckGrowthFit(_FitRecord):
    """(x/a)^n = B (t − t₀) fitted to one neck-growth curve (:func:`fit_neck_growth`).

    Attributes
    ----------
    n : float
        Time exponent.
    B_per_s : float, 1/s
        Rate.
    t0_s : float, s
        Time origin.
    x0 : float
        The law's neck ratio at the first time: the equivalent pre-existing neck.
    rms : float
        RMS residual of x/a.
    chi2 : float
        Weighted sum of squared ln residuals.
    n_points : int
    n_ci, B_per_s_ci, t0_s_ci : (float, float)
        2.5 and 97.5 percentiles of the bootstrap (NaN without resamples).
    loglog_n : float
        The conventional log–log estimate of n, for comparison.
    """

    n: float
    B_per_s: float
    t0_s: float
    x0: float
    rms: float
    chi2: float
    n_points: int
    n_ci: tuple[float, float]
    B_per_s_ci: tuple[float, float]
    t0_s_ci: tuple[float, float]
    loglog_n: float


@dataclass(frozen=True)
class MechanismFit(_FitRecord):
    """One mechanism's law (its n fixed, B and t₀ free) fitted to a curve (:func:`rank_mechanisms`).

    Attributes
    ----------
    name : str
        A key of :data:`MECHANISMS`.
    time_exponent, size_exponent : int
        n and m of the mechanism.
    B_per_s : float, 1/s
    t0_s : float, s
    aic : float
        Akaike information criterion of the fit.
    n_in_interval : bool
        Whether its n lies in the free fit's bootstrap interval.
    weight : float
        Akaike weight among the mechanisms (they sum to 1).
    """

    name: str
    time_exponent: int
    size_exponent: int
    B_per_s: float
    t0_s: float
    aic: float
    n_in_interval: bool
    weight: float


@dataclass(frozen=True)
class MechanismRanking(_FitRecord):
    """The mechanisms ranked on one curve (:func:`rank_mechanisms`).

    Attributes
    ----------
    free_fit : NeckGrowthFit
    mechanisms : tuple of MechanismFit
        Best (lowest AIC) first.
    named : str or None
        The mechanism the data single out, or None.
    verdict : str
        One sentence saying which and why, or why none.
    """

    free_fit: NeckGrowthFit
    mechanisms: tuple[MechanismFit, ...]
    named: str | None
    verdict: str


@dataclass(frozen=True)
class ArrheniusFit(_FitRecord):
    """Activation energy from rates at several temperatures (:func:`arrhenius_fit`).

    Attributes
    ----------
    Q_eV : float, eV
    Q_kJ_per_mol : float, kJ/mol
    Q_sd_eV : float, eV
        Standard deviation of Q (residual scatter, or the given SDs).
    ln_A : float
        Intercept of ln(B T) (or ln B) against −1/(k_B T).
    n_points : int
    temperature_prefactor : bool
        Whether ln(B T) (True) or ln B was fitted.
    """

    Q_eV: float
    Q_kJ_per_mol: float
    Q_sd_eV: float
    ln_A: float
    n_points: int
    temperature_prefactor: bool


def neck_ratio_law(time_s, n: float, B_per_s: float, t0_s: float = 0.0) -> np.ndarray:
    """x/a = [B (t − t₀)]^(1/n), 0 before t₀.

    Parameters
    ----------
    time_s : float or array_like, s
    n : float
        Time exponent.
    B_per_s : float, 1/s
        Rate.
    t0_s : float, s
        Time origin.

    Returns
    -------
    ndarray of float
        x/a at each time.
    """
    return np.maximum(B_per_s * (np.asarray(time_s, dtype=np.float64) - t0_s), 0.0) ** (1.0 / n)


def loglog_exponent(time_s, neck_ratio) -> float:
    """The conventional estimate: n = 1 / slope of ln(x/a) against ln t (time origin assumed known).

    Parameters
    ----------
    time_s : (n_points,) array_like of float, s
        Times from the assumed origin; points with t ≤ 0 are left out.
    neck_ratio : (n_points,) array_like of float
        x/a; points ≤ 0 are left out.

    Returns
    -------
    float
        The time exponent n.
    """
    t, x = np.asarray(time_s, float), np.asarray(neck_ratio, float)
    ok = (t > 0) & (x > 0)
    return float(1.0 / np.polyfit(np.log(t[ok]), np.log(x[ok]), 1)[0])


#: The fit's search range of the time exponent n, of ln(B / s⁻¹), and how many time spans before the first
#: time t₀ may lie: an interval that reaches one of these is not constrained by the data.
N_SEARCH_RANGE = (0.5, 20.0)
LOG_B_SEARCH_RANGE = (-80.0, 30.0)
T0_SEARCH_SPANS = 50.0


def _fit_once(t: np.ndarray, x: np.ndarray, w: np.ndarray, fit_time_origin: bool,
              time_exponent: float | None, start: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Weighted least squares in ln x over (n, ln B, t₀) from several starts: the best and its cost.

    ``time_exponent`` fixes n; t₀ is kept below the first time. ``start`` (n, ln B, t₀)
    replaces the grid of starts by one (a bootstrap resample starts from the fit to all
    the data, the usual practice, which is 12 times cheaper).
    """
    t_first = t.min()
    span = max(t.max() - t_first, 1e-9)
    lnx = np.log(x)
    best, best_cost = None, np.inf
    starts = (2.0, 3.5, 5.0, 7.0) if time_exponent is None else (float(time_exponent),)
    leads = (0.02, 0.2, 1.0) if fit_time_origin else (None,)
    if start is not None:
        starts, leads = (float(start[0]),), (None,)
    for n0 in starts:
        for lead in leads:
            t0 = t_first - lead * span if lead is not None else 0.0
            logb = n0 * np.log(x.mean()) - np.log(max(t.mean() - t0, 1e-9))
            if start is not None:
                logb, t0 = float(start[1]), min(float(start[2]), t_first - 2e-6 * span)

            def resid(p):
                n = p[0] if time_exponent is None else time_exponent
                tt0 = p[2] if fit_time_origin else 0.0
                return w * ((p[1] + np.log(np.maximum(t - tt0, 1e-12 * span))) / n - lnx)

            def jac(p):
                n = p[0] if time_exponent is None else time_exponent
                elapsed = np.maximum(t - (p[2] if fit_time_origin else 0.0), 1e-12 * span)
                J = np.zeros((t.size, 3))
                if time_exponent is None:
                    J[:, 0] = -w * (p[1] + np.log(elapsed)) / n ** 2
                J[:, 1] = w / n
                if fit_time_origin:
                    J[:, 2] = -w / (n * elapsed)
                return J

            lo = [N_SEARCH_RANGE[0], LOG_B_SEARCH_RANGE[0],
                  t_first - T0_SEARCH_SPANS * span if fit_time_origin else -1.0]
            hi = [N_SEARCH_RANGE[1], LOG_B_SEARCH_RANGE[1], t_first - 1e-6 * span if fit_time_origin else 1.0]
            start = np.clip([n0, logb, t0], np.array(lo) + 1e-9, np.array(hi) - 1e-9)
            sol = least_squares(resid, start, jac=jac, bounds=(lo, hi))
            if sol.cost < best_cost:
                best, best_cost = sol.x.copy(), float(sol.cost)
    if time_exponent is not None:
        best[0] = time_exponent
    return best, 2 * best_cost


def _data(time_s, neck_ratio, sigma, need: int):
    t = np.asarray(time_s, dtype=np.float64)
    x = np.asarray(neck_ratio, dtype=np.float64)
    if t.shape != x.shape or t.ndim != 1 or t.size < need:
        raise InvalidParameter(f"the neck-growth fit needs at least {need} (time, r_n/r_p) points of equal number; "
                               f"got {t.size} and {x.size}.")
    if np.any(~np.isfinite(t)) or np.any(~np.isfinite(x)) or np.any(x <= 0) or np.any(x > 1):
        raise InvalidParameter("neck ratios r_n/r_p must lie in (0, 1]; drop the time points before the neck "
                               "formed.")
    if sigma is None:
        return t, x, np.ones_like(x)
    sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64), x.shape)
    if np.any(~np.isfinite(sig)) or np.any(sig <= 0):
        raise InvalidParameter("error bars sigma must be finite and > 0 (one per point, in units of r_n/r_p).")
    return t, x, x / sig


def fit_neck_growth(time_s, neck_ratio, *, sigma=None, fit_time_origin: bool = True,
                    time_exponent: float | None = None, n_bootstrap: int = 200, seed: int = 0) -> NeckGrowthFit:
    """Fit (x/a)^n = B (t − t₀) to a neck-growth curve, with a bootstrap interval (module notes).

    Parameters
    ----------
    time_s : (k,) array_like of float, s
    neck_ratio : (k,) array_like of float
        r_n / r_p at those times.
    sigma : (k,) array_like of float, optional
        Error bars of ``neck_ratio`` (e.g. the twin's ``r_n_over_r_p_err``); weights x/σ on
        the ln x residuals. Without them the noise is taken as relative and equal.
    fit_time_origin : bool
        Fit t₀ (< the first time); otherwise t₀ = 0.
    time_exponent : float, optional
        Fix n (e.g. a mechanism's) and fit B and t₀ only.
    n_bootstrap : int
        Resamples of the data points (with replacement) for the 2.5–97.5 % intervals.
    seed : int

    Returns
    -------
    NeckGrowthFit

    Raises
    ------
    InvalidParameter
        Fewer than 4 points (3 with t₀ fixed), neck ratios outside (0, 1], bad error bars.
    """
    need = (4 if fit_time_origin else 3) - (time_exponent is not None)
    t, x, w = _data(time_s, neck_ratio, sigma, need)
    p, chi2 = _fit_once(t, x, w, fit_time_origin, time_exponent)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_bootstrap):
        idx = rng.integers(0, t.size, t.size)
        if np.unique(t[idx]).size < need:
            continue
        boots.append(_fit_once(t[idx], x[idx], w[idx], fit_time_origin, time_exponent, start=p)[0])
    boots = np.array(boots).reshape(-1, 3)
    t0 = p[2] if fit_time_origin else 0.0

    def ci(values):
        lo, hi = np.percentile(values, [2.5, 97.5]) if len(values) else (float("nan"), float("nan"))
        return float(lo), float(hi)

    law = neck_ratio_law(t, p[0], np.exp(p[1]), t0)
    return NeckGrowthFit(n=float(p[0]), B_per_s=float(np.exp(p[1])), t0_s=float(t0),
                         x0=float(neck_ratio_law(t.min(), p[0], np.exp(p[1]), t0)),
                         rms=float(np.sqrt(np.mean((law - x) ** 2))), chi2=chi2, n_points=int(t.size),
                         n_ci=ci(boots[:, 0]), B_per_s_ci=ci(np.exp(boots[:, 1])),
                         t0_s_ci=ci(boots[:, 2]) if fit_time_origin else (0.0, 0.0),
                         loglog_n=loglog_exponent(t, x) if np.sum(t > 0) >= 2 else float("nan"))


def rank_mechanisms(time_s, neck_ratio, *, sigma=None, n_bootstrap: int = 200,
                    seed: int = 0) -> MechanismRanking:
    """Rank the mechanisms of :data:`MECHANISMS` on a neck-growth curve, never by n alone.

    Each mechanism's law (its n fixed, B and t₀ free) is fitted and scored by AIC
    (Akaike, IEEE Trans. Autom. Control 19, 716 (1974), doi:10.1109/TAC.1974.1100705):
    N ln(χ²/N) + 2k without error bars, χ² + 2k with them, and Akaike weights
    exp(−ΔAIC/2) normalised. The free fit gives n with its bootstrap interval. A mechanism is
    named only when it is the single mechanism whose n lies in that interval **and** it
    ranks first with an Akaike weight ≥ :data:`MIN_WEIGHT_TO_NAME`. Otherwise the verdict
    says why and names none: several mechanisms act at once and a single n is generally a
    mixture (Ashby, Acta Metall. 22, 275 (1974), doi:10.1016/0001-6160(74)90167-9;
    docs/science.md §1).

    Parameters
    ----------
    time_s : (n_points,) array_like of float, s
    neck_ratio : (n_points,) array_like of float
        x/a.
    sigma : (n_points,) array_like of float, optional
        Error bars of x/a; they weight the fits and the AIC.
    n_bootstrap : int
        Bootstrap resamples of the free fit's interval.
    seed : int
        Seed of the bootstrap (reproducible).

    Returns
    -------
    MechanismRanking

    Raises
    ------
    InvalidParameter
        As :func:`fit_neck_growth`.
    """
    free = fit_neck_growth(time_s, neck_ratio, sigma=sigma, n_bootstrap=n_bootstrap, seed=seed)
    t, x, w = _data(time_s, neck_ratio, sigma, 3)
    fits = []
    for name, mech in MECHANISMS.items():
        p, chi2 = _fit_once(t, x, w, True, float(mech["time_exponent"]))
        aic = (chi2 + 4.0) if sigma is not None else t.size * np.log(max(chi2, 1e-300) / t.size) + 4.0
        fits.append((float(aic), name, mech, p))
    fits.sort(key=lambda f: f[0])
    rel = np.exp(-0.5 * (np.array([f[0] for f in fits]) - fits[0][0]))
    rows = [MechanismFit(name=name, time_exponent=mech["time_exponent"], size_exponent=mech["size_exponent"],
                         B_per_s=float(np.exp(p[1])), t0_s=float(p[2]), aic=aic,
                         n_in_interval=bool(free.n_ci[0] <= mech["time_exponent"] <= free.n_ci[1]),
                         weight=float(weight))
            for (aic, name, mech, p), weight in zip(fits, rel / rel.sum())]
    inside = [r.name for r in rows if r.n_in_interval]
    lo, hi = free.n_ci
    named = None
    if len(inside) == 1 and inside[0] == rows[0].name and rows[0].weight >= MIN_WEIGHT_TO_NAME:
        named = inside[0]
        verdict = (f"consistent with {named}: n = {free.n:.2f} [{lo:.2f}, {hi:.2f}] holds only its n = "
                   f"{rows[0].time_exponent}, and its law fits best (Akaike weight {rows[0].weight:.2f}).")
    elif not inside:
        verdict = (f"no classical two-sphere mechanism: n = {free.n:.2f} [{lo:.2f}, {hi:.2f}] holds none of "
                   "2, 3, 5, 6, 7 (a mixture, or outside the initial stage).")
    elif len(inside) == 1:
        verdict = (f"undetermined: n = {free.n:.2f} [{lo:.2f}, {hi:.2f}] holds only {inside[0]}'s n, but with "
                   f"t0 free the laws of other mechanisms fit about as well ({rows[0].name} leads, Akaike weight "
                   f"{rows[0].weight:.2f}).")
    else:
        verdict = (f"undetermined: n = {free.n:.2f} [{lo:.2f}, {hi:.2f}] spans {', '.join(inside)}; by fit "
                   f"quality {rows[0].name} leads (Akaike weight {rows[0].weight:.2f}). More time points, a "
                   "longer time range, or the size exponent m from pairs of other sizes would decide.")
    return MechanismRanking(free_fit=free, mechanisms=tuple(rows), named=named, verdict=verdict)


def arrhenius_fit(temperature_C, rate, rate_rel_sd=None, *, temperature_prefactor: bool = True) -> ArrheniusFit:
    """Activation energy Q from rates at several temperatures: ln(B T) = ln A − Q / (k_B T).

    For diffusion mechanisms B(T) = C D γΩ/(k_B T) with D = D₀ exp(−Q/k_B T), so ln(B T) is
    linear in 1/T (docs/science.md §1; Rahaman, *Ceramic Processing and Sintering*,
    2nd ed., 2003, ch. 8). ``temperature_prefactor=False`` fits ln B instead.

    Parameters
    ----------
    temperature_C : (k,) array_like, °C
        Isothermal segment temperatures (≥ 2 distinct).
    rate : (k,) array_like
        Rate constants B (any unit, the same for all).
    rate_rel_sd : (k,) array_like, optional
        Relative standard deviation of each rate (the SD of ln B): weights 1/sd².

    Returns
    -------
    ArrheniusFit

    Raises
    ------
    InvalidParameter
        Fewer than 2 distinct temperatures, non-positive rates, temperatures below 0 K.
    """
    T = np.asarray(temperature_C, dtype=np.float64) + 273.15
    k = np.asarray(rate, dtype=np.float64)
    if T.shape != k.shape or T.ndim != 1 or np.unique(T).size < 2:
        raise InvalidParameter("the Arrhenius fit needs rates at 2 or more distinct temperatures, one rate each.")
    if np.any(T <= 0) or np.any(~np.isfinite(k)) or np.any(k <= 0):
        raise InvalidParameter("temperatures must be above 0 K and rates finite and > 0.")
    y = np.log(k * T) if temperature_prefactor else np.log(k)
    X = np.column_stack([np.ones_like(T), -1.0 / (BOLTZMANN_EV_PER_K * T)])
    wts = np.ones_like(T) if rate_rel_sd is None else 1.0 / np.asarray(rate_rel_sd, float) ** 2
    Xw = X * np.sqrt(wts)[:, None]
    beta, *_ = np.linalg.lstsq(Xw, y * np.sqrt(wts), rcond=None)
    cov = np.linalg.inv(Xw.T @ Xw)
    dof = T.size - 2
    if rate_rel_sd is None:
        resid = y - X @ beta
        cov = cov * (resid @ resid / dof if dof > 0 else np.nan)
    q = float(beta[1])
    return ArrheniusFit(Q_eV=q, Q_kJ_per_mol=q * 96.48533212, Q_sd_eV=float(np.sqrt(cov[1, 1])),
                        ln_A=float(beta[0]), n_points=int(T.size), temperature_prefactor=temperature_prefactor)
