"""Neck-growth fit with the time origin free, against exact synthetic curves (science.md §1.3)."""

import numpy as np
import pytest

from insitu4d.errors import InvalidParameter
from insitu4d.physics.sintering import fit_neck_growth, loglog_exponent, neck_ratio_law

IHARA_T2_T12_S = np.array([5, 12, 17, 22, 27, 31, 36, 41, 46, 51, 61.0])


def test_hidden_time_origin_fools_the_loglog_fit_but_not_ours():
    # the pitfall of science.md §1.3: n = 5, x/a = 0.3 at 60 s of true time, a hidden 5 s
    # offset; the log–log slope gives 6.52, the fit with t0 free gives the truth back.
    b = 0.3 ** 5 / 60
    x = neck_ratio_law(IHARA_T2_T12_S + 5.0, 5.0, b)
    assert loglog_exponent(IHARA_T2_T12_S, x) == pytest.approx(6.52, abs=0.01)
    fit = fit_neck_growth(IHARA_T2_T12_S, x, n_bootstrap=10)
    assert fit["n"] == pytest.approx(5.0, abs=1e-4)
    assert fit["B_per_s"] == pytest.approx(b, rel=1e-3)
    assert fit["t0_s"] == pytest.approx(-5.0, abs=1e-3)
    assert fit["n_ci"][0] <= 5.0 + 1e-6 and fit["n_ci"][1] >= 5.0 - 1e-6


@pytest.mark.parametrize("n", [2.0, 3.0, 7.0])
def test_other_mechanisms_are_recovered(n):
    t = np.linspace(10, 200, 15)
    x = neck_ratio_law(t + 3.0, n, 0.4 ** n / 100)
    assert fit_neck_growth(t, x, n_bootstrap=0)["n"] == pytest.approx(n, rel=1e-3)


def test_fit_refuses_too_few_points_and_bad_ratios():
    with pytest.raises(InvalidParameter, match="at least 4"):
        fit_neck_growth([1, 2, 3], [0.1, 0.2, 0.3])
    with pytest.raises(InvalidParameter, match=r"lie in \(0, 1\]"):
        fit_neck_growth([1, 2, 3, 4], [0.0, 0.2, 0.3, 0.4])
