"""Lattice fringes: FFT power spectrum, lattice spots, d-spacings in Å, angles, FCC zone axes.

A crystalline region of an HRTEM or HAADF-STEM frame is periodic, and its Fourier transform
holds a spot at each reciprocal-lattice vector **g** seen in projection, at ``|g| = 1/d``.
The steps, as in the FFT analysis of in situ welding by Hu et al. (Nanoscale Adv. 2024,
doi:10.1039/d4na00373j):

1. The region (a rectangle, or a particle's mask) minus its mean, times a 2D Hann window
   (leakage of the region's edges would bury weak spots), zero-padded to at least twice its
   size so the spectrum is sampled finely enough to interpolate.
2. The power spectrum ``P = |F|²``; its background is the azimuthal median of ``P`` in rings.
3. Spots are local maxima of ``P / background`` above a threshold set from the noise. For a
   spectrum of pure noise ``P / background`` is exponentially distributed (a periodogram
   ordinate is a χ² with two degrees of freedom), so the largest of ``M`` independent values
   exceeds ``ln(M / α)`` with probability about ``α``. The threshold is that with
   ``α = FALSE_SPOTS`` (expected false spots per region) and ``M`` the number of independent
   frequencies examined.
4. Each spot's centre is refined to a fraction of a bin by a parabola through the logarithm
   of ``P`` at its peak and its neighbours along each axis; ``d = pixel size / |f|``.

Friedel's law puts a spot at ``-g`` for each one at ``g``: only one of each pair is reported
(``angle_deg`` in [0°, 180°)).

For an FCC crystal of lattice constant ``a``: ``d_hkl = a / √(h² + k² + l²)``; the spots of
one zone axis ``[uvw]`` satisfy ``h u + k v + l w = 0`` and the angle between two of them is
that between their ``hkl`` vectors (Williams & Carter, *Transmission Electron Microscopy*,
2nd ed., Springer 2009, ch. 18, doi:10.1007/978-0-387-76501-3).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .errors import InvalidParameter

__all__ = ["LatticeSpot", "find_lattice_spots", "power_spectrum", "spot_families", "angle_between",
           "ZoneAxisMatch", "index_fcc", "DSpacingTrack", "track_d_spacing", "fcc_d_spacing", "FALSE_SPOTS"]

#: expected number of noise maxima reported as spots per region (the α of the threshold)
FALSE_SPOTS = 0.01
#: smallest region side, pixels: below it a spot spans too few bins to place
MIN_REGION_PX = 16
#: zone axes tried by :func:`index_fcc`, low index first
FCC_ZONE_AXES = ((1, 1, 0), (1, 0, 0), (1, 1, 1), (2, 1, 1), (3, 1, 0))


@dataclass(frozen=True)
class LatticeSpot:
    """One lattice spot (one of a Friedel pair).

    Attributes
    ----------
    d_spacing_A : float, Å
        Lattice-plane spacing, ``1 / |g|``.
    angle_deg : float, degrees
        Direction of **g** in the image, in [0, 180): 0 along +x, 90 along +y (rows).
    g_per_nm : (float, float)
        (gy, gx), 1/nm.
    ratio : float
        Peak power over the spectrum's background at that radius.
    """

    d_spacing_A: float
    angle_deg: float
    g_per_nm: tuple[float, float]
    ratio: float


def _region(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise InvalidParameter(f"a lattice image must be 2D (y, x); got shape {image.shape}.")
    if not np.all(np.isfinite(image)):
        raise InvalidParameter("the lattice image holds NaN or infinite pixels.")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != image.shape:
            raise InvalidParameter(f"the mask's shape {mask.shape} differs from the image's {image.shape}.")
        if not mask.any():
            raise InvalidParameter("the mask is empty: it selects no pixels.")
        box = ndimage.find_objects(mask.astype(np.uint8))[0]
        image, mask = image[box], mask[box]
    if min(image.shape) < MIN_REGION_PX:
        raise InvalidParameter(f"the region is {image.shape[0]} × {image.shape[1]} px; a lattice needs at least "
                               f"{MIN_REGION_PX} px a side.")
    window = np.outer(np.hanning(image.shape[0]), np.hanning(image.shape[1]))
    if mask is not None:
        window = window * ndimage.gaussian_filter(mask.astype(np.float64), 1.0)
        image = image - np.sum(image * window) / np.sum(window)
    else:
        image = image - image.mean()
    return image * window


def power_spectrum(image, *, mask=None, pad: int = 2) -> np.ndarray:
    """The windowed, zero-padded FFT power spectrum of an image region, zero frequency in the centre.

    Parameters
    ----------
    image : (ny, nx) array
    mask : (ny, nx) array of bool, optional
        The region (a particle); its bounding box is transformed, weighted by the mask
        (smoothed by one pixel) and a Hann window.
    pad : int
        The spectrum is ``pad`` times the region's size along each axis (at least).

    Returns
    -------
    (my, mx) ndarray of float
        ``|F|²``; frequency of index ``(i, j)`` is ``((i - my // 2) / my, (j - mx // 2) / mx)`` cycles per pixel.

    Raises
    ------
    InvalidParameter
        Not 2D, non-finite pixels, an empty or mismatched mask, a region under
        ``MIN_REGION_PX``, ``pad < 1``.
    """
    return _spectrum(image, mask, pad)[0]


def _spectrum(image, mask, pad: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The power spectrum and the size of the region it came from."""
    if pad < 1:
        raise InvalidParameter(f"pad must be ≥ 1; got {pad}.")
    region = _region(image, mask)
    shape = [int(2 ** np.ceil(np.log2(pad * n))) for n in region.shape]
    return np.fft.fftshift(np.abs(np.fft.fft2(region, s=shape)) ** 2), region.shape


def _background(P: np.ndarray) -> np.ndarray:
    """Azimuthal median of ``P`` in one-bin rings (of the scaled radius), as an image."""
    my, mx = P.shape
    fy = (np.arange(my) - my // 2) / my
    fx = (np.arange(mx) - mx // 2) / mx
    radius = np.hypot(fy[:, None], fx[None, :])
    ring = np.minimum((radius * max(my, mx)).astype(np.int64), max(my, mx))
    medians = np.nan_to_num(np.asarray(ndimage.median(P, labels=ring, index=np.arange(ring.max() + 1))))
    medians = np.maximum(medians, 1e-300)
    # the median of an exponential variable is ln 2 times its mean
    return medians[ring] / np.log(2.0)


def _refine(logP: np.ndarray, i: int, j: int) -> tuple[float, float]:
    def vertex(a, b, c):
        denom = a - 2 * b + c
        return 0.5 * (a - c) / denom if denom < 0 else 0.0

    return (i + vertex(logP[i - 1, j], logP[i, j], logP[i + 1, j]),
            j + vertex(logP[i, j - 1], logP[i, j], logP[i, j + 1]))


def find_lattice_spots(image, *, pixel_size_nm: float, mask=None, min_d_A: float | None = None,
                       max_d_A: float = 10.0, false_spots: float = FALSE_SPOTS) -> list[LatticeSpot]:
    """Find the lattice spots of an image region and their d-spacings.

    Parameters
    ----------
    image : (ny, nx) array
        HRTEM or HAADF-STEM frame.
    pixel_size_nm : float, nm
    mask : (ny, nx) array of bool, optional
        The region to analyse (a particle); the whole frame by default.
    min_d_A, max_d_A : float, Å
        Spacings searched. ``min_d_A`` defaults to the Nyquist limit (2 pixels) plus 5 %,
        ``max_d_A`` to 10 Å (larger periods are not lattice fringes of metals and oxides).
    false_spots : float
        Expected number of noise maxima reported per region (sets the threshold).

    Returns
    -------
    list of LatticeSpot
        Strongest first.

    Raises
    ------
    InvalidParameter
        Bad image, mask or region (see :func:`power_spectrum`), a non-positive pixel size, an
        empty spacing range or ``false_spots`` not in (0, 1].
    """
    if not pixel_size_nm > 0:
        raise InvalidParameter(f"pixel_size_nm must be > 0; got {pixel_size_nm}.")
    if not 0 < false_spots <= 1:
        raise InvalidParameter(f"false_spots must be in (0, 1]; got {false_spots}.")
    pixel_A = 10.0 * pixel_size_nm
    min_d_A = 2.1 * pixel_A if min_d_A is None else min_d_A
    if not 0 < min_d_A < max_d_A:
        raise InvalidParameter(f"the spacings searched are empty: min_d_A = {min_d_A:g} Å, max_d_A = {max_d_A:g} Å "
                               f"(the Nyquist limit at {pixel_A:g} Å per pixel is {2 * pixel_A:g} Å).")
    P, region_shape = _spectrum(image, mask, 2)
    my, mx = P.shape
    ratio = P / _background(P)
    fy = (np.arange(my) - my // 2) / my
    fx = (np.arange(mx) - mx // 2) / mx
    f = np.hypot(fy[:, None], fx[None, :])
    band = (f >= pixel_A / max_d_A) & (f <= pixel_A / min_d_A)
    band &= (fy[:, None] > 0) | ((fy[:, None] == 0) & (fx[None, :] > 0))  # one of each Friedel pair
    independent = max(int(band.sum() * region_shape[0] * region_shape[1] / (my * mx)), 1)
    threshold = np.log(independent / false_spots)
    peaks = (ratio == ndimage.maximum_filter(ratio, size=5)) & band & (ratio > threshold)
    logP = np.log(np.maximum(P, 1e-300))
    spots = []
    for i, j in zip(*np.nonzero(peaks)):
        if not (0 < i < my - 1 and 0 < j < mx - 1):
            continue
        ri, rj = _refine(logP, int(i), int(j))
        gy, gx = (ri - my // 2) / my / pixel_A, (rj - mx // 2) / mx / pixel_A  # 1/Å
        g = float(np.hypot(gy, gx))
        angle = float(np.degrees(np.arctan2(gy, gx))) % 180.0
        spots.append(LatticeSpot(1.0 / g, angle, (10.0 * gy, 10.0 * gx), float(ratio[i, j])))
    return sorted(spots, key=lambda s: -s.ratio)


def spot_families(spots, *, tolerance: float = 0.02) -> list[list[LatticeSpot]]:
    """Group spots of equal d-spacing (within a relative ``tolerance``), largest spacing first.

    Parameters
    ----------
    spots : sequence of LatticeSpot
    tolerance : float
        Relative difference of d-spacings joined in one family.

    Returns
    -------
    list of list of LatticeSpot

    Raises
    ------
    InvalidParameter
        ``tolerance`` not in (0, 0.5).
    """
    if not 0 < tolerance < 0.5:
        raise InvalidParameter(f"tolerance must be in (0, 0.5); got {tolerance}.")
    families: list[list[LatticeSpot]] = []
    for s in sorted(spots, key=lambda s: -s.d_spacing_A):
        if families and abs(s.d_spacing_A / families[-1][0].d_spacing_A - 1) <= tolerance:
            families[-1].append(s)
        else:
            families.append([s])
    return families


def angle_between(a: LatticeSpot, b: LatticeSpot) -> float:
    """Angle between two lattice spots' **g** vectors, degrees in [0, 90] (a spot and its Friedel mate are one).

    Parameters
    ----------
    a, b : LatticeSpot

    Returns
    -------
    float, degrees
    """
    d = abs(a.angle_deg - b.angle_deg) % 180.0
    return float(min(d, 180.0 - d))


def fcc_d_spacing(lattice_constant_A: float, hkl) -> float:
    """``d_hkl = a / √(h² + k² + l²)`` of a cubic lattice, Å.

    Parameters
    ----------
    lattice_constant_A : float, Å
    hkl : (3,) sequence of int

    Returns
    -------
    float, Å

    Raises
    ------
    InvalidParameter
        A non-positive lattice constant or ``hkl = (0, 0, 0)``.
    """
    h = np.asarray(hkl, dtype=np.float64)
    if not lattice_constant_A > 0 or not np.any(h):
        raise InvalidParameter("fcc_d_spacing needs a lattice constant > 0 and hkl ≠ (0, 0, 0).")
    return float(lattice_constant_A / np.linalg.norm(h))


def _fcc_reflections(zone, max_index: int = 3) -> list[tuple[int, int, int]]:
    """The allowed FCC reflections (h, k, l all odd or all even) in zone ``[uvw]``, one of each ± pair."""
    out = []
    for hkl in itertools.product(range(-max_index, max_index + 1), repeat=3):
        if not any(hkl) or len({v % 2 for v in hkl}) != 1 or np.dot(hkl, zone) != 0:
            continue
        if tuple(-v for v in hkl) not in out:
            out.append(hkl)
    return out


def _hkl_angle(a, b) -> float:
    c = abs(np.dot(a, b)) / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(c, 0.0, 1.0))))


@dataclass(frozen=True)
class ZoneAxisMatch:
    """Spots indexed on an FCC zone axis.

    Attributes
    ----------
    zone : (int, int, int)
        The zone axis ``[uvw]``.
    hkl : tuple of (int, int, int)
        The reflection given to each spot, in the order of the spots passed.
    d_error : float
        Largest relative difference between measured and indexed d-spacings.
    angle_error_deg : float, degrees
        Largest difference between measured and indexed angles of spot pairs.
    """

    zone: tuple[int, int, int]
    hkl: tuple[tuple[int, int, int], ...]
    d_error: float
    angle_error_deg: float


def index_fcc(spots, lattice_constant_A: float, *, d_tolerance: float = 0.03,
              angle_tolerance_deg: float = 3.0) -> list[ZoneAxisMatch]:
    """Index lattice spots on the low-index zone axes of an FCC crystal.

    Each spot takes the reflection of the zone whose ``d_hkl`` is nearest; a zone matches when
    every spot's d-spacing and every pair's angle agree within the tolerances. With a strained
    or alloyed crystal, pass the lattice constant measured from one family (``d · √(h²+k²+l²)``).

    Parameters
    ----------
    spots : sequence of LatticeSpot
        At least one.
    lattice_constant_A : float, Å
        E.g. 4.078 for Au, 3.891 for Pd, 3.615 for Cu.
    d_tolerance : float
        Relative.
    angle_tolerance_deg : float, degrees

    Returns
    -------
    list of ZoneAxisMatch
        The zones that match (of ``FCC_ZONE_AXES``), best first (smallest angle error, then d error).

    Raises
    ------
    InvalidParameter
        No spots, or a non-positive lattice constant or tolerance.
    """
    spots = list(spots)
    if not spots or not lattice_constant_A > 0 or not d_tolerance > 0 or not angle_tolerance_deg > 0:
        raise InvalidParameter("index_fcc needs at least one spot, a lattice constant > 0 and tolerances > 0.")
    matches = []
    for zone in FCC_ZONE_AXES:
        refl = _fcc_reflections(zone)
        d_ref = np.array([fcc_d_spacing(lattice_constant_A, r) for r in refl])
        choice, d_err = [], 0.0
        for s in spots:
            k = int(np.argmin(np.abs(d_ref / s.d_spacing_A - 1)))
            choice.append(k)
            d_err = max(d_err, abs(s.d_spacing_A / d_ref[k] - 1))
        if d_err > d_tolerance:
            continue
        best = _assign_angles(spots, [[r for r, dr in zip(refl, d_ref) if abs(dr / d_ref[k] - 1) < 1e-9]
                                      for k in choice])
        if best is None:
            continue
        hkl, angle_err = best
        if angle_err <= angle_tolerance_deg:
            matches.append(ZoneAxisMatch(zone, tuple(hkl), float(d_err), float(angle_err)))
    return sorted(matches, key=lambda m: (m.angle_error_deg, m.d_error))


def _assign_angles(spots, candidates) -> tuple[list, float] | None:
    """The reflections (one per spot, from its candidates of equal d) whose pair angles best match the spots'."""
    best = None
    measured = [[angle_between(a, b) for b in spots] for a in spots]
    if np.prod([len(c) for c in candidates]) > 20000:
        return None
    for combo in itertools.product(*candidates):
        err = max((abs(_hkl_angle(combo[i], combo[j]) - measured[i][j])
                   for i in range(len(spots)) for j in range(i + 1, len(spots))), default=0.0)
        if best is None or err < best[1]:
            best = (list(combo), err)
    return best


@dataclass(frozen=True)
class DSpacingTrack:
    """One lattice spacing followed through a movie.

    Attributes
    ----------
    d_spacing_A : (n_frames,) ndarray of float, Å
        The spacing of the strongest spot in the band per frame; NaN where none was found.
    angle_deg : (n_frames,) ndarray of float, degrees
    ratio : (n_frames,) ndarray of float
        Spot power over background (0 where none).
    strain : (n_frames,) ndarray of float
        ``d / d_reference - 1``.
    """

    d_spacing_A: np.ndarray
    angle_deg: np.ndarray
    ratio: np.ndarray
    strain: np.ndarray


def track_d_spacing(frames, *, pixel_size_nm: float, reference_d_A: float, band: float = 0.08, masks=None,
                    false_spots: float = FALSE_SPOTS) -> DSpacingTrack:
    """Follow one lattice spacing through a movie (strain, thermal expansion, alloying).

    Parameters
    ----------
    frames : (n_frames, ny, nx) array
    pixel_size_nm : float, nm
    reference_d_A : float, Å
        The spacing followed (e.g. 2.355 Å, Au {111}); strain is measured against it.
    band : float
        Relative half-width of the spacings searched around ``reference_d_A``.
    masks : (n_frames, ny, nx) array of bool, optional
        The region per frame (a tracked particle).
    false_spots : float
        See :func:`find_lattice_spots`.

    Returns
    -------
    DSpacingTrack

    Raises
    ------
    InvalidParameter
        Frames not 3D, masks of another shape, ``band`` not in (0, 0.5), and what
        :func:`find_lattice_spots` raises.
    """
    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise InvalidParameter(f"frames must be (n_frames, ny, nx); got shape {frames.shape}.")
    if masks is not None and np.shape(masks) != frames.shape:
        raise InvalidParameter(f"masks must have the frames' shape {frames.shape}; got {np.shape(masks)}.")
    if not 0 < band < 0.5:
        raise InvalidParameter(f"band must be in (0, 0.5); got {band}.")
    out = np.full((3, frames.shape[0]), np.nan)
    out[2] = 0.0
    for k, frame in enumerate(frames):
        spots = find_lattice_spots(frame, pixel_size_nm=pixel_size_nm, mask=None if masks is None else masks[k],
                                   min_d_A=reference_d_A * (1 - band), max_d_A=reference_d_A * (1 + band),
                                   false_spots=false_spots)
        if spots:
            out[:, k] = spots[0].d_spacing_A, spots[0].angle_deg, spots[0].ratio
    return DSpacingTrack(out[0], out[1], out[2], out[0] / reference_d_A - 1)
