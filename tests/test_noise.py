"""Noise level of a tilt series: Poisson thinning and the Poisson–Gaussian fit, against known noise."""

import numpy as np
import pytest

from insitu4d.errors import InvalidParameter
from insitu4d.noise import noise_level, noise_variance, poisson_gaussian_fit, thinned_difference


def _scene(shape=(12, 64, 64)):
    """A smooth signal of 0–40 counts: blobs on an empty field."""
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    signal = 40.0 * np.exp(-((y - 32.0) ** 2 + (x - 28.0 - z) ** 2) / 200.0)
    return signal


def test_thinned_difference_has_the_variance_of_the_counts():
    # oracle: A − B of a binomial split of n counts has mean 0 and variance n, whatever the
    # mean was; over 2 × 10⁵ pixels the sample variance is within 2 %
    rng = np.random.default_rng(0)
    counts = rng.poisson(7.0, (4, 200, 250))
    d = thinned_difference(counts, rng)
    assert abs(d.mean()) < 0.05
    assert d.var() == pytest.approx(counts.mean(), rel=0.02)


def test_thinning_estimates_the_poisson_noise_through_linear_processing():
    # oracle: E‖L n‖² of Poisson counts under scaling by 1/s and 2 × 2 binning (a mean of four) is
    # Σλ / (16 s²);
    # the thinned difference through the same steps lands within 5 %
    rng = np.random.default_rng(1)
    lam = _scene()
    counts = rng.poisson(lam)
    s = 13.0

    def process(a):
        return a.reshape(12, 32, 2, 32, 2).mean(axis=(2, 4)) / s

    level = noise_level(process(counts), difference=process(thinned_difference(counts, rng)))
    assert level.strategy == "poisson_thinning"
    assert level.sum_sq == pytest.approx(lam.sum() / (16 * s * s), rel=0.05)


def test_poisson_gaussian_fit_recovers_gain_and_read_noise():
    # oracle: detector values g·Poisson(λ) + N(0, r²) + offset have variance g²λ + r², i.e.
    # a = g (per unit of signal g·λ) and b = r²; fitted within 15 % on 1.2 × 10⁵ pixels
    rng = np.random.default_rng(2)
    lam = _scene((30, 64, 64)) + 2.0
    gain, read = 3.0, 4.0
    data = gain * rng.poisson(lam) + rng.normal(0, read, lam.shape) + 100.0
    a, b = poisson_gaussian_fit(data - 100.0)
    assert a == pytest.approx(gain, rel=0.15)
    assert b == pytest.approx(read ** 2, rel=0.15)
    level = noise_level(data - 100.0)
    assert level.strategy == "poisson_gaussian_fit"
    assert level.sum_sq == pytest.approx(np.sum(gain ** 2 * lam + read ** 2), rel=0.15)


def test_bad_input_is_refused():
    with pytest.raises(InvalidParameter, match="whole, non-negative detected counts"):
        thinned_difference(np.full((2, 4, 4), 1.5), np.random.default_rng(0))
    with pytest.raises(InvalidParameter, match="all zero"):
        noise_level(np.zeros((2, 8, 8)))
    with pytest.raises(InvalidParameter, match="thinned difference has shape"):
        noise_level(np.ones((2, 8, 8)), difference=np.ones((2, 8, 4)))
    with pytest.raises(InvalidParameter, match="at least 4 × 4 pixels"):
        poisson_gaussian_fit(np.ones((2, 3, 3)))


def test_noise_variance_per_pixel_sums_to_the_noise_level():
    # oracle: Poisson counts of known mean λ have variance λ per pixel; the thinned difference's
    # square estimates it without bias (tolerance: 3 SE of a mean over 32 768 pixels, SD of d² ≈ λ√3)
    lam = 5.0
    rng = np.random.default_rng(11)
    counts = rng.poisson(lam, (8, 64, 64)).astype(np.float32)
    d = thinned_difference(counts, rng)
    v = noise_variance(counts, difference=d)
    assert v.shape == counts.shape and float(v.mean()) == pytest.approx(lam, abs=3 * lam * np.sqrt(3 / v.size))
    assert float(v.sum(dtype=np.float64)) == pytest.approx(noise_level(counts, difference=d).sum_sq, rel=1e-5)
    # without a difference, the Poisson–Gaussian model a·μ + b, summed, is the noise level too
    assert float(noise_variance(counts).sum(dtype=np.float64)) == pytest.approx(noise_level(counts).sum_sq, rel=1e-4)
    with pytest.raises(InvalidParameter, match="the thinned difference has shape"):
        noise_variance(counts, difference=d[:1])
