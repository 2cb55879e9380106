"""Neck-growth fit with the time origin free, against exact synthetic curves (docs/science.md §1)."""

import numpy as np
import pytest

from insitu4d.errors import InvalidParameter
from insitu4d.physics.sintering import (BOLTZMANN_EV_PER_K, arrhenius_fit, fit_neck_growth, loglog_exponent,
                                        neck_ratio_law, rank_mechanisms)

IHARA_T2_T12_S = np.array([5, 12, 17, 22, 27, 31, 36, 41, 46, 51, 61.0])


def test_hidden_time_origin_fools_the_loglog_fit_but_not_ours():
    # the pitfall of docs/science.md §1: n = 5, x/a = 0.3 at 60 s of true time, a hidden 5 s
    # offset; the log–log slope gives 6.52, the fit with t0 free gives the truth back.
    b = 0.3 ** 5 / 60
    x = neck_ratio_law(IHARA_T2_T12_S + 5.0, 5.0, b)
    assert loglog_exponent(IHARA_T2_T12_S, x) == pytest.approx(6.52, abs=0.01)
    fit = fit_neck_growth(IHARA_T2_T12_S, x, n_bootstrap=10)
    assert fit.n == pytest.approx(5.0, abs=1e-4)
    assert fit.B_per_s == pytest.approx(b, rel=1e-3)
    assert fit.t0_s == pytest.approx(-5.0, abs=1e-3)
    assert fit.n_ci[0] <= 5.0 + 1e-6 and fit.n_ci[1] >= 5.0 - 1e-6


@pytest.mark.parametrize("n", [2.0, 3.0, 7.0])
def test_other_mechanisms_are_recovered(n):
    t = np.linspace(10, 200, 15)
    x = neck_ratio_law(t + 3.0, n, 0.4 ** n / 100)
    assert fit_neck_growth(t, x, n_bootstrap=0).n == pytest.approx(n, rel=1e-3)


def test_fit_refuses_too_few_points_and_bad_ratios():
    with pytest.raises(InvalidParameter, match="at least 4"):
        fit_neck_growth([1, 2, 3], [0.1, 0.2, 0.3])
    with pytest.raises(InvalidParameter, match=r"lie in \(0, 1\]"):
        fit_neck_growth([1, 2, 3, 4], [0.0, 0.2, 0.3, 0.4])


# An in situ movie of the neck: a frame every 5 s for 5 min (60 points), n = 5 (volume
# diffusion) reaching x/a = 0.3 at 60 s of true time, the neck born 5 s before the clock
# started, 5 % relative noise on x/a. 11 Ihara-like points carry too little information for
# ±0.5 with t0 free (n spreads 1.1–9.6 over seeds at 5 % noise): the acceptance is met on
# data that hold it.
MOVIE_T_S = np.linspace(1.0, 300.0, 60)
MOVIE_B = 0.3 ** 5 / 65.0


def _noisy_movie(seed, noise=0.05):
    x = neck_ratio_law(MOVIE_T_S + 5.0, 5.0, MOVIE_B)
    return x * (1 + noise * np.random.default_rng(seed).standard_normal(x.size))


def test_fit_recovers_n_and_B_through_noise_and_a_hidden_time_origin():
    x = _noisy_movie(0)
    assert loglog_exponent(MOVIE_T_S, x) > 5.8  # the naive fit is fooled here as well
    fit = fit_neck_growth(MOVIE_T_S, x, n_bootstrap=100)
    assert abs(fit.n - 5.0) <= 0.5
    assert fit.n_ci[0] <= 5.0 <= fit.n_ci[1] and fit.B_per_s_ci[0] <= MOVIE_B <= fit.B_per_s_ci[1]
    ranking = rank_mechanisms(MOVIE_T_S, x, n_bootstrap=100)
    assert ranking.named == "volume diffusion" and ranking.mechanisms[0].name == "volume diffusion"
    assert ranking.mechanisms[0].B_per_s == pytest.approx(MOVIE_B, rel=0.10)
    # over 30 noise realisations: n within ±0.5 in ≥ 80 % (measured 90 % over 60 seeds), and the
    # rate at the ranked mechanism's n within 10 % in every one where it is named
    ns, rates = [], []
    for seed in range(1, 31):
        x = _noisy_movie(seed)
        ns.append(fit_neck_growth(MOVIE_T_S, x, n_bootstrap=0).n)
        best = rank_mechanisms(MOVIE_T_S, x, n_bootstrap=0).mechanisms[0]
        if best.name == "volume diffusion":
            rates.append(best.B_per_s / MOVIE_B)
    assert np.mean(np.abs(np.array(ns) - 5.0) <= 0.5) >= 0.8
    assert len(rates) >= 25 and np.all(np.abs(np.array(rates) - 1.0) < 0.10)


def test_no_mechanism_is_named_from_a_wide_interval():
    # the 11 Ihara time points at 5 % noise: the interval spans several mechanisms
    x = neck_ratio_law(IHARA_T2_T12_S + 5.0, 5.0, 0.3 ** 5 / 65.0)
    x = x * (1 + 0.05 * np.random.default_rng(3).standard_normal(x.size))
    ranking = rank_mechanisms(IHARA_T2_T12_S, x, n_bootstrap=100)
    assert ranking.named is None and ranking.verdict.startswith(("undetermined", "no classical"))
    assert sum(m.n_in_interval for m in ranking.mechanisms) != 1 or "holds only" in ranking.verdict
    assert sum(m.weight for m in ranking.mechanisms) == pytest.approx(1.0)


def test_error_bars_weight_the_fit():
    # a point with a huge error bar must not pull the fit; without the error bars it does
    x = neck_ratio_law(MOVIE_T_S + 5.0, 5.0, MOVIE_B)
    x[-1] *= 0.6
    sigma = np.full(x.size, 0.005)
    sigma[-1] = 10.0
    assert fit_neck_growth(MOVIE_T_S, x, sigma=sigma, n_bootstrap=0).n == pytest.approx(5.0, abs=0.01)
    assert abs(fit_neck_growth(MOVIE_T_S, x, n_bootstrap=0).n - 5.0) > 0.05
    with pytest.raises(InvalidParameter, match="error bars sigma must be finite and > 0"):
        fit_neck_growth(MOVIE_T_S, x, sigma=np.zeros(x.size))


def test_arrhenius_recovers_the_activation_energy():
    # B(T) = A/T exp(−Q/kT) with Q = 1.2 eV: exact data give Q to 1e-9; 5 % noise within 3 SD
    T_C = np.array([300.0, 350.0, 400.0, 450.0, 500.0])
    T = T_C + 273.15
    rate = 1e12 / T * np.exp(-1.2 / (BOLTZMANN_EV_PER_K * T))
    fit = arrhenius_fit(T_C, rate)
    assert fit.Q_eV == pytest.approx(1.2, rel=1e-9) and fit.Q_kJ_per_mol == pytest.approx(115.78, rel=1e-4)
    assert arrhenius_fit(T_C, rate, temperature_prefactor=False).Q_eV < 1.2  # the 1/T prefactor matters
    noisy = rate * np.exp(0.05 * np.random.default_rng(0).standard_normal(T.size))
    fit = arrhenius_fit(T_C, noisy, rate_rel_sd=np.full(T.size, 0.05))
    assert abs(fit.Q_eV - 1.2) < 3 * fit.Q_sd_eV and fit.Q_sd_eV < 0.1
    with pytest.raises(InvalidParameter, match="2 or more distinct temperatures"):
        arrhenius_fit([350.0, 350.0], [1.0, 2.0])
