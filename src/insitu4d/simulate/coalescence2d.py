"""A 2D coalescence movie with known neck width and neck angle: the twin of :mod:`insitu4d.measure.frame_necks`.

Two discs (radii ``R₁ ≥ R₂``) a gap ``g`` apart are joined by a neck: a band of width ``w``
parallel to the line of centres, offset from it by ``h``. The neck's narrowest chord is the
band's width ``w`` (the discs do not reach the middle of the gap), its centre is the
middle of the gap on the band's axis, and the neck angle is the angle there between the
lines to the centroids of the two halves of the body (cut through the neck centre,
perpendicular to the line of centres), the definition of Hu et al. (Nanoscale Adv. 2024,
doi:10.1039/d4na00373j). Over the movie the neck widens (``w`` from 0.3 to 1.1 ``R₂``), the
gap closes (8 → 3 px) and ``h`` shrinks so that the angle at the disc centres opens from
``start_angle_deg`` to 180°; the last ``merged_frames`` frames show one disc of the same
area (full merge). The frames drift and carry Poisson noise.

The truth is computed on a 0.05 px grid of the body in its own frame, independently of
the measurement code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.optimize import brentq

from ..errors import InvalidParameter

__all__ = ["CoalescenceMovie", "coalescence_movie"]


@dataclass(frozen=True)
class CoalescenceMovie:
    """A simulated coalescence movie and its truth.

    Attributes
    ----------
    frames : (n, ny, nx) ndarray of float64
        Counts.
    drift_px : (n, 2) ndarray of float, pixels
        (dy, dx) of the scene in each frame.
    neck_width_px : (n,) ndarray of float, pixels
        NaN once merged.
    neck_angle_deg : (n,) ndarray of float, degrees
        NaN once merged.
    neck_centre_px : (n, 2) ndarray of float, pixels
        (y, x) of the neck centre; NaN once merged.
    merged : (n,) ndarray of bool
    """

    frames: np.ndarray
    drift_px: np.ndarray
    neck_width_px: np.ndarray
    neck_angle_deg: np.ndarray
    neck_centre_px: np.ndarray
    merged: np.ndarray


def _offset_for(angle_deg: float, a1: float, a2: float) -> float:
    """The offset h at which the angle at (0, h) between lines to (−a1, 0) and (a2, 0) is ``angle_deg``."""
    if angle_deg >= 180.0:
        return 0.0
    return brentq(lambda h: 180.0 - np.degrees(np.arctan(h / a1) + np.arctan(h / a2)) - angle_deg, 0.0,
                  10 * (a1 + a2))


class _Body:
    """Two discs on the u axis and a neck band, in the body's own (u, v) frame, pixels."""

    def __init__(self, r1, r2, gap, width, offset):
        self.r1, self.r2, self.w, self.h = r1, r2, width, offset
        self.D = r1 + r2 + gap
        self.u_neck = (r1 - r2) / 2.0

    def inside(self, u, v):
        d1 = (u + self.D / 2) ** 2 + v ** 2 <= self.r1 ** 2
        d2 = (u - self.D / 2) ** 2 + v ** 2 <= self.r2 ** 2
        band = (np.abs(v - self.h) <= self.w / 2) & (u >= -self.D / 2) & (u <= self.D / 2)
        return d1 | d2 | band

    def truth_angle_deg(self, step: float = 0.05) -> float:
        u = np.arange(-self.D / 2 - self.r1 - 1, self.D / 2 + self.r2 + 1, step)
        v = np.arange(-self.r1 - 1, self.r1 + 1, step)
        U, V = np.meshgrid(u, v, indexing="ij")
        body = self.inside(U, V)
        left = body & (U < self.u_neck)
        right = body & (U >= self.u_neck)
        ca = np.array([U[left].mean(), V[left].mean()])
        cb = np.array([U[right].mean(), V[right].mean()])
        n = np.array([self.u_neck, self.h])
        x, y = ca - n, cb - n
        return float(np.degrees(np.arccos(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y)))))

    def area(self, step: float = 0.05) -> float:
        u = np.arange(-self.D / 2 - self.r1 - 1, self.D / 2 + self.r2 + 1, step)
        v = np.arange(-self.r1 - 1, self.r1 + 1, step)
        U, V = np.meshgrid(u, v, indexing="ij")
        return float(self.inside(U, V).sum() * step * step)


