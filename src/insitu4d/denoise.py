"""Denoising of low-dose tilt series and movies, with the strength chosen from the data.

One signature for every method: :func:`denoise` (``data``, ``method``, ``strength``). The
data are first variance-stabilised, so that the noise has unit standard deviation and a
strength means the same thing at any dose:

* ``vst="anscombe"``: detector counts z = gain·Poisson(λ) + N(offset, read_noise²), through
  the generalised Anscombe transform GAT(z) = (2/α)√(αz + 3α²/8 + σ² − αμ) (Starck, Murtagh
  & Bijaoui 1998; Mäkitalo & Foi, IEEE TIP 22, 91 (2013), doi:10.1109/TIP.2012.2202675).
  Its inverse is the exact unbiased one for σ = 0 (E[A | λ] tabulated and inverted,
  Mäkitalo & Foi, IEEE TIP 20, 99 (2011), doi:10.1109/TIP.2010.2056693), and the closed-form
  approximation of that paper with σ > 0. Science notes §6: below λ ≈ 3 counts the
  variance is not fully stabilised; the calibration still picks the best strength.
* ``vst="none"``: Gaussian noise; the data are divided by the noise SD estimated from
  the finest wavelet scale (``skimage.restoration.estimate_sigma``, Donoho & Johnstone 1994).

Methods (scikit-image unless noted; ``strength`` in units of the noise SD unless noted):
``tv`` (Chambolle 2004, doi:10.1023/B:JMIV.0000011325.36760.1e; weight), ``nlm`` (non-local
means, Buades et al. 2005, doi:10.1109/CVPR.2005.38; h), ``wavelet`` (BayesShrink, Chang
et al. 2000, doi:10.1109/83.862633; threshold σ), ``gaussian`` (SciPy; σ in pixels), and
``bm3d`` (Dabov et al. 2007, doi:10.1109/TIP.2007.901238; σ_psd) through the optional
``bm3d`` package, whose licence allows non-commercial use only (``pip install bm3d``).

The strength is chosen by :func:`calibrate` (docs/science.md §4): against a reference such as
a frame average (the paper's procedure: maximum PSNR), from two independent exposures of
the same field (Noise2Noise: ‖f(a) − b‖² = MSE + σ²), or reference-free: from raw counts by
Poisson thinning (one exposure split into two independent half-dose ones), otherwise by
J-invariance (Noise2Self, Batson & Royer, ICML 2019, arXiv:1901.11365;
``skimage.restoration.calibrate_denoiser``), which needs pixel-independent noise: with
spatially correlated noise (the paper's "g4") it under-smooths, so prefer the two-exposure
route there.
"""

from __future__ import annotations

from functools import lru_cache

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize, stats

from .choices import DENOISE_METHODS, VSTS
from .data import require_contrast, require_positive
from .errors import BackendUnavailable, InvalidParameter, NotAStack

__all__ = ["denoise", "calibrate", "denoise_calibrated", "DenoiseParameters", "is_counts", "psnr", "gat",
           "inverse_gat", "METHODS", "VSTS", "DEFAULT_STRENGTH"]

METHODS = DENOISE_METHODS

#: Starting strength of each method (noise SDs; gaussian: pixels), the centre of the calibration range.
DEFAULT_STRENGTH = {"tv": 1.0, "nlm": 0.8, "wavelet": 1.0, "gaussian": 1.5, "bm3d": 1.0}
_RANGE = (1 / 30, 30.0)  # calibration range, relative to DEFAULT_STRENGTH


def gat(z, gain: float = 1.0, read_noise: float = 0.0, offset: float = 0.0) -> np.ndarray:
    """Generalised Anscombe transform: (2/α)√(max(αz + 3α²/8 + σ² − αμ, 0)); noise SD ≈ 1 after it.

    Parameters
    ----------
    z : ndarray
        Detector values, gain × electron count + offset + read noise.
    gain : float
        α, detector units per detected electron (1 for counts).
    read_noise : float
        σ, SD of the Gaussian read noise, detector units.
    offset : float
        μ, mean of the Gaussian part, detector units.

    Returns
    -------
    ndarray of float, same shape as ``z``
    """
    a = float(gain)
    return (2.0 / a) * np.sqrt(np.maximum(a * np.asarray(z, np.float64) + 0.375 * a * a + read_noise ** 2
                                          - a * offset, 0.0))


