"""Thermodynamics of small metal clusters: size-dependent cohesive energy, mixing enthalpy and Gibbs energy.

Cohesive energy of an n-atom cluster (liquid-drop form; Hu et al., Nanoscale Adv. 6, 4237
(2024), doi:10.1039/d4na00373j, after W. H. Qi, Acc. Chem. Res. 49, 1587 (2016),
doi:10.1021/acs.accounts.6b00205):

    E_n = E_b (1 − n^(−1/3)),

with E_b the bulk cohesive energy (E_1 = 0, E_∞ = E_b).

Mixing enthalpy of a binary cluster of n atoms, mole fractions x_A + x_B = 1 (Hu et al.,
after Feng et al., Matter 2, 186 (2020), doi:10.1016/j.matt.2019.10.006), with the bulk
enthalpies H_A = −E_A, H_B = −E_B (negative):

    ΔH_mix = ΔH_bulk − n^(−1/3) [ΔH_bulk − H_A (x_A^(2/3) − x_A) − H_B (x_B^(2/3) − x_B)],
    ΔG_mix = ΔH_mix + R T (x_A ln x_A + x_B ln x_B).

**Reference state.** Hu et al. also write the long form
(ΔH_bulk + x_A H_A + x_B H_B)(1 − n^(−1/3)) − x_A H_A (1 − n_A^(−1/3)) − x_B H_B (1 − n_B^(−1/3))
without defining n_A, n_B. The two forms agree only if n_A = x_A n and n_B = x_B n: the
reference state is two *pure clusters* holding the same atoms (docs/science.md §7). That is
the assumption here, and it is why the "mixing" term is mostly the surface energy gained by
merging two small clusters into one: Au with Au at x = ½ still gives
ΔH = H n^(−1/3) (2^(1/3) − 1) (−7.789 kJ/mol at n = 1846; Hu et al. print −7.785). ΔH_bulk is a user
input.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameter

__all__ = ["GAS_CONSTANT_J_MOL_K", "EV_PER_ATOM_IN_KJ_MOL", "cohesive_energy", "mixing_enthalpy",
           "mixing_enthalpy_long_form", "mixing_gibbs_energy"]

#: CODATA 2018 molar gas constant, J/(mol K).
GAS_CONSTANT_J_MOL_K = 8.314462618
#: 1 eV/atom in kJ/mol (N_A e / 1000).
EV_PER_ATOM_IN_KJ_MOL = 96.48533212


def _atoms(n) -> np.ndarray:
    n = np.asarray(n, dtype=np.float64)
    if np.any(~np.isfinite(n)) or np.any(n < 1):
        raise InvalidParameter(f"a cluster holds at least 1 atom; got n = {n!r}.")
    return n


def _fraction(x_a) -> np.ndarray:
    x = np.asarray(x_a, dtype=np.float64)
    if np.any(~np.isfinite(x)) or np.any(x < 0) or np.any(x > 1):
        raise InvalidParameter(f"the mole fraction x_A must lie in [0, 1]; got {x_a!r}.")
    return x


def _out(v):
    v = np.asarray(v)
    return float(v) if v.ndim == 0 else v


def cohesive_energy(bulk_cohesive_energy, n_atoms):
    """E_n = E_b (1 − n^(−1/3)) of an n-atom cluster, in the unit of ``bulk_cohesive_energy`` (module notes).

    Parameters
    ----------
    bulk_cohesive_energy : float or array_like
        E_b (eV/atom or kJ/mol; e.g. Au 3.81 eV/atom, Kittel, *Introduction to Solid State
        Physics*, Table 3.1).
    n_atoms : float or array_like
        n ≥ 1.

    Returns
    -------
    float or ndarray
    """
    return _out(np.asarray(bulk_cohesive_energy, float) * (1.0 - _atoms(n_atoms) ** (-1.0 / 3.0)))


def mixing_enthalpy(x_a, n_atoms, h_a, h_b, dh_bulk=0.0):
    """Size-dependent mixing enthalpy ΔH_mix of a binary cluster, short form (module notes).

    Parameters
    ----------
    x_a : float or array_like
        Mole fraction of A (x_B = 1 − x_A).
    n_atoms : float or array_like
        Atoms in the mixed cluster.
    h_a, h_b : float
        Bulk enthalpies of A and B, H = −E_cohesive (negative), in the unit of the result
        (kJ/mol or eV/atom).
    dh_bulk : float
        Bulk mixing enthalpy ΔH_bulk (same unit).

    Returns
    -------
    float or ndarray

    Raises
    ------
    InvalidParameter
        x_A outside [0, 1] or a cluster of fewer than 1 atom.
    """
    x = _fraction(x_a)
    y = 1.0 - x
    inner = dh_bulk - h_a * (x ** (2 / 3) - x) - h_b * (y ** (2 / 3) - y)
    return _out(dh_bulk - _atoms(n_atoms) ** (-1 / 3) * inner)


def mixing_enthalpy_long_form(x_a, n_atoms, h_a, h_b, dh_bulk=0.0, n_a=None, n_b=None):
    """The long form of ΔH_mix with the reference clusters' sizes explicit (module notes).

    ``n_a`` and ``n_b`` default to x_A n and x_B n (pure clusters of the same atoms), where it
    equals :func:`mixing_enthalpy`.

    Parameters
    ----------
    x_a, n_atoms, h_a, h_b, dh_bulk
        As :func:`mixing_enthalpy`.
    n_a, n_b : float or array_like, optional
        Atoms in the pure reference clusters of A and B.

    Returns
    -------
    float or ndarray
        In the unit of ``h_a``.

    Raises
    ------
    InvalidParameter
        x_A outside [0, 1] or a cluster of fewer than 1 atom.
    """
    x = _fraction(x_a)
    y = 1.0 - x
    n = _atoms(n_atoms)
    n_a = x * n if n_a is None else _atoms(n_a)
    n_b = y * n if n_b is None else _atoms(n_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        term_a = np.where(x > 0, x * h_a * (1 - np.where(x > 0, n_a, 1.0) ** (-1 / 3)), 0.0)
        term_b = np.where(y > 0, y * h_b * (1 - np.where(y > 0, n_b, 1.0) ** (-1 / 3)), 0.0)
    return _out((dh_bulk + x * h_a + y * h_b) * (1 - n ** (-1 / 3)) - term_a - term_b)


def mixing_gibbs_energy(x_a, n_atoms, h_a, h_b, temperature_K, dh_bulk=0.0, *,
                        gas_constant=GAS_CONSTANT_J_MOL_K / 1000.0):
    """ΔG_mix = ΔH_mix + R T (x_A ln x_A + x_B ln x_B) (module notes).

    ``gas_constant`` is in the energy unit of ``h_a`` per kelvin: the default R in kJ/(mol K);
    pass k_B = 8.617333e-5 eV/K for eV/atom.

    Parameters
    ----------
    x_a, n_atoms, h_a, h_b, dh_bulk
        As :func:`mixing_enthalpy`.
    temperature_K : float, K
    gas_constant : float
        R (or k_B) in the unit of ``h_a`` per kelvin.

    Returns
    -------
    float or ndarray
        In the unit of ``h_a``.

    Raises
    ------
    InvalidParameter
        A negative temperature, x_A outside [0, 1] or a cluster of fewer than 1 atom.
    """
    if np.any(np.asarray(temperature_K, float) < 0):
        raise InvalidParameter(f"temperature_K must be ≥ 0 K; got {temperature_K!r}.")
    x = _fraction(x_a)
    y = 1.0 - x
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0) \
            + np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0)), 0.0)
    return _out(np.asarray(mixing_enthalpy(x, n_atoms, h_a, h_b, dh_bulk)) + gas_constant * np.asarray(temperature_K)
                * entropy)
