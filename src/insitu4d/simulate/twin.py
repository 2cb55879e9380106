"""The digital twin of a heating experiment: sintering pairs in time, imaged as low-dose HAADF tilt series.

Each sintering pair follows the initial-stage law (r_n / r_p)^n = B (t − t₀) (Kuczynski,
Trans. AIME 185, 169 (1949); Coble, J. Appl. Phys. 32, 787 (1961),
doi:10.1063/1.1736107; docs/science.md §1) with its centre distance from model C, so the
total volume is conserved at every time point. Every time point gets a fresh tilt series
with its own noise, drift and misalignment; the ground truth of every pair is recorded
beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameter
from ..io import write_csv, write_json, write_tilt_series
from ..io.output_folder import check_output_folder
from .haadf import LAMBDA_CU_NM, haadf_tilt_series
from .phantom import SinteringPair, Sphere, voxelise

__all__ = ["PairSpec", "TwinSpec", "neck_radius_nm", "simulate_scene", "simulate_time_point", "write_twin",
           "TRUTH_COLUMNS"]

TRUTH_COLUMNS = ["time_s", "pair_id", "label_a", "label_b", "r_n_nm", "d_nm", "d_com_nm", "r_p_nm"]


@dataclass(frozen=True)
class PairSpec:
    """A sintering pair of the twin: where it is, its particle radius and its neck-growth law.

    Attributes
    ----------
    midpoint_nm : (z, y, x) nm
    axis : (z, y, x) direction from particle a to particle b
    r_p_nm : float
    law_n : float
        Exponent n of (r_n/r_p)^n = B (t − t₀).
    law_B_per_s : float
        B, 1/s.
    t0_s : float
        Time origin t₀ (the law gives r_n = 0 there).
    max_neck_ratio : float
        r_n/r_p is capped here (the initial-stage law ends).
    Z : int
    """

    midpoint_nm: tuple[float, float, float]
    axis: tuple[float, float, float]
    r_p_nm: float
    law_n: float = 5.0
    law_B_per_s: float = 1e-3
    t0_s: float = 0.0
    max_neck_ratio: float = 0.9
    Z: int = 29


@dataclass(frozen=True)
class TwinSpec:
    """Everything the twin needs: scene, imaging and time points.

    Attributes
    ----------
    shape_px : (nz, ny, nx)
        Volume size; images are (ny, nx) with the tilt axis along y.
    pixel_size_nm : float
    tilts_deg : tuple of float
    dose_e_per_nm2 : float
        Per tilt series.
    times_s : tuple of float
    pairs : tuple of PairSpec
    spheres : tuple of Sphere
        Particles that do not sinter.
    seed : int
    drift_max_px, tilt_axis_offset_px, tilt_axis_rotation_deg : float
        Misalignment (see :func:`insitu4d.simulate.haadf.haadf_tilt_series`).
    lambda_cu_nm : float
    """

    shape_px: tuple[int, int, int]
    pixel_size_nm: float
    tilts_deg: tuple[float, ...]
    dose_e_per_nm2: float
    times_s: tuple[float, ...]
    pairs: tuple[PairSpec, ...] = ()
    spheres: tuple[Sphere, ...] = ()
    seed: int = 0
    drift_max_px: float = 0.0
    tilt_axis_offset_px: float = 0.0
    tilt_axis_rotation_deg: float = 0.0
    lambda_cu_nm: float = LAMBDA_CU_NM


def neck_radius_nm(pair: PairSpec, time_s: float) -> float:
    """r_n(t) = r_p [B (t − t₀)]^(1/n), 0 before t₀, capped at ``max_neck_ratio`` r_p.

    Parameters
    ----------
    pair : PairSpec
    time_s : float, s

    Returns
    -------
    float, nm

    Raises
    ------
    InvalidParameter
        A law with n ≤ 0 or B < 0.
    """
    if pair.law_n <= 0 or pair.law_B_per_s < 0:
        raise InvalidParameter(f"the neck-growth law needs n > 0 and B ≥ 0; got n={pair.law_n}, "
                               f"B={pair.law_B_per_s}.")
    x = max(pair.law_B_per_s * (time_s - pair.t0_s), 0.0) ** (1.0 / pair.law_n)
    return pair.r_p_nm * min(x, pair.max_neck_ratio)


def simulate_scene(shape_px, pixel_size_nm: float, tilts_deg, dose_e_per_nm2: float, *, spheres=(), pairs=(),
                   rng: np.random.Generator, drift_max_px: float = 0.0, tilt_axis_offset_px: float = 0.0,
                   tilt_axis_rotation_deg: float = 0.0, lambda_cu_nm: float = LAMBDA_CU_NM):
    """One low-dose HAADF tilt series of a scene of spheres and sintering pairs, with its truth.

    Parameters
    ----------
    shape_px : (nz, ny, nx)
    pixel_size_nm : float
    tilts_deg : (n_tilts,) array_like, degrees
    dose_e_per_nm2 : float
        Per tilt series.
    spheres : sequence of Sphere
    pairs : sequence of SinteringPair
    rng : numpy.random.Generator
        Noise and drift.
    drift_max_px, tilt_axis_offset_px, tilt_axis_rotation_deg, lambda_cu_nm : float
        See :func:`insitu4d.simulate.haadf.haadf_tilt_series`.

    Returns
    -------
    tilt_series : TiltSeries
        Detected counts, ``(n_tilts, ny, nx)``.
    truth : list of dict
        One row per pair: ``pair_id`` (1 …), ``label_a``, ``label_b``, ``r_n_nm``,
        ``d_nm`` (sphere centres), ``d_com_nm`` (centroids of the two halves), ``r_p_nm`` (the
        mean of the two spheres' radii: each half has its sphere's volume).
    labels : (nz, ny, nx) ndarray of uint16
        Ground-truth labels (spheres first, then two per pair).
    shifts_px : (n_tilts, 2) ndarray
        Drift and axis offset applied to each image.
    """
    fill, labels, zmap = voxelise(shape_px, pixel_size_nm, spheres, pairs)
    ts, _, shifts = haadf_tilt_series(fill, zmap, pixel_size_nm, tilts_deg, dose_e_per_nm2=dose_e_per_nm2, rng=rng,
                                      drift_max_px=drift_max_px, tilt_axis_offset_px=tilt_axis_offset_px,
                                      tilt_axis_rotation_deg=tilt_axis_rotation_deg, lambda_cu_nm=lambda_cu_nm)
    first = len(spheres) + 1
    truth = [{"pair_id": i + 1, "label_a": first + 2 * i, "label_b": first + 2 * i + 1, "r_n_nm": p.r_n_nm,
              "d_nm": p.d_nm, "d_com_nm": p.d_com_nm, "r_p_nm": float(np.mean(p.radii_nm))}
             for i, p in enumerate(pairs)]
    return ts, truth, labels, shifts


def simulate_time_point(spec: TwinSpec, index: int):
    """The tilt series and ground truth of time point ``index`` (see :func:`simulate_scene`).

    Parameters
    ----------
    spec : TwinSpec
    index : int
        Time point, 0-based.

    Returns
    -------
    tilt_series, truth, labels, shifts_px
        As :func:`simulate_scene`; each truth row also has ``time_s``.
    """
    t = float(spec.times_s[index])
    pairs = [SinteringPair(p.midpoint_nm, p.axis, p.r_p_nm, neck_radius_nm(p, t), p.Z) for p in spec.pairs]
    ts, truth, labels, shifts = simulate_scene(
        spec.shape_px, spec.pixel_size_nm, spec.tilts_deg, spec.dose_e_per_nm2, spheres=spec.spheres, pairs=pairs,
        rng=np.random.default_rng([spec.seed, index]), drift_max_px=spec.drift_max_px,
        tilt_axis_offset_px=spec.tilt_axis_offset_px, tilt_axis_rotation_deg=spec.tilt_axis_rotation_deg,
        lambda_cu_nm=spec.lambda_cu_nm)
    return ts, [{"time_s": t, **row} for row in truth], labels, shifts


def write_twin(spec: TwinSpec, outdir) -> dict:
    """Simulate every time point and write ``T01.mrc`` + ``T01.rawtlt`` … and ``truth.csv``.

    Parameters
    ----------
    spec : TwinSpec
    outdir : str or Path
        Folder, created when missing; checked before any simulation.

    Returns
    -------
    dict
        ``{"tilt_series": [paths], "truth": path}``.

    Raises
    ------
    UnwritableOutput
        ``outdir`` is a file or cannot be written.
    """
    outdir = check_output_folder(outdir)
    rows, stacks, shifts = [], [], {}
    for i in range(len(spec.times_s)):
        ts, truth, _, applied = simulate_time_point(spec, i)
        mrc, _ = write_tilt_series(outdir / f"T{i + 1:02d}.mrc", ts)
        stacks.append(str(mrc))
        rows.extend(truth)
        shifts[mrc.name] = applied
    truth_path = write_csv(outdir / "truth.csv", rows, TRUTH_COLUMNS)
    write_json(outdir / "applied_shifts.json", shifts)
    return {"tilt_series": stacks, "truth": str(truth_path)}
