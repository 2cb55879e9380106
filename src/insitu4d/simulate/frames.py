"""2D frames of particles on a support, with known masks: the twin of :mod:`insitu4d.segment_frame`.

Discs of random radii are dropped without overlap (random sequential adsorption) up to a
coverage; the frame is the support level, darker (bright field) or brighter (HAADF) inside
the discs, times an illumination that varies linearly across the field, with a Gaussian-
correlated speckle for an amorphous support and Poisson noise at a given count level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import InvalidParameter

__all__ = ["ParticleFrame", "particle_frame"]


@dataclass(frozen=True)
class ParticleFrame:
    """A simulated frame and its truth.

    Attributes
    ----------
    image : (ny, nx) ndarray of float64
        Counts per pixel.
    labels : (ny, nx) ndarray of int32
        0 support, 1..n discs.
    centres_px : (n, 2) ndarray of float, pixels
        (y, x) of each disc.
    radii_px : (n,) ndarray of float, pixels
    """

    image: np.ndarray
    labels: np.ndarray
    centres_px: np.ndarray
    radii_px: np.ndarray


def particle_frame(shape=(256, 256), *, radius_px=(8.0, 20.0), coverage: float = 0.3, contrast: str = "dark",
                   particle_contrast: float = 0.4, counts: float = 50.0, gradient: float = 0.2,
                   speckle: float = 0.05, gap_px: float = 2.0, seed: int | None = None) -> ParticleFrame:
    """A frame of discs on a support.

    Parameters
    ----------
    shape : (int, int)
    radius_px : (float, float), pixels
        Range of disc radii (uniform).
    coverage : float
        Target share of the field covered by discs (reached as far as non-overlapping
        placement allows within 20 000 tries).
    contrast : {"dark", "bright"}
        Discs darker than the support (bright field) or brighter (HAADF).
    particle_contrast : float
        Relative change of the level inside a disc.
    counts : float
        Mean counts per pixel of the support.
    gradient : float
        Relative change of the illumination from one side of the field to the other, in a
        random direction.
    speckle : float
        Relative amplitude of the support's speckle (Gaussian-correlated, 1.5 px).
    gap_px : float, pixels
        Least distance between disc edges.
    seed : int, optional

    Returns
    -------
    ParticleFrame

    Raises
    ------
    InvalidParameter
        An unknown contrast, a radius range that does not fit, coverage not in (0, 0.9).
    """
    if contrast not in ("dark", "bright"):
        raise InvalidParameter(f"contrast must be 'dark' or 'bright'; got {contrast!r}.")
    ny, nx = shape
    r_lo, r_hi = radius_px
    if not 0 < r_lo <= r_hi < min(ny, nx) / 4 or not 0 < coverage < 0.9:
        raise InvalidParameter("particle_frame needs 0 < radius_px[0] ≤ radius_px[1] < a quarter of the field and "
                               "coverage in (0, 0.9).")
    rng = np.random.default_rng(seed)
    centres, radii = [], []
    covered = 0.0
    for _ in range(20000):
        if covered >= coverage * ny * nx:
            break
        r = rng.uniform(r_lo, r_hi)
        c = rng.uniform([r, r], [ny - r, nx - r])
        if all(np.hypot(*(c - c2)) >= r + r2 + gap_px for c2, r2 in zip(centres, radii)):
            centres.append(c)
            radii.append(r)
            covered += np.pi * r * r
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    labels = np.zeros(shape, np.int32)
    for k, (c, r) in enumerate(zip(centres, radii), start=1):
        labels[(yy - c[0]) ** 2 + (xx - c[1]) ** 2 <= r * r] = k
    sign = -1.0 if contrast == "dark" else 1.0
    level = 1.0 + sign * particle_contrast * (labels > 0)
    level = ndimage.gaussian_filter(level, 0.7)  # the probe or the objective's transfer blurs the edges a little
    direction = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(direction) * (xx / nx - 0.5) + np.sin(direction) * (yy / ny - 0.5))
    texture = ndimage.gaussian_filter(rng.normal(0, 1, shape), 1.5)
    texture *= speckle / max(float(texture.std()), 1e-12)
    mean = counts * level * (1.0 + gradient * ramp) * (1.0 + texture)
    image = rng.poisson(np.maximum(mean, 0.0)).astype(np.float64)
    return ParticleFrame(image, labels, np.array(centres).reshape(-1, 2), np.array(radii))
