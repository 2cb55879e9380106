"""Knock-on beam damage: the energy an electron can transfer to a nucleus, against displacement thresholds.

Relativistic elastic scattering of an electron of kinetic energy E by a nucleus of mass M
through the scattering angle θ transfers

    ΔE(θ) = 2 M E (E + 2 m c²) / [(M + m)² c² + 2 M E] · sin²(θ/2)

(in energy units: masses as rest energies, M c² = A · 931494.10242 keV, m c² = 510.99895 keV);
the maximum is at θ = π (head-on). Source: Hu et al., Nanoscale Adv. 6, 4237 (2024),
doi:10.1039/d4na00373j (their equation); R. F. Egerton, P. Li and M. Malac, Micron 35,
399 (2004), doi:10.1016/j.micron.2004.02.003; Williams & Carter, *Transmission Electron
Microscopy* (2nd ed., Springer 2009), §4.6. Reference values (docs/science.md §8): Ta at
200 keV 2.900 eV, O at 200 keV 32.80 eV, Cu at 300 keV 13.40 eV.

Whether that displaces an atom depends on a threshold the user gives: the bulk
displacement energy E_d (e.g. ~19 eV for Cu) or a surface-sputtering threshold, which Hu et
al. put at ½ to ⅕ of E_d. The thresholds are inputs, not tabulated here.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from ..errors import InvalidParameter

__all__ = ["ATOMIC_MASS_UNIT_KEV", "ELECTRON_REST_ENERGY_KEV", "energy_transfer_eV", "max_energy_transfer_eV",
           "threshold_beam_energy_keV", "knock_on_assessment"]

#: CODATA 2018 atomic mass unit and electron rest energy, keV.
ATOMIC_MASS_UNIT_KEV = 931494.10242
ELECTRON_REST_ENERGY_KEV = 510.99895


def _check(beam_keV, mass_u) -> None:
    for name, v in (("beam_keV", beam_keV), ("mass_u", mass_u)):
        arr = np.asarray(v, dtype=float)
        if np.any(~np.isfinite(arr)) or np.any(arr <= 0):
            raise InvalidParameter(f"{name} must be positive; got {v!r}.")


def energy_transfer_eV(beam_keV, mass_u, angle_deg=180.0):
    """Energy transferred to a nucleus by an electron scattered through ``angle_deg``, eV (module notes).

    Parameters
    ----------
    beam_keV : float or array_like
        Electron kinetic energy, keV (the accelerating voltage in kV).
    mass_u : float or array_like
        Nuclear (atomic) mass, u.
    angle_deg : float or array_like
        Electron scattering angle θ, degrees; 180 is head-on (the maximum).

    Returns
    -------
    float or ndarray
        ΔE(θ), eV.

    Raises
    ------
    InvalidParameter
        Energy or mass not positive.
    """
    _check(beam_keV, mass_u)
    E = np.asarray(beam_keV, float)
    M = np.asarray(mass_u, float) * ATOMIC_MASS_UNIT_KEV
    m = ELECTRON_REST_ENERGY_KEV
    theta = np.radians(np.asarray(angle_deg, float))
    de_keV = 2 * M * E * (E + 2 * m) / ((M + m) ** 2 + 2 * M * E) * np.sin(theta / 2) ** 2
    out = de_keV * 1e3
    return float(out) if out.ndim == 0 else out


def max_energy_transfer_eV(beam_keV, mass_u):
    """Head-on (θ = π) energy transfer, eV: :func:`energy_transfer_eV` at 180°.

    Parameters
    ----------
    beam_keV : float or array_like, keV
    mass_u : float or array_like, u

    Returns
    -------
    float or ndarray, eV

    Raises
    ------
    InvalidParameter
        A beam energy or mass that is not a positive number.
    """
    return energy_transfer_eV(beam_keV, mass_u, 180.0)


def threshold_beam_energy_keV(threshold_eV: float, mass_u: float) -> float:
    """The beam energy, keV, above which a head-on collision transfers more than ``threshold_eV``.

    The inverse of :func:`max_energy_transfer_eV` (which rises monotonically with E).
    Reference: Cu with E_d = 19 eV → 396.5 keV (docs/science.md §8).

    Parameters
    ----------
    threshold_eV : float, eV
        Displacement or sputtering threshold.
    mass_u : float, u

    Returns
    -------
    float, keV

    Raises
    ------
    InvalidParameter
        A threshold or mass that is not a positive number.
    """
    _check(threshold_eV, mass_u)
    return float(brentq(lambda e: max_energy_transfer_eV(e, mass_u) - threshold_eV, 1e-6, 1e6, xtol=1e-9))


def knock_on_assessment(beam_keV: float, mass_u: float, thresholds_eV: dict[str, float] | None = None) -> dict:
    """ΔE_max and, per user threshold, whether a head-on collision exceeds it and the threshold beam energy.

    Parameters
    ----------
    beam_keV : float, keV
    mass_u : float, u
    thresholds_eV : dict of str to float, eV, optional
        Named thresholds to compare with.

    Returns
    -------
    dict
        ``{"beam_keV", "mass_u", "max_energy_transfer_eV", "thresholds": {name: {"threshold_eV",
        "exceeded", "threshold_beam_keV", "min_angle_deg"}}}``; ``min_angle_deg`` is the
        smallest scattering angle that still transfers the threshold (None when none does).

    Raises
    ------
    InvalidParameter
        A beam energy, mass or threshold that is not a positive number.
    """
    emax = max_energy_transfer_eV(beam_keV, mass_u)
    result = {"beam_keV": float(beam_keV), "mass_u": float(mass_u), "max_energy_transfer_eV": emax, "thresholds": {}}
    for name, thr in (thresholds_eV or {}).items():
        _check(thr, mass_u)
        exceeded = emax > thr
        angle = float(np.degrees(2 * np.arcsin(np.sqrt(thr / emax)))) if exceeded else None
        result["thresholds"][name] = {"threshold_eV": float(thr), "exceeded": bool(exceeded),
                                      "threshold_beam_keV": threshold_beam_energy_keV(thr, mass_u),
                                      "min_angle_deg": angle}
    return result