@lru_cache(maxsize=1)
def _exact_table() -> tuple[np.ndarray, np.ndarray]:
    """E[2√(k + 3/8)] for k ~ Poisson(λ) on a λ grid: the exact unbiased inverse of the Anscombe transform
    (Mäkitalo & Foi, IEEE Trans. Image Process. 20, 99 (2011), doi:10.1109/TIP.2010.2056693)."""
    lam = np.concatenate([[0.0], np.geomspace(1e-4, 300.0, 800)])
    k = np.arange(0, 700)
    pmf = stats.poisson.pmf(k[None, :], lam[:, None])
    return lam, pmf @ (2.0 * np.sqrt(k + 0.375))


def inverse_gat(D, gain: float = 1.0, read_noise: float = 0.0, offset: float = 0.0) -> np.ndarray:
    """Unbiased inverse of :func:`gat`: the λ whose expected transform is D, back in detector units.

    σ = 0: the exact unbiased inverse (tabulated E[A | λ], interpolated; for D beyond the
    table, the closed form). σ > 0: the closed-form approximation
    I(D) = D²/4 + (1/4)√(3/2) D⁻¹ − (11/8) D⁻² + (5/8)√(3/2) D⁻³ − 1/8 − σ²/α²
    (Mäkitalo & Foi 2011, 2013). Values are returned as α·λ + μ.

    Parameters
    ----------
    D : ndarray
        Transformed (denoised) values.
    gain, read_noise, offset : float
        As :func:`gat`.

    Returns
    -------
    ndarray of float, same shape as ``D``
        Detector units.
    """
    D = np.asarray(D, np.float64)
    a = float(gain)
    if read_noise == 0.0:
        lam_tab, e_tab = _exact_table()
        lam = np.interp(D, e_tab, lam_tab, left=0.0)
        high = D > e_tab[-1]
        if np.any(high):
            lam[high] = _closed_form(D[high])
    else:
        lam = np.maximum(_closed_form(np.maximum(D, 1e-3)) - (read_noise / a) ** 2, 0.0)
    return a * lam + offset


def _closed_form(D: np.ndarray) -> np.ndarray:
    c = np.sqrt(1.5)
    return D ** 2 / 4 + 0.25 * c / D - 1.375 / D ** 2 + 0.625 * c / D ** 3 - 0.125


def _check(data) -> np.ndarray:
    data = np.asarray(data, dtype=np.float32)
    if data.ndim not in (2, 3):
        raise NotAStack(f"denoising takes an image (y, x) or a stack (frame, y, x); got shape {data.shape}.")
    if not np.all(np.isfinite(data)):
        raise InvalidParameter("the data hold NaN or infinite pixels; replace them before denoising.")
    return data


def _gaussian_filter(y, s, per_frame):
    return ndimage.gaussian_filter(y, (0, s, s) if per_frame and y.ndim == 3 else s)


def _filter(method: str, strength: float, per_frame: bool):
    """The denoiser of unit-noise data: a function of a 2D image or a 3D stack."""
    from skimage import restoration

    if method == "tv":
        return lambda y: restoration.denoise_tv_chambolle(y, weight=strength)
    if method == "nlm":
        return lambda y: restoration.denoise_nl_means(y, patch_size=5, patch_distance=6, h=strength, sigma=0.0,
                                                      fast_mode=True)
    if method == "wavelet":
        return lambda y: restoration.denoise_wavelet(y, sigma=strength, mode="soft", method="BayesShrink",
                                                     rescale_sigma=False)
    if method == "gaussian":
        return lambda y: _gaussian_filter(y, strength, per_frame)
    if method == "bm3d":
        try:
            import bm3d
        except ImportError:
            raise BackendUnavailable("method 'bm3d' needs the optional bm3d package (non-commercial licence): "
                                     "pip install 'insitu4d[bm3d]' or pip install bm3d; or use tv, nlm or "
                                     "wavelet.") from None
        return lambda y: bm3d.bm3d(y, sigma_psd=strength)
    raise InvalidParameter(f"unknown denoising method {method!r}; choose one of {', '.join(METHODS)}.")


