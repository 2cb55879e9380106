"""The working scales of alignment: how much to smooth noisy images before registering them, and how far to bin
the reconstructions made inside alignment."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["registration_sigma", "working_binning"]


def registration_sigma(data) -> float:
    """Gaussian scale (pixels) for registering noisy images: 1 px, more when counts are few.

    The signal level c is the mean of the brightest 5 % of pixels after a 2 px Gaussian (so
    that noise spikes do not count as signal); a Gaussian of σ gathers about 4πσ² c counts,
    and σ = √(100 / (4π c)) makes that some 100 counts per resolution element (shot-noise
    SNR ≈ 10), clipped to [1, 6] px. Ihara-like data (c ≈ 0.4 counts) get about 4.5 px; the
    demo's (c ≈ 30) 1 px.

    Parameters
    ----------
    data : (n, ny, nx) or (ny, nx) array_like
        Images as detected counts (or scaled back to them).

    Returns
    -------
    float, pixels
        In [1, 6].
    """
    data = np.asarray(data, np.float32)
    smooth = ndimage.gaussian_filter(data, (0,) * (data.ndim - 2) + (2.0, 2.0))
    c = float(np.mean(smooth[smooth >= np.percentile(smooth, 95)]))
    return float(np.clip(np.sqrt(100.0 / (4 * np.pi * max(c, 1e-6))), 1.0, 6.0))


def working_binning(shape, width_px: int = 256) -> int:
    """Binning of the reconstructions inside alignment (axis search, projection matching).

    2, or more for large images, so that those reconstructions stay about ``width_px``
    wide: a 1024² series is searched at binning 4 (the shifts are still found to 1/20 of a
    binned pixel by the upsampled correlation).

    Parameters
    ----------
    shape : tuple of int
        The stack's shape; the last two entries are the image size (pixels).
    width_px : int
        Target width of the binned images, pixels.

    Returns
    -------
    int
        The binning factor, ≥ 2.
    """
    return max(2, int(round(max(shape[-2:]) / width_px)))
