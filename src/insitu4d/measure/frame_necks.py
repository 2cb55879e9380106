"""Necks between touching particles in a 2D frame: projected neck width, neck angle, centre distance.

Two particles touch where their labels are neighbours (the watershed of
:func:`insitu4d.segment_frame.segment_frame` puts the boundary at the neck). For each
touching pair:

* **The neck line.** The midpoints between neighbouring pixels of the two labels trace the
  boundary; its principal direction is the first guess of the neck's direction.
* **Neck width.** The shortest chord of the body through the neck, over directions within
  ±25° of that guess. A chord's ends are where the frame, smoothed by
  ``max(1 px, σ/2)`` (σ the segmentation's scale) and flattened, crosses the level halfway
  between the particles' and the support's mean levels, interpolated linearly between
  samples 0.25 px apart: the width is read to a fraction of a pixel, not counted in
  pixels, and is not widened by the coarser smoothing that found the particles.
* **Neck centre.** The middle of that chord.
* **Neck angle.** The angle at the neck centre between the lines to the two particles'
  centroids, as defined by Hu et al. (Nanoscale Adv. 2024, doi:10.1039/d4na00373j) for
  nano-welding: 180° when the neck lies on the line of centres; smaller when it forms to
  one side.
* **Centre distance** ``d_nm`` between the centroids; areas, equivalent radii, and the
  circularity of the pair's union (→ 1 as the pair rounds off into one particle).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import InvalidParameter
from .frame_particles import FrameParticle, measure_frame_particles
from .records import Record, quantity

__all__ = ["FrameNeck", "measure_frame_necks", "CHORD_SEARCH_DEG"]

#: directions searched for the shortest chord, either side of the boundary's principal direction, degrees
CHORD_SEARCH_DEG = 25.0
_STEP_PX = 0.25
#: offsets across the neck of the chords averaged for its width and centre, pixels
PARALLEL_OFFSETS_PX = (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5)


@dataclass(frozen=True)
class FrameNeck(Record):
    """The neck between two touching particles of a frame; lengths in nm, angles in degrees."""

    labels: tuple[int, int] = quantity(kind="labels")
    neck_width_nm: float = quantity("nm")
    neck_angle_deg: float = quantity("°")
    neck_centre_nm: tuple[float, float] = quantity("nm", kind="image_vector")
    d_nm: float = quantity("nm")
    area_a_nm2: float = quantity("nm²")
    area_b_nm2: float = quantity("nm²")
    r_a_nm: float = quantity("nm")
    r_b_nm: float = quantity("nm")
    neck_over_r_p: float = quantity()
    circularity_pair: float = quantity()


def _contacts(labels: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """Midpoints (y, x) between 4-neighbouring pixels of two different particles, per label pair."""
    found: dict[tuple[int, int], list] = {}
    for axis, offset in ((0, (0.5, 0.0)), (1, (0.0, 0.5))):
        a = labels[:-1, :] if axis == 0 else labels[:, :-1]
        b = labels[1:, :] if axis == 0 else labels[:, 1:]
        ys, xs = np.nonzero((a != b) & (a > 0) & (b > 0))
        for y, x in zip(ys, xs):
            key = (int(min(a[y, x], b[y, x])), int(max(a[y, x], b[y, x])))
            found.setdefault(key, []).append((y + offset[0], x + offset[1]))
    return {k: np.array(v) for k, v in found.items()}


def _half_chord(image: np.ndarray, centre: np.ndarray, direction: np.ndarray, level: float, sign: float,
                max_len: float) -> float | None:
    """Distance from ``centre`` along ``direction`` to where ``sign × (image − level)`` first turns negative."""
    s = np.arange(0.0, max_len, _STEP_PX)
    points = centre[:, None] + direction[:, None] * s[None, :]
    f = sign * (ndimage.map_coordinates(image, points, order=1, mode="nearest") - level)
    if f[0] <= 0:
        return None
    out = np.flatnonzero(f <= 0)
    if out.size == 0:
        return None
    k = int(out[0])
    return float(s[k - 1] + _STEP_PX * f[k - 1] / (f[k - 1] - f[k]))


def _chord(image, centre, u, level, sign, max_len) -> tuple[float, np.ndarray] | None:
    """The chord of the body through ``centre`` along ``u``: (length, its middle), or None if it leaves the body
    at ``centre`` or does not end inside ``max_len``."""
    plus = _half_chord(image, centre, u, level, sign, max_len)
    minus = _half_chord(image, centre, -u, level, sign, max_len)
    if plus is None or minus is None:
        return None
    return plus + minus, centre + 0.5 * (plus - minus) * u


def _waist(coarse, fine, centre, guess, level_coarse, level_fine, sign, max_len) -> tuple[float, np.ndarray] | None:
    """The neck's chord: its direction is that of the shortest chord through ``centre`` within
    ±CHORD_SEARCH_DEG of ``guess`` on the ``coarse`` image (less noise); its length and middle are the means
    over the chords in that direction at ``PARALLEL_OFFSETS_PX`` across it, on the ``fine`` image (edges less
    blurred, and the neck's concave corners not filled in). Returns (length, middle)."""
    best = None
    base = np.arctan2(guess[0], guess[1])
    for phi in np.radians(np.arange(-CHORD_SEARCH_DEG, CHORD_SEARCH_DEG + 0.5, 1.0)):
        u = np.array([np.sin(base + phi), np.cos(base + phi)])
        chord = _chord(coarse, centre, u, level_coarse, sign, max_len)
        if chord is not None and (best is None or chord[0] < best[0][0]):
            best = (chord, u)
    if best is None:
        return None
    (_, middle), u = best
    across = np.array([u[1], -u[0]])
    widths = [_chord(fine, middle + t * across, u, level_fine, sign, max_len) for t in PARALLEL_OFFSETS_PX]
    middles = [_chord(fine, middle + t * across, u, level_fine, sign, max_len) for t in PARALLEL_OFFSETS_PX]
    widths = [c for c in widths if c is not None]
    middles = [c for c in middles if c is not None]
    if not widths or not middles:
        return None
    return float(np.mean([c[0] for c in widths])), np.mean([c[1] for c in middles], axis=0)


def _angle_deg(vertex: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    u, v = a - vertex, b - vertex
    c = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def measure_frame_necks(labels, flattened, pixel_size_nm: float, *, contrast: str, sigma_px: float = 1.0,
                        particles: list[FrameParticle] | None = None) -> list[FrameNeck]:
    """Neck width, neck angle and centre distance of every pair of touching particles in a frame.

    Parameters
    ----------
    labels : (ny, nx) array of int
        Particles split at their necks (:func:`insitu4d.segment_frame.segment_frame`).
    flattened : (ny, nx) array of float
        The frame with its illumination trend removed (``FrameSegmentation.flattened``).
    pixel_size_nm : float, nm
    contrast : {"dark", "bright"}
        Particles darker or brighter than the support.
    sigma_px : float, pixels
        The segmentation's smoothing; the chords are read at ``max(1, σ/2)``.
    particles : list of FrameParticle, optional
        Of these labels (measured when not given).

    Returns
    -------
    list of FrameNeck
        One per touching pair whose neck could be read (its chord stays inside the frame).

    Raises
    ------
    InvalidParameter
        Labels and frame of different shapes, an unknown contrast, or what
        :func:`~insitu4d.measure.frame_particles.measure_frame_particles` raises.
    """
    labels = np.asarray(labels)
    image = np.asarray(flattened, dtype=np.float64)
    if labels.shape != image.shape:
        raise InvalidParameter(f"labels {labels.shape} and frame {image.shape} differ in shape.")
    if contrast not in ("dark", "bright"):
        raise InvalidParameter(f"contrast must be 'dark' or 'bright'; got {contrast!r}.")
    particles = measure_frame_particles(labels, pixel_size_nm) if particles is None else particles
    by_label = {p.label: p for p in particles}
    fine = ndimage.gaussian_filter(image, max(1.0, sigma_px / 2))
    coarse = ndimage.gaussian_filter(image, max(1.0, sigma_px))
    inside = ndimage.binary_erosion(labels > 0, iterations=2)
    outside = ndimage.binary_erosion(labels == 0, iterations=2)
    if not inside.any() or not outside.any():
        return []
    levels = [0.5 * (float(im[inside].mean()) + float(im[outside].mean())) for im in (coarse, fine)]
    sign = -1.0 if contrast == "dark" else 1.0
    necks = []
    for (a, b), mids in sorted(_contacts(labels).items()):
        pa, pb = by_label[a], by_label[b]
        ca, cb = np.array(pa.centroid_nm) / pixel_size_nm, np.array(pb.centroid_nm) / pixel_size_nm
        centre = mids.mean(axis=0)
        if len(mids) >= 3 and np.ptp(mids, axis=0).max() > 0:
            guess = np.linalg.svd(mids - centre, full_matrices=False)[2][0]
        else:
            axis = cb - ca
            guess = np.array([axis[1], -axis[0]]) / max(np.linalg.norm(axis), 1e-12)
        max_len = 2.0 * (pa.r_p_nm + pb.r_p_nm) / pixel_size_nm
        waist = _waist(coarse, fine, centre, guess, *levels, sign, max_len)
        if waist is None:
            continue
        width_px, neck = waist
        union = measure_frame_particles(np.isin(labels, (a, b)).astype(np.int32), pixel_size_nm)[0]
        necks.append(FrameNeck(
            labels=(a, b), neck_width_nm=width_px * pixel_size_nm, neck_angle_deg=_angle_deg(neck, ca, cb),
            neck_centre_nm=(float(neck[0]) * pixel_size_nm, float(neck[1]) * pixel_size_nm),
            d_nm=float(np.linalg.norm(cb - ca)) * pixel_size_nm, area_a_nm2=pa.area_nm2, area_b_nm2=pb.area_nm2,
            r_a_nm=pa.r_p_nm, r_b_nm=pb.r_p_nm,
            neck_over_r_p=0.5 * width_px * pixel_size_nm / min(pa.r_p_nm, pb.r_p_nm),
            circularity_pair=union.circularity))
    return necks
