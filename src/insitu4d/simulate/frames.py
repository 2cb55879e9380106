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

__all__ = ["ParticleFrame", "particle_frame", "ParticleMovie", "particle_movie"]


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


@dataclass(frozen=True)
class ParticleMovie:
    """A simulated movie of moving and merging particles, and its truth.

    Attributes
    ----------
    frames : (n_frames, ny, nx) ndarray of float64
        Counts.
    ids : list of (n_k,) ndarray of int
        Per frame, the ids of the particles present.
    centres_px : list of (n_k, 2) ndarray of float, pixels
        Per frame, their (y, x).
    radii_px : list of (n_k,) ndarray of float, pixels
    merges : list of (int, int, int, int)
        ``(touch, frame, gone, into)``: particles ``gone`` and ``into`` touch from frame ``touch`` on, and from
        ``frame`` on ``gone`` is part of ``into`` (one round particle).
    """

    frames: np.ndarray
    ids: list
    centres_px: list
    radii_px: list
    merges: list


def particle_movie(shape=(192, 192), *, n_frames: int = 30, radius_px=(8.0, 13.0), coverage: float = 0.2,
                   n_merges: int = 2, step_px: float = 0.6, drift_px: float = 0.5, counts: float = 30.0,
                   contrast: str = "dark", seed: int | None = None) -> ParticleMovie:
    """Particles that wander (steps of ``step_px`` per frame and axis, pulled back towards their start so that they
    stay within about 1.7 ``step_px`` of it) on a drifting stage, and pairs of neighbours that approach, touch and
    merge into one particle of their total area.

    Each merging pair closes its gap linearly from frame ``n_frames // 4`` until the discs overlap by a
    quarter of the smaller radius (they touch from then on, with a neck), and is one disc from three frames
    later, centred at the pair's area-weighted centre; the larger particle keeps its id.

    Parameters
    ----------
    shape : (int, int)
    n_frames : int
    radius_px : (float, float), pixels
    coverage : float
    n_merges : int
        Pairs that merge (fewer when the frame has too few neighbours).
    step_px : float, pixels
    drift_px : float, pixels
        Stage drift per frame, in a random direction.
    counts : float
    contrast : {"dark", "bright"}
    seed : int, optional

    Returns
    -------
    ParticleMovie

    Raises
    ------
    InvalidParameter
        Fewer than 8 frames, or what :func:`particle_frame` raises.
    """
    if n_frames < 8:
        raise InvalidParameter(f"particle_movie needs at least 8 frames; got {n_frames}.")
    rng = np.random.default_rng(seed)
    first = particle_frame(shape, radius_px=radius_px, coverage=coverage, contrast=contrast, counts=counts,
                           gap_px=8.0, seed=seed)
    n = len(first.radii_px)
    pos = first.centres_px.copy()
    radii = first.radii_px.copy()
    free, pairs = set(range(n)), []
    dist = np.hypot(*(pos[:, None, :] - pos[None, :, :]).transpose(2, 0, 1)) - radii[:, None] - radii[None, :]
    np.fill_diagonal(dist, np.inf)
    for i, j in zip(*np.unravel_index(np.argsort(dist, axis=None), dist.shape)):
        if len(pairs) == n_merges or not np.isfinite(dist[i, j]):
            break
        if i in free and j in free and dist[i, j] < 25:
            # the merged particle (radius √(r_i² + r_j²) about the pair's middle) must keep clear of the others
            middle = 0.5 * (pos[i] + pos[j])
            others = [m for m in range(n) if m not in (i, j)]
            clearance = np.hypot(*(pos[others] - middle).T) - radii[others] if others else np.array([np.inf])
            if np.min(clearance) > np.hypot(radii[i], radii[j]) + 6.0:
                pairs.append((int(i), int(j)) if radii[i] >= radii[j] else (int(j), int(i)))
                free -= {i, j}
    start, touch = n_frames // 4, n_frames // 2
    # a walk that returns towards its start (Ornstein–Uhlenbeck, relaxing over 5 frames): wanderers do not run
    # into each other, which would be a merge nobody planned
    walk = np.zeros((n_frames, n, 2))
    for k in range(1, n_frames):
        walk[k] = 0.8 * walk[k - 1] + rng.normal(0, step_px, (n, 2))
    walk[:, [k for p in pairs for k in p]] = 0.0  # merging pairs move only towards each other
    direction = rng.uniform(0, 2 * np.pi)
    stage = np.arange(n_frames)[:, None] * drift_px * np.array([np.sin(direction), np.cos(direction)])
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    frames, ids_out, centres_out, radii_out, merges = [], [], [], [], []
    touched: dict[int, int] = {}
    for k in range(n_frames):
        centre = pos + walk[k] + stage[k]
        alive = np.ones(n, bool)
        area_r = radii.copy()
        for big, small in pairs:
            a, b = pos[big], pos[small]
            gap_axis = (b - a) / np.linalg.norm(b - a)
            closest = radii[big] + 0.75 * radii[small]  # overlap a quarter of the smaller radius
            span = np.linalg.norm(b - a) - closest
            f = np.clip((k - start) / max(touch - start, 1), 0.0, 1.0)
            centre[small] = a + gap_axis * (np.linalg.norm(b - a) - f * span) + stage[k]
            if np.linalg.norm(centre[small] - centre[big]) <= radii[big] + radii[small]:
                touched.setdefault(small, k)
            if k >= touch + 3:
                alive[small] = False
                w = radii[big] ** 2 / (radii[big] ** 2 + radii[small] ** 2)
                centre[big] = w * (a + stage[k]) + (1 - w) * centre[small]
                area_r[big] = np.hypot(radii[big], radii[small])
                if k == touch + 3:
                    merges.append((touched.get(small, k), k, small + 1, big + 1))
        inside = np.zeros(shape, bool)
        for c, r in zip(centre[alive], area_r[alive]):
            inside |= (yy - c[0]) ** 2 + (xx - c[1]) ** 2 <= r * r
        level = 1.0 + (-0.4 if contrast == "dark" else 0.4) * ndimage.gaussian_filter(inside.astype(float), 0.7)
        frames.append(rng.poisson(counts * level).astype(np.float64))
        ids_out.append(np.flatnonzero(alive) + 1)
        centres_out.append(centre[alive])
        radii_out.append(area_r[alive])
    return ParticleMovie(np.array(frames), ids_out, centres_out, radii_out, merges)
