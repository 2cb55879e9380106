"""Two-element composition from a HAADF volume: the linear Z-contrast model.

A HAADF volume is, voxel by voxel, proportional to the density of atoms times their
scattering power, which grows about as Z^γ with γ ≈ 1.7 (Pennycook & Jesson,
Ultramicroscopy 37, 14 (1991), doi:10.1016/0304-3991(91)90004-P; Hartel et al., Ultramicroscopy
63, 93 (1996)). For a binary A_x B_(1−x) of one atomic density ρ the reconstructed value is

    v = s ρ [x Z_A^γ + (1 − x) Z_B^γ],

s the scale of the reconstruction. With s ρ known from a region of known composition (a
pure-element region, or a particle whose mean composition EDX measured), each voxel's
fraction follows as x = (v / (s ρ) − Z_B^γ) / (Z_A^γ − Z_B^γ). This is the model the review of
Skorikov, Batenburg & Bals (J. Microsc. 289, 157 (2023), doi:10.1111/jmi.13167) describes for
HAADF-only quantification (its atom-counting form: Van den Bos et al., Phys. Rev. Lett. 116,
246101 (2016), doi:10.1103/PhysRevLett.116.246101). It assumes one atomic density across the
particle and a signal linear in thickness; channelling and the loss of linearity in thick
particles bias it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameter

__all__ = ["Z_EXPONENT", "ZContrastFraction", "scale_from_reference", "two_element_fraction"]

#: γ of the Z^γ scattering power of HAADF.
Z_EXPONENT = 1.7


@dataclass(frozen=True)
class ZContrastFraction:
    """Fraction of element A in a region.

    Attributes
    ----------
    fraction_map : (nz, ny, nx) ndarray of float32
        x per voxel (NaN outside the region); not clipped, so noise averages out.
    mean : float
        Mean x over the region.
    error : float
        Standard error of the mean from the voxels' spread (voxels taken as independent: a
        lower bound where the reconstruction correlates them).
    """

    fraction_map: np.ndarray
    mean: float
    error: float


def scale_from_reference(volume: np.ndarray, mask: np.ndarray, *, z_a: int, z_b: int, fraction_a: float,
                         gamma: float = Z_EXPONENT) -> float:
    """s ρ of the module docstring from a region of known composition.

    Parameters
    ----------
    volume : (nz, ny, nx) ndarray
    mask : (nz, ny, nx) ndarray of bool
        The reference region (a pure element: ``fraction_a`` 0 or 1; or a particle whose EDX
        composition is known).
    z_a, z_b : int
        Atomic numbers.
    fraction_a : float
        Known x of the region, in [0, 1].
    gamma : float

    Returns
    -------
    float

    Raises
    ------
    InvalidParameter
        An empty region, a fraction outside [0, 1], or atomic numbers outside 1–118.
    """
    _check(z_a, z_b)
    if not 0.0 <= fraction_a <= 1.0:
        raise InvalidParameter(f"the reference's fraction must lie in [0, 1]; got {fraction_a}.")
    mask = np.asarray(mask, bool)
    if not mask.any():
        raise InvalidParameter("the reference region holds no voxel.")
    power = fraction_a * z_a ** gamma + (1.0 - fraction_a) * z_b ** gamma
    return float(np.mean(np.asarray(volume, np.float64)[mask]) / power)


def two_element_fraction(volume: np.ndarray, mask: np.ndarray, *, z_a: int, z_b: int, scale: float,
                         gamma: float = Z_EXPONENT) -> ZContrastFraction:
    """x of A in each voxel of a region (module docstring).

    Parameters
    ----------
    volume : (nz, ny, nx) ndarray
    mask : (nz, ny, nx) ndarray of bool
    z_a, z_b : int
        Atomic numbers of A and B (different).
    scale : float
        s ρ (:func:`scale_from_reference`).
    gamma : float

    Returns
    -------
    ZContrastFraction

    Raises
    ------
    InvalidParameter
        Equal atomic numbers (Z contrast cannot tell them apart), a scale ≤ 0, or an empty region.
    """
    _check(z_a, z_b)
    if not scale > 0:
        raise InvalidParameter(f"the scale must be > 0; got {scale}.")
    mask = np.asarray(mask, bool)
    if not mask.any():
        raise InvalidParameter("the region holds no voxel.")
    x = (np.asarray(volume, np.float64) / scale - z_b ** gamma) / (z_a ** gamma - z_b ** gamma)
    values = x[mask]
    fraction_map = np.where(mask, x, np.nan).astype(np.float32)
    error = float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else float("nan")
    return ZContrastFraction(fraction_map, float(values.mean()), error)


def _check(z_a: int, z_b: int) -> None:
    for z in (z_a, z_b):
        if not 1 <= int(z) <= 118:
            raise InvalidParameter(f"atomic numbers lie in 1–118; got {z}.")
    if int(z_a) == int(z_b):
        raise InvalidParameter(f"A and B have the same atomic number {z_a}: Z contrast cannot tell them apart.")