def coalescence_movie(*, n_frames: int = 24, shape=(160, 200), radii_px=(24.0, 20.0), start_angle_deg: float = 160.0,
                      counts: float = 20.0, contrast: str = "dark", particle_contrast: float = 0.5,
                      drift_px_per_frame: float = 0.6, merged_frames: int = 3, seed: int | None = None
                      ) -> CoalescenceMovie:
    """Simulate a 2D coalescence movie (see the module notes).

    Parameters
    ----------
    n_frames : int
        Frames in all, ``merged_frames`` of them after the full merge.
    shape : (int, int)
    radii_px : (float, float), pixels
        R₁ ≥ R₂.
    start_angle_deg : float, degrees
        Neck angle (at the disc centres) of the first frame; it opens linearly to 180°.
    counts : float
        Mean counts per pixel of the support.
    contrast : {"dark", "bright"}
    particle_contrast : float
        Relative change of the level inside the particles.
    drift_px_per_frame : float, pixels
        Speed of a steady drift in a random direction (plus 0.15 px jitter).
    merged_frames : int
    seed : int, optional
        Seeds the orientation, the drift and the noise.

    Returns
    -------
    CoalescenceMovie

    Raises
    ------
    InvalidParameter
        Too few frames, radii that do not fit the field, an angle outside (90°, 180°], an
        unknown contrast.
    """
    r1, r2 = max(radii_px), min(radii_px)
    ny, nx = shape
    n_neck = n_frames - merged_frames
    if n_neck < 2 or merged_frames < 0 or not 90 < start_angle_deg <= 180 or contrast not in ("dark", "bright") \
            or 2 * (r1 + r2) + 16 + 2 * drift_px_per_frame * n_frames > min(ny, nx) * 1.6:
        raise InvalidParameter("coalescence_movie needs ≥ 2 frames before the merge, a start angle in (90, 180], "
                               "contrast 'dark' or 'bright', and a field that holds the pair and its drift.")
    rng = np.random.default_rng(seed)
    rotation = rng.uniform(0, np.pi)
    direction = rng.uniform(0, 2 * np.pi)
    drift = np.arange(n_frames)[:, None] * drift_px_per_frame * np.array([np.sin(direction), np.cos(direction)])
    drift = drift - drift.mean(axis=0) + rng.normal(0, 0.15, (n_frames, 2))
    s = np.linspace(0.0, 1.0, n_neck)
    widths = r2 * (0.3 + 0.8 * s)
    gaps = 8.0 - 5.0 * s
    angles = start_angle_deg + (180.0 - start_angle_deg) * s
    bodies = [_Body(r1, r2, g, w, _offset_for(a, r1 + g / 2, r2 + g / 2)) for g, w, a in zip(gaps, widths, angles)]
    merged_radius = np.sqrt(bodies[-1].area() / np.pi)
    sub = 4
    off = (np.arange(sub) + 0.5) / sub - 0.5
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    frames, truth_w, truth_a, truth_c = [], [], [], []
    cos, sin = np.cos(rotation), np.sin(rotation)
    for k in range(n_frames):
        cy, cx = (ny - 1) / 2 + drift[k, 0], (nx - 1) / 2 + drift[k, 1]
        cover = np.zeros(shape)
        for oy in off:
            for ox in off:
                y, x = yy + oy - cy, xx + ox - cx
                u, v = cos * x + sin * y, -sin * x + cos * y
                if k < n_neck:
                    cover += bodies[k].inside(u, v)
                else:
                    cover += u ** 2 + v ** 2 <= merged_radius ** 2
        cover /= sub * sub
        level = 1.0 + (-1.0 if contrast == "dark" else 1.0) * particle_contrast * cover
        frames.append(rng.poisson(counts * ndimage.gaussian_filter(level, 0.7)).astype(np.float64))
        truth_w.append(bodies[k].w if k < n_neck else np.nan)
        truth_a.append(bodies[k].truth_angle_deg() if k < n_neck else np.nan)
        if k < n_neck:
            u, v = bodies[k].u_neck, bodies[k].h
            truth_c.append((cy + sin * u + cos * v, cx + cos * u - sin * v))
        else:
            truth_c.append((np.nan, np.nan))
    return CoalescenceMovie(np.array(frames), drift, np.array(truth_w), np.array(truth_a), np.array(truth_c),
                            np.arange(n_frames) >= n_neck)
