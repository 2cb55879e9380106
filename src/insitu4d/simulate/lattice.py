"""Lattice images of FCC crystals on a zone axis: the twin of :mod:`insitu4d.lattice`.

A crystal seen along a zone axis ``[uvw]`` projects to columns of atoms. With Gaussian
columns of width ``σ``, the projected image is exactly the Fourier series over the
reflections of the zero-order Laue zone (Poisson summation):

    I(r) = 1 + contrast · Σ_g exp(−2π² σ² |g|²) cos(2π g · (r − r₀)) / Σ_g exp(−2π² σ² |g|²),

``g`` the allowed FCC reflections (``h, k, l`` all odd or all even) with ``g · [uvw] = 0``,
projected onto the image plane, below the Nyquist frequency. ``r₀`` places a column. The
series is evaluated on the pixel grid, so the spacings are exact and not rounded to pixels.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..errors import InvalidParameter

__all__ = ["fcc_lattice_image"]


def _plane_basis(zone: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two orthonormal vectors perpendicular to ``zone``."""
    z = zone / np.linalg.norm(zone)
    helper = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(helper, z)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(z, e1)


def fcc_lattice_image(shape, *, pixel_size_nm: float, lattice_constant_A: float, zone=(1, 1, 0),
                      rotation_deg: float = 0.0, column_sigma_A: float = 0.5, contrast: float = 0.3,
                      counts: float | None = None, mask=None, seed: int | None = None) -> np.ndarray:
    """An FCC crystal on a zone axis as a (noisy) lattice image.

    Parameters
    ----------
    shape : (int, int)
        (ny, nx), pixels.
    pixel_size_nm : float, nm
    lattice_constant_A : float, Å
        4.078 for Au.
    zone : (3,) sequence of int
        Zone axis ``[uvw]``.
    rotation_deg : float, degrees
        Rotation of the crystal in the image plane.
    column_sigma_A : float, Å
        Width of a projected column.
    contrast : float
        Amplitude of the lattice modulation relative to the mean.
    counts : float, optional
        Mean electrons per pixel; Poisson noise when given.
    mask : (ny, nx) array of bool, optional
        Where the crystal is; elsewhere the mean level only (an amorphous support).
    seed : int, optional
        Seeds the column origin and the noise.

    Returns
    -------
    (ny, nx) ndarray of float64
        Mean 1 without noise; counts with noise.

    Raises
    ------
    InvalidParameter
        Non-positive sizes, a zero zone axis, a mask of another shape.
    """
    ny, nx = (int(v) for v in shape)
    zone = np.asarray(zone, dtype=np.float64)
    if min(ny, nx) < 1 or not pixel_size_nm > 0 or not lattice_constant_A > 0 or not np.any(zone):
        raise InvalidParameter("fcc_lattice_image needs a positive shape, pixel size and lattice constant, and a "
                               "zone axis ≠ [000].")
    if mask is not None and np.shape(mask) != (ny, nx):
        raise InvalidParameter(f"mask must have shape {(ny, nx)}; got {np.shape(mask)}.")
    rng = np.random.default_rng(seed)
    pixel_A = 10.0 * pixel_size_nm
    e1, e2 = _plane_basis(zone)
    c, s = np.cos(np.radians(rotation_deg)), np.sin(np.radians(rotation_deg))
    nyquist = 0.5 / pixel_A
    top = int(np.ceil(lattice_constant_A * nyquist * np.sqrt(3))) + 1
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64) * pixel_A
    origin = rng.uniform(0, lattice_constant_A, 2)
    wave = np.zeros((ny, nx))
    total = 0.0
    for hkl in itertools.product(range(-top, top + 1), repeat=3):
        if not any(hkl) or len({v % 2 for v in hkl}) != 1 or np.dot(hkl, zone) != 0:
            continue
        g = np.asarray(hkl, dtype=np.float64) / lattice_constant_A
        g1, g2 = g @ e1, g @ e2
        gx, gy = c * g1 - s * g2, s * g1 + c * g2
        if np.hypot(gx, gy) >= nyquist:
            continue
        weight = np.exp(-2 * np.pi ** 2 * column_sigma_A ** 2 * (gx ** 2 + gy ** 2))
        wave += weight * np.cos(2 * np.pi * (gx * (x - origin[1]) + gy * (y - origin[0])))
        total += weight
    image = 1.0 + contrast * wave / max(total, 1e-300) * (1.0 if mask is None else np.asarray(mask, dtype=float))
    if counts is not None:
        image = rng.poisson(np.maximum(image, 0.0) * counts).astype(np.float64)
    return image