def denoise(data, method: str = "tv", strength: float | None = None, *, vst: str = "anscombe", gain: float = 1.0,
            read_noise: float = 0.0, offset: float = 0.0, per_frame: bool = True) -> np.ndarray:
    """Denoise an image, a tilt series or a movie (module notes).

    Parameters
    ----------
    data : (ny, nx) or (n_frames, ny, nx) array_like
        Detector values.
    method : {"tv", "nlm", "wavelet", "gaussian", "bm3d"}
    strength : float, optional
        In units of the noise SD after stabilisation (gaussian: pixels); default
        :data:`DEFAULT_STRENGTH`. Choose it with :func:`calibrate`.
    vst : {"anscombe", "none"}
    gain, read_noise, offset : float
        Noise model of ``vst="anscombe"`` (:func:`gat`).
    per_frame : bool
        Denoise each frame alone (True), or the stack as one 3D image (False; ``bm3d`` is
        always per frame).

    Returns
    -------
    (ny, nx) or (n_frames, ny, nx) ndarray of float32

    Raises
    ------
    NotAStack
        Data not 2D or 3D.
    InvalidParameter
        Unknown method or vst, non-finite pixels, a strength or gain that is not positive, a negative
        read noise.
    BackendUnavailable
        ``bm3d`` without the bm3d package.
    """
    data = _check(data)
    if vst not in VSTS:
        raise InvalidParameter(f"unknown variance stabilisation {vst!r}; choose one of {', '.join(VSTS)}.")
    strength = DEFAULT_STRENGTH.get(method, 1.0) if strength is None else float(strength)
    if not strength > 0 or not gain > 0:
        raise InvalidParameter(f"strength and gain must be > 0; got {strength} and {gain}.")
    if not read_noise >= 0:
        raise InvalidParameter(f"read_noise must be a number ≥ 0 (detector units); got {read_noise}.")
    f = _filter(method, strength, per_frame)
    stack = data[None] if data.ndim == 2 else data
    if vst == "anscombe":
        y = gat(stack, gain, read_noise, offset)
        scale = None
    else:
        from skimage.restoration import estimate_sigma

        scale = float(np.median([estimate_sigma(frame) for frame in stack])) or 1.0
        y = stack / scale
    if per_frame or method == "bm3d":
        out = np.stack([f(frame) for frame in y])
    else:
        out = f(y)
    out = inverse_gat(out, gain, read_noise, offset) if scale is None else out * scale
    return out.astype(np.float32).reshape(data.shape)


@dataclass(frozen=True)
class DenoiseParameters:
    """The settings of :func:`denoise_calibrated` that a run chooses, checked once on creation.

    Attributes
    ----------
    method : {"tv", "nlm", "wavelet", "gaussian", "bm3d"}
    strength : float or None
        Noise SDs, > 0; None calibrates it on the data.
    vst : {"anscombe", "none"}

    Raises
    ------
    InvalidParameter
        An unknown method or vst, or a strength that is not a positive number.
    """

    method: str = "tv"
    strength: float | None = None
    vst: str = "anscombe"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InvalidParameter(f"unknown denoising method {self.method!r}; choose one of {', '.join(METHODS)}.")
        if self.vst not in VSTS:
            raise InvalidParameter(f"unknown variance stabilisation {self.vst!r}; choose one of {', '.join(VSTS)}.")
        object.__setattr__(self, "strength", require_positive(self.strength, "denoise strength", "noise SDs",
                                                              optional=True))


def denoise_calibrated(data, method: str = "tv", strength: float | None = None, *, reference=None,
                       second_exposure=None, **model) -> tuple[np.ndarray, dict]:
    """Denoise with a given strength, or one chosen by :func:`calibrate`, and say which.

    Parameters
    ----------
    data : (ny, nx) or (n_frames, ny, nx) array_like
    method : {"tv", "nlm", "wavelet", "gaussian", "bm3d"}
    strength : float, optional
        Noise SDs; None calibrates it (against ``reference``, from ``second_exposure``,
        else by J-invariance).
    reference, second_exposure : array_like, optional
        As :func:`calibrate`.
    **model
        ``vst``, ``gain``, ``read_noise``, ``offset``, ``per_frame`` as :func:`denoise`.

    Returns
    -------
    denoised : (ny, nx) or (n_frames, ny, nx) ndarray of float32
    record : dict
        What :func:`calibrate` returns, or ``strategy="given"`` with the strength and the
        noise model.

    Raises
    ------
    InvalidParameter, NotAStack, BackendUnavailable
        As :func:`denoise` and :func:`calibrate`; also a strength that is not a positive number.
    InvalidPixelValues
        A constant stack (no image in it).
    """
    require_contrast(data, "stack to denoise")
    if strength is not None:
        require_positive(strength, "strength", "noise SDs")
    if strength is None:
        record = calibrate(data, method, reference=reference, second_exposure=second_exposure, **model)
    else:
        record = {"method": method, "strategy": "given", "strength": float(strength), **model}
    return denoise(data, method, record["strength"], **model), record


