"""Segmentation of particles in 2D frames: bright-field TEM (dark particles) and HAADF-STEM (bright ones).

The steps, each with its scale or choice taken from the frame:

1. **Smoothing.** A Gaussian of ``σ`` pixels. The noise of an in situ frame is shot noise
   and, in bright field, the speckle of the amorphous support; both are finer than the
   particles. ``σ`` is the larger of two scales on a ladder (1 … 12 px): the smallest at
   which Otsu's separability ``η = σ²_between / σ²_total`` of the smoothed frame reaches
   95 % of its largest value on the ladder (more smoothing no longer separates the two
   phases better, it only blurs their edges; Otsu, IEEE Trans. SMC 9, 62 (1979),
   doi:10.1109/TSMC.1979.4310076, defines ``η``), and the smallest at which the two phases'
   means differ by 8 times the noise left after smoothing (noise alone then misplaces a
   pixel with odds of about 3e-5). The pixel noise is the median absolute difference of
   neighbouring pixels; a Gaussian of σ divides white noise by ``2√π σ``. When no scale
   reaches 8 (few counts on a crowded frame, whose particles smoothing blurs together), the
   scale where the phases differ most is taken.
2. **Illumination** (first, before step 1). A second-order polynomial trend is subtracted
   (an uneven beam or a thickness gradient of the support): fitted to the frame smoothed by
   2 px over every pixel, then three times over the support phase of an Otsu split of the
   frame flattened so far, so that a strong gradient cannot pose as the two phases.
3. **Contrast.** ``dark`` (bright field), ``bright`` (HAADF), or ``auto``: the particles are
   the phase that forms more separate objects (the support is one connected phase around
   them, also in a crowded monolayer), ties going to the phase of smaller area.
4. **A real split.** The phases' means must differ by at least ``MIN_CONTRAST_SNR`` = 4
   times the noise left after smoothing (an Otsu split of pure noise gives about 1.6); the
   pixel noise is the median absolute difference of neighbouring pixels. A frame of noise
   alone is refused rather than cut into blobs. (Noise correlated over pixels, such as the
   speckle of a carbon support, is underestimated this way, so the check is lenient there.)
5. **Clean-up.** Holes filled; objects smaller than a disc of radius ``2σ`` removed (what
   smoothing at ``σ`` cannot resolve is noise).
6. **Touching particles** are split by a watershed of the distance transform from its
   h-maxima (``h = split_h`` × the component's largest inscribed radius), which places the
   boundary at the neck.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

from .choices import CONTRASTS
from .distance import distance_to_background
from .errors import InvalidParameter

__all__ = ["FrameSegmentation", "segment_frame", "smoothing_scale", "CONTRASTS", "SIGMA_LADDER_PX"]

#: smoothing scales tried by :func:`smoothing_scale`, pixels
SIGMA_LADDER_PX = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0)
#: share of the best separability at which the smoothing stops growing
SEPARABILITY_SHARE = 0.95
#: least difference of the phases' means, in units of the smoothed noise (an Otsu split of pure
#: Gaussian noise gives about 1.6)
MIN_CONTRAST_SNR = 4.0
#: phase contrast over smoothed noise that the automatic smoothing aims for: a pixel is then put in the wrong
#: phase by noise alone (an excursion of half the contrast, 4 standard deviations) with odds of about 3e-5
TARGET_CONTRAST_SNR = 8.0


@dataclass(frozen=True)
class FrameSegmentation:
    """Particles of one frame.

    Attributes
    ----------
    labels : (ny, nx) ndarray of int32
        0 support, 1..n particles.
    contrast : str
        ``dark`` or ``bright``, as used.
    sigma_px : float, pixels
        Smoothing scale used.
    threshold : float
        Grey level of the split, on the smoothed, flattened frame.
    flattened : (ny, nx) ndarray of float64
        The frame with its illumination trend removed (not smoothed), for measurements that
        place edges themselves (:mod:`insitu4d.measure.frame_necks`).
    """

    labels: np.ndarray
    contrast: str
    sigma_px: float
    threshold: float
    flattened: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """(ny, nx) bool: where particles are."""
        return self.labels > 0


def _split_stats(smooth: np.ndarray, pixel_noise: float, sigma: float) -> tuple[float, float]:
    """Otsu's separability η of a smoothed frame, and its phases' mean difference over the smoothed noise."""
    t = threshold_otsu(smooth)
    low = smooth <= t
    w = low.mean()
    if w in (0.0, 1.0):
        return 0.0, 0.0
    diff = float(smooth[~low].mean() - smooth[low].mean())
    eta = w * (1 - w) * diff ** 2 / float(smooth.var())
    return float(eta), diff / _smoothed_noise(pixel_noise, sigma)


def _pixel_noise(image: np.ndarray) -> float:
    """Noise of one pixel: the median absolute deviation of horizontal neighbour differences, over √2."""
    diff = np.diff(image, axis=1)
    return max(1.4826 * float(np.median(np.abs(diff - np.median(diff)))) / np.sqrt(2), 1e-12 * float(np.ptp(image)))


def _smoothed_noise(pixel_noise: float, sigma: float) -> float:
    """White noise after a Gaussian of σ pixels: pixel noise / (2√π σ)."""
    return pixel_noise / (2 * np.sqrt(np.pi) * sigma)


def smoothing_scale(image) -> float:
    """The Gaussian scale at which a frame's two phases separate (step 1 of the module notes).

    The larger of two scales on ``SIGMA_LADDER_PX``: the smallest at which Otsu's
    separability reaches ``SEPARABILITY_SHARE`` of its best on the ladder, and the smallest at
    which the phases' means differ by ``TARGET_CONTRAST_SNR`` times the smoothed noise (or,
    when none does, the one where they differ most: smoothing a crowded frame also blurs the
    particles into each other).

    Parameters
    ----------
    image : (ny, nx) array

    Returns
    -------
    float, pixels
        One of ``SIGMA_LADDER_PX``.

    Raises
    ------
    InvalidParameter
        A frame that is not 2D, has non-finite pixels or is flat.
    """
    image = _frame(image)
    ladder = [s for s in SIGMA_LADDER_PX if 6 * s < min(image.shape)] or [SIGMA_LADDER_PX[0]]
    noise = _pixel_noise(image)
    stats = np.array([_split_stats(ndimage.gaussian_filter(image, s), noise, s) for s in ladder])
    by_separability = int(np.argmax(stats[:, 0] >= SEPARABILITY_SHARE * stats[:, 0].max()))
    enough = np.flatnonzero(stats[:, 1] >= TARGET_CONTRAST_SNR)
    by_noise = int(enough[0]) if enough.size else int(np.argmax(stats[:, 1]))
    return float(ladder[max(by_separability, by_noise)])


def _frame(image) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        raise InvalidParameter(f"the frame has shape {image.shape}: colour channels; convert it to one grey "
                               "channel first.")
    if image.ndim != 2:
        raise InvalidParameter(f"a frame must be 2D (y, x); got shape {image.shape}.")
    if not np.all(np.isfinite(image)):
        raise InvalidParameter("the frame holds NaN or infinite pixels.")
    if np.ptp(image) == 0:
        raise InvalidParameter("the frame is flat (one grey level): there is nothing to segment.")
    return image


def _flatten(smooth: np.ndarray, support: np.ndarray) -> np.ndarray:
    """``smooth`` minus a second-order polynomial fitted (least squares) to it over the support."""
    ny, nx = smooth.shape
    y, x = np.mgrid[0:ny, 0:nx]
    y = (y - ny / 2) / ny
    x = (x - nx / 2) / nx
    basis = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)
    step = max(1, int(np.sqrt(support.sum() / 20000)))  # a subsample is plenty for 6 coefficients
    rows = support[::step, ::step]
    coef, *_ = np.linalg.lstsq(basis[::step, ::step][rows], smooth[::step, ::step][rows], rcond=None)
    return smooth - basis @ coef + coef[0]


def _objects(mask: np.ndarray, min_area: float) -> int:
    labels, n = ndimage.label(mask)
    if n == 0:
        return 0
    return int(np.sum(np.bincount(labels.ravel())[1:] >= min_area))


def _phase(smooth: np.ndarray, contrast: str, min_area: float) -> tuple[np.ndarray, str]:
    """The particle phase of an Otsu split, and the contrast (decided by step 3 of the module notes when auto)."""
    t = threshold_otsu(smooth)
    low, high = smooth <= t, smooth > t
    if contrast == "auto":
        n_low, n_high = _objects(low, min_area), _objects(high, min_area)
        contrast = "dark" if (n_low, -low.mean()) > (n_high, -high.mean()) else "bright"
    return (low if contrast == "dark" else high), contrast


def _even_illumination(image: np.ndarray, contrast: str, rounds: int = 3) -> tuple[np.ndarray, str]:
    """The frame with its illumination trend removed, and the contrast.

    The trend is a second-order polynomial fitted to a lightly smoothed frame (2 px): first over
    every pixel, then, ``rounds`` times, over the support phase of an Otsu split of the frame
    flattened so far (so a strong gradient cannot pose as the two phases).
    """
    smooth = ndimage.gaussian_filter(image, 2.0)
    support = np.ones(image.shape, bool)
    for _ in range(rounds):
        trend = smooth - _flatten(smooth, support)
        # objects smaller than a disc of radius 2σ, σ = 2 px, do not count (as in step 5)
        particles, contrast = _phase(smooth - trend, contrast, np.pi * (2 * 2.0) ** 2)
        if (~particles).sum() < 100:
            break
        support = ~particles
    return image - (smooth - _flatten(smooth, support)), contrast


def segment_frame(image, *, contrast: str = "auto", sigma_px: float | str = "auto", flatten: bool = True,
                  split_h: float = 0.3) -> FrameSegmentation:
    """Segment the particles of one frame (see the module notes for each step and its rule).

    Parameters
    ----------
    image : (ny, nx) array
        A bright-field TEM or HAADF-STEM frame, any grey scale.
    contrast : {"auto", "dark", "bright"}
        Particles darker (bright field) or brighter (HAADF) than the support.
    sigma_px : float or "auto", pixels
        Smoothing scale; ``auto`` chooses it by the separability rule.
    flatten : bool
        Remove the illumination's second-order trend, fitted over the support.
    split_h : float
        Relative depth of the distance-transform saddle that splits touching particles, in
        (0, 1); 0 leaves touching particles joined.

    Returns
    -------
    FrameSegmentation

    Raises
    ------
    InvalidParameter
        A frame that is not 2D grey, has non-finite pixels or is flat; an unknown contrast; a
        non-positive ``sigma_px``; ``split_h`` outside [0, 1); a frame in which nothing
        separates from the support.
    """
    image = _frame(image)
    if contrast not in CONTRASTS:
        raise InvalidParameter(f"contrast must be one of {CONTRASTS}; got {contrast!r}.")
    if not 0 <= split_h < 1:
        raise InvalidParameter(f"split_h must be in [0, 1); got {split_h}.")
    if flatten:
        image, contrast = _even_illumination(image, contrast)
    sigma = smoothing_scale(image) if sigma_px == "auto" else float(sigma_px)
    if not sigma > 0:
        raise InvalidParameter(f"sigma_px must be > 0 or 'auto'; got {sigma_px!r}.")
    smooth = ndimage.gaussian_filter(image, sigma)
    min_area = np.pi * (2 * sigma) ** 2
    particles, contrast = _phase(smooth, contrast, min_area)
    _require_contrast(image, smooth, particles, sigma)
    particles = ndimage.binary_fill_holes(particles)
    labels, n = ndimage.label(particles)
    keep = np.bincount(labels.ravel()) >= min_area
    keep[0] = False
    particles = keep[labels]
    if not particles.any():
        raise InvalidParameter("no particle separates from the support in this frame (every object is smaller than "
                               f"a disc of radius 2σ = {2 * sigma:g} px); check the contrast and the pixel size.")
    return FrameSegmentation(_split(particles, split_h), contrast, sigma, float(threshold_otsu(smooth)), image)


def _require_contrast(image: np.ndarray, smooth: np.ndarray, particles: np.ndarray, sigma: float) -> None:
    """Refuse a split of noise: the phases' means must differ by ``MIN_CONTRAST_SNR`` times the smoothed noise."""
    if particles.all() or not particles.any():
        raise InvalidParameter("no particle separates from the support in this frame; check the contrast.")
    snr = abs(float(smooth[particles].mean() - smooth[~particles].mean())) / _smoothed_noise(_pixel_noise(image),
                                                                                              sigma)
    if snr < MIN_CONTRAST_SNR:
        raise InvalidParameter(f"no particle separates from the support in this frame: the two phases differ by "
                               f"{snr:.1f} times the noise after smoothing by σ = {sigma:g} px (at least "
                               f"{MIN_CONTRAST_SNR:g} needed). The frame may hold no particles, or too few counts; "
                               "sum frames or give a larger sigma_px.")


def _split(mask: np.ndarray, split_h: float) -> np.ndarray:
    """Label the particles, splitting touching ones at the necks (distance-transform watershed)."""
    components, n = ndimage.label(mask)
    labels = np.zeros(mask.shape, np.int32)
    if split_h == 0:
        return components.astype(np.int32)
    next_label = 1
    for k, box in enumerate(ndimage.find_objects(components), start=1):
        padded = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, size)) for s, size in zip(box, mask.shape))
        comp = components[padded] == k
        edt = distance_to_background(np.pad(comp, 1))[1:-1, 1:-1]
        h = max(split_h * float(edt.max()), 1.0)
        markers, m = ndimage.label(h_maxima(edt, h).astype(bool) & comp, structure=np.ones((3, 3)))
        part = watershed(-edt, markers, mask=comp) if m > 1 else comp.astype(np.int32)
        view = labels[padded]
        view[comp] = part[comp] + next_label - 1
        next_label += int(part.max())
    return labels
