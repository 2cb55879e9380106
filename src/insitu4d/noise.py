"""The noise level of a tilt series: what the reconstruction may leave unexplained.

Two estimates of E‖n‖², the expected squared norm of the noise in the (processed) tilt
series:

* **Poisson thinning**, for whole detected counts. Each count is kept with probability ½,
  which splits one exposure into two independent Poisson exposures A and B of half the
  dose (Neufeld, Dharamshi, Gao & Witten, J. Mach. Learn. Res. 25, 1 (2024),
  arXiv:2301.07276). Their difference has mean zero and, pixel by pixel, the variance of
  the whole exposure A + B; it stays so under every linear step applied to both alike
  (subtracting a vacuum level, scaling, binning, the interpolation of alignment). So
  ‖L(A − B)‖² is an unbiased estimate of E‖L n‖², the noise that the processed series L(A
  + B) carries, without any model of the detector beyond Poisson statistics.
* **Poisson–Gaussian fit**, for anything else (scaled counts, detector values with an
  offset and read noise): the noise variance is modelled as a·μ + b, μ the local signal, as
  a photon-counting detector gives it (Foi, Trimeche, Katkovnik & Egiazarian, IEEE Trans.
  Image Process. 17, 1737 (2008), doi:10.1109/TIP.2008.2001399). Each image's finest
  diagonal Haar coefficients carry the noise (orthonormal: variance σ² for white noise of
  variance σ²) and the 2 × 2 block means carry μ; over bins of μ the noise SD is the median
  absolute coefficient / 0.6745 (Donoho & Johnstone, Biometrika 81, 425 (1994),
  doi:10.1093/biomet/81.3.425), and a, b ≥ 0 are fitted to the binned variances by
  non-negative least squares. E‖n‖² = a Σμ + b N. A single noise level over the whole image
  (wavelet MAD alone) reads near zero when most pixels are vacuum.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .errors import InvalidParameter

__all__ = ["NoiseLevel", "thinned_difference", "noise_level", "noise_variance", "poisson_gaussian_fit",
           "looks_like_counts"]

#: Range of the fitted gain (variance per unit signal) of whole numbers that are taken as detected counts.
COUNT_GAIN_RANGE = (0.5, 2.0)

STRATEGIES = ("poisson_thinning", "poisson_gaussian_fit")


@dataclass(frozen=True)
class NoiseLevel:
    """Expected squared norm of the noise of a tilt series.

    Attributes
    ----------
    sum_sq : float
        E‖n‖², in the tilt series' units squared.
    relative : float
        √(sum_sq) / ‖data‖: the fraction of the data's norm that is noise.
    strategy : {"poisson_thinning", "poisson_gaussian_fit"}
    """

    sum_sq: float
    relative: float
    strategy: str

    def to_dict(self) -> dict:
        return asdict(self)


def thinned_difference(counts, rng: np.random.Generator) -> np.ndarray:
    """A − B of one Poisson thinning of whole detected counts (module notes).

    Parameters
    ----------
    counts : (n_tilts, ny, nx) array_like
        Whole, non-negative detected counts.
    rng : numpy.random.Generator

    Returns
    -------
    (n_tilts, ny, nx) ndarray of float32
        Mean zero; per pixel the variance of the counts.

    Raises
    ------
    InvalidParameter
        The values are not whole non-negative numbers.
    """
    c = np.asarray(counts, np.float64)
    whole = np.round(c)
    if not c.size or whole.min() < 0 or np.abs(c - whole).max() > 1e-3:
        raise InvalidParameter("Poisson thinning needs whole, non-negative detected counts; these data are not "
                               "(subtract nothing and scale nothing before thinning).")
    n = whole.astype(np.int64)
    kept = rng.binomial(n, 0.5)
    return (2 * kept - n).astype(np.float32)


def looks_like_counts(data) -> bool:
    """Whether a stack holds detected electron counts: whole non-negative numbers with Poisson noise.

    Whole numbers alone do not make counts (detectors write integer values with a gain, an
    offset and read noise); their noise must also grow as the signal with unit gain: the
    Poisson–Gaussian fit's variance per unit signal within :data:`COUNT_GAIN_RANGE` (the
    digital twin's counts fit 0.88–1.52 from 100 to 1000 e⁻/nm²; the NCEM lamella's
    16-bit HAADF values 7.6).

    Parameters
    ----------
    data : (n_images, ny, nx) array_like

    Returns
    -------
    bool
    """
    c = np.asarray(data, np.float64)
    if c.ndim != 3 or min(c.shape[1:]) < 4 or not c.size or c.min() < 0 or np.abs(c - np.round(c)).max() > 1e-3:
        return False
    a, _ = poisson_gaussian_fit(c)
    return COUNT_GAIN_RANGE[0] <= a <= COUNT_GAIN_RANGE[1]


def noise_level(data, *, difference=None) -> NoiseLevel:
    """E‖n‖² of a tilt series, from a thinned difference processed like the data, else by a Poisson–Gaussian fit.

    Parameters
    ----------
    data : (n_tilts, ny, nx) array_like
        The processed tilt series.
    difference : (n_tilts, ny, nx) array_like, optional
        :func:`thinned_difference` of the raw counts, taken through the same linear steps
        as ``data``.

    Returns
    -------
    NoiseLevel

    Raises
    ------
    InvalidParameter
        ``difference`` of another shape than ``data``, or data that are all zero.
    """
    data = np.asarray(data, np.float32)
    norm_sq = float(np.sum(data.astype(np.float64) ** 2))
    if not norm_sq > 0:
        raise InvalidParameter("the tilt series is all zero: there is no signal to measure the noise against.")
    sum_sq = float(np.sum(noise_variance(data, difference=difference), dtype=np.float64))
    strategy = "poisson_thinning" if difference is not None else "poisson_gaussian_fit"
    return NoiseLevel(sum_sq, float(np.sqrt(sum_sq / norm_sq)), strategy)


def noise_variance(data, *, difference=None) -> np.ndarray:
    """The noise variance of every pixel of a tilt series: E n² per pixel, whose sum is :func:`noise_level`'s.

    With a thinned difference d of the counts, d² (an unbiased one-sample estimate: E d² is
    the counts' variance, module notes); else the Poisson–Gaussian model a·μ + b
    (:func:`poisson_gaussian_fit`) at the data.

    Parameters
    ----------
    data : (n_tilts, ny, nx) array_like
        The processed tilt series.
    difference : (n_tilts, ny, nx) array_like, optional
        As in :func:`noise_level`.

    Returns
    -------
    (n_tilts, ny, nx) ndarray of float32
        In the data's units squared.

    Raises
    ------
    InvalidParameter
        ``difference`` of another shape than ``data``.
    """
    data = np.asarray(data, np.float32)
    if difference is not None:
        difference = np.asarray(difference, np.float32)
        if difference.shape != data.shape:
            raise InvalidParameter(f"the thinned difference has shape {difference.shape}; the data {data.shape}.")
        return difference ** 2
    a, b = poisson_gaussian_fit(data)
    return (a * data + b).astype(np.float32)


def poisson_gaussian_fit(data, *, bins: int = 16) -> tuple[float, float]:
    """Noise variance model a·μ + b of a stack of images (module notes).

    Parameters
    ----------
    data : (n_images, ny, nx) array_like
        At least 4 × 4 pixels per image.
    bins : int
        Bins of the local signal μ (quantiles, so each holds as many pixels).

    Returns
    -------
    a, b : float
        Variance per unit signal and variance at zero signal, both ≥ 0, in the data's units.

    Raises
    ------
    InvalidParameter
        Images smaller than 4 × 4 pixels.
    """
    import pywt
    from scipy.optimize import nnls

    data = np.asarray(data, np.float64)
    if data.ndim != 3 or min(data.shape[1:]) < 4:
        raise InvalidParameter(f"the noise fit needs a stack of images of at least 4 × 4 pixels; got {data.shape}.")
    approx, (_, _, diagonal) = pywt.dwt2(data, "haar", axes=(1, 2))
    mu, d = (approx / 2.0).ravel(), diagonal.ravel()
    edges = np.unique(np.quantile(mu, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, mu, side="right") - 1, 0, max(len(edges) - 2, 0))
    rows, var = [], []
    for k in range(max(len(edges) - 1, 1)):
        sel = which == k
        if sel.sum() < 16:
            continue
        sigma = np.median(np.abs(d[sel] - np.median(d[sel]))) / 0.6745
        rows.append([mu[sel].mean(), 1.0])
        var.append(sigma ** 2)
    if not rows:
        return 0.0, float(np.var(d))
    (a, b), _ = nnls(np.asarray(rows), np.asarray(var))
    return float(a), float(b)