def psnr(image, reference, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio, dB: 10 log₁₀(range² / MSE), range = the reference's peak-to-peak.

    Parameters
    ----------
    image, reference : array_like
        Same shape.
    data_range : float, optional
        The peak value range; default the reference's peak-to-peak.

    Returns
    -------
    float, dB
        +inf when the images are equal.
    """
    ref = np.asarray(reference, np.float64)
    rng = float(np.ptp(ref)) if data_range is None else float(data_range)
    mse = float(np.mean((np.asarray(image, np.float64) - ref) ** 2))
    return float(10 * np.log10(rng ** 2 / mse)) if mse > 0 else float("inf")


def _frames(data: np.ndarray, frames) -> np.ndarray:
    """Indices of the frames calibrated on: the given ones, else the 3 middle frames (about 0° tilt)."""
    if data.ndim == 2:
        return np.array([0])
    if frames is not None:
        return np.asarray(frames, int)
    mid = data.shape[0] // 2
    return np.arange(max(mid - 1, 0), min(mid + 2, data.shape[0]))


def calibrate(data, method: str = "tv", *, reference=None, second_exposure=None, frames=None,
              vst: str = "anscombe", gain: float = 1.0, read_noise: float = 0.0, offset: float = 0.0,
              per_frame: bool = True, splits: int = 4) -> dict:
    """Choose the denoising strength from the data (module notes; docs/science.md §4).

    The strategy follows from what is given:

    * ``reference`` (same shape: a frame average, or the noiseless truth for an oracle):
      minimum MSE of the denoised data against it, i.e. maximum PSNR (Ihara et al.).
    * ``second_exposure`` (an independent exposure of the same field, same shape):
      minimum ‖f(data) − second‖², which is the MSE plus the second exposure's noise
      variance, so it has the same minimiser (Noise2Noise, Lehtinen et al., ICML 2018,
      arXiv:1803.04189). Valid for noise correlated within a frame.
    * neither, and the data are detector counts (``vst="anscombe"``, no read noise, and
      (data − offset)/gain whole numbers): Poisson thinning. Each count is kept or passed
      on with probability ½, which splits one exposure into two independent Poisson
      exposures of half the dose (data thinning: Neufeld, Dharamshi, Gao & Witten, J. Mach.
      Learn. Res. 25, 1 (2024), arXiv:2301.07276; data fission: Leiner et al., J. Am. Stat.
      Assoc. (2023), doi:10.1080/01621459.2023.2270748); the
      exposure-pair loss of one half against the other, averaged over ``splits`` random
      splits, chooses the strength (in noise SDs after the VST, which carries over to the
      full dose: on the twin at 250 e⁻/nm² it lands −12 to +7 % from the oracle over two
      scenes and three split seeds, where J-invariance picks half of it).
    * otherwise: J-invariance (``skimage.restoration.calibrate_denoiser``, one grid mask of
      stride 4, loss on the masked pixels), valid for pixel-independent noise only.

    The search runs over log(strength) in [1/30, 30] × the default: a grid of 13, then
    Brent's method between the best point's neighbours (about 1 % precision).

    Parameters
    ----------
    data : (ny, nx) or (n_frames, ny, nx) array_like
    method, vst, gain, read_noise, offset, per_frame
        As :func:`denoise`.
    reference, second_exposure : array_like, optional
        Same shape as ``data``.
    frames : sequence of int, optional
        Frames to calibrate on (default: the 3 middle ones).
    splits : int
        Random splits of Poisson thinning (seeded: the choice is reproducible).

    Returns
    -------
    dict
        ``method``, ``strategy``, ``strength``, ``psnr_gain_db`` (estimated: against the
        reference; from the exposure pair as 10 log₁₀(σ² / (loss − σ²)) with σ² = ‖a − b‖²/2,
        for thinning the same at half the dose; for J-invariance from the Poisson or
        estimated noise variance), ``strengths``,
        ``losses`` (the grid), ``frames``, and the noise model.

    Raises
    ------
    InvalidParameter
        Both a reference and a second exposure, or shapes that differ.
    """
    data = _check(data)
    if reference is not None and second_exposure is not None:
        raise InvalidParameter("give a reference or a second exposure, not both.")
    target = reference if reference is not None else second_exposure
    if target is not None:
        target = _check(target)
        if target.shape != data.shape:
            raise InvalidParameter(f"the {'reference' if reference is not None else 'second exposure'} has shape "
                                   f"{target.shape}; it must match the data {data.shape}.")
    idx = _frames(data, frames)
    sub = data if data.ndim == 2 else data[idx]
    tsub = None if target is None else (target if data.ndim == 2 else target[idx])
    model = {"vst": vst, "gain": gain, "read_noise": read_noise, "offset": offset, "per_frame": per_frame}

    def run(s):
        return denoise(sub, method, s, **model)

    if tsub is not None:
        strategy = "reference" if reference is not None else "two_exposures"

        def loss(log_s):
            return float(np.mean((run(np.exp(log_s)) - tsub) ** 2))
    elif (counts := _whole_counts(sub, model)) is not None:
        strategy = "poisson_thinning"
        if int(splits) < 1:
            raise InvalidParameter(f"splits must be ≥ 1 (random splits of Poisson thinning); got {splits}.")
        rng = np.random.default_rng(0)
        halves = []
        for _ in range(int(splits)):
            kept = rng.binomial(counts, 0.5)
            halves.append(tuple((gain * part + offset).astype(np.float32) for part in (kept, counts - kept)))

        def loss(log_s):
            return float(np.mean([np.mean((denoise(a, method, np.exp(log_s), **model) - b) ** 2) for a, b in halves]))
    else:
        from skimage.restoration import calibrate_denoiser

        strategy = "j_invariance"

        def fn(image, strength):
            return denoise(image, method, strength, **model)

        def loss(log_s):  # a stack is masked as one 3D image
            return float(calibrate_denoiser(sub, fn, {"strength": [float(np.exp(log_s))]}, stride=4,
                                            approximate_loss=True, extra_output=True)[1][1][0])

    centre = np.log(DEFAULT_STRENGTH.get(method, 1.0))
    grid = centre + np.linspace(np.log(_RANGE[0]), np.log(_RANGE[1]), 13)
    losses = np.array([loss(g) for g in grid])
    k = int(np.argmin(losses))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    best = optimize.minimize_scalar(loss, bounds=(lo, hi), method="bounded", options={"xatol": 0.01})
    log_s, best_loss = (best.x, best.fun) if best.fun <= losses[k] else (grid[k], losses[k])
    strength = float(np.exp(log_s))
    pair = halves[0] if strategy == "poisson_thinning" else (sub, tsub)  # thinning: one half against the other
    gain_db = _psnr_gain(strategy, *pair, best_loss, model)
    return {"method": method, "strategy": strategy, "strength": strength, "psnr_gain_db": gain_db,
            "strengths": np.exp(grid).tolist(), "losses": losses.tolist(), "frames": idx.tolist(), **model}


def is_counts(data, *, gain: float = 1.0, offset: float = 0.0) -> bool:
    """Whether (data − offset)/gain are whole non-negative numbers (within 10⁻³): detected electron counts.

    Such data can be calibrated by Poisson thinning (:func:`calibrate`); a stack whose
    vacuum level has already been subtracted, or that carries read noise, cannot.

    Parameters
    ----------
    data : array_like
        Detector values, any shape.
    gain, offset : float
        As :func:`gat`.

    Returns
    -------
    bool

    Raises
    ------
    InvalidParameter
        A gain that is not > 0.
    """
    return _as_counts(data, gain, offset) is not None


def _as_counts(data, gain: float, offset: float) -> np.ndarray | None:
    """(data − offset)/gain as whole counts, or None when they are not whole non-negative numbers."""
    if not gain > 0:
        raise InvalidParameter(f"gain must be > 0 (detector units per electron); got {gain}.")
    counts = (np.asarray(data, np.float64) - offset) / gain
    whole = np.round(counts)
    if not counts.size or whole.min() < 0 or np.abs(counts - whole).max() > 1e-3:
        return None
    return whole.astype(np.int64)


def _whole_counts(data: np.ndarray, model: dict) -> np.ndarray | None:
    """The counts (data − offset)/gain when the data are Poisson counts (no read noise, whole numbers), else None."""
    if model["vst"] != "anscombe" or model["read_noise"] > 0:
        return None
    return _as_counts(data, model["gain"], model["offset"])


def _psnr_gain(strategy: str, sub: np.ndarray, target, best_loss: float, model: dict) -> float:
    """Estimated PSNR gain (dB) of the calibrated denoiser over the raw data (see :func:`calibrate`)."""
    if strategy == "reference":
        noisy = float(np.mean((sub - target) ** 2))
        return float(10 * np.log10(noisy / best_loss))
    if strategy in ("two_exposures", "poisson_thinning"):
        var = float(np.mean((sub - target) ** 2)) / 2
    elif model["vst"] == "anscombe":
        var = float(np.mean(model["gain"] * np.clip(sub - model["offset"], 0, None))) + model["read_noise"] ** 2
    else:
        from skimage.restoration import estimate_sigma

        var = float(np.median([estimate_sigma(f) for f in (sub[None] if sub.ndim == 2 else sub)])) ** 2
    excess = best_loss - var
    return float(10 * np.log10(var / excess)) if excess > 0 else float("inf")
