"""Composition per particle from element maps, and exchange fronts from element volumes.

A particle's share of each X-ray line is counted on the maps, not on the volumes: the
non-negative reconstruction of a few counts per pixel puts noise into every empty voxel,
which biases sums over a particle upwards for a line that is absent. On the maps, the
particle's footprint at each tilt (its labels projected, grown by one pixel) holds
N_e = Σ (y − β) net counts of line e over all tilts, with y the peak counts (Poisson) and β
the background; var N_e = Σ y. The count fraction f_e = N_e / T, T = Σ_k N_k, has the
counting error (first-order propagation)

    σ_f² = [(1 − f_e)² var N_e + f_e² Σ_{k≠e} var N_k] / T².

Pixels where another particle's footprint overlaps are left out (the fraction is then that
of the unshared part). These are fractions of detected X-rays, not atomic fractions: those
need each line's k-factor (Cliff & Lorimer, J. Microsc. 103, 203 (1975),
doi:10.1111/j.1365-2818.1975.tb03895.x) and absorption corrections.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import InvalidParameter

__all__ = ["CompositionRow", "particle_composition", "particle_footprints", "exchange_fronts", "COMPOSITION_COLUMNS"]

#: Columns of ``composition.csv``.
COMPOSITION_COLUMNS = ["particle", "line", "net_counts", "count_fraction", "count_fraction_error", "n_pixels"]


@dataclass(frozen=True)
class CompositionRow:
    """One particle and line of ``composition.csv``."""

    particle: int
    line: str
    net_counts: float
    count_fraction: float
    count_fraction_error: float
    n_pixels: int

    def to_row(self) -> dict:
        return {"particle": self.particle, "line": self.line, "net_counts": round(self.net_counts, 2),
                "count_fraction": round(self.count_fraction, 5),
                "count_fraction_error": round(self.count_fraction_error, 5), "n_pixels": self.n_pixels}


def particle_footprints(projector, labels: np.ndarray) -> dict[int, np.ndarray]:
    """Each particle's pixels at each tilt: its labels projected (> 1 % of a voxel), grown by one pixel.

    Parameters
    ----------
    projector : insitu4d.recon.projector.Projector
        Of the maps' geometry (aligned, tilt axis along y).
    labels : (nz, ny, nx) ndarray of int

    Returns
    -------
    dict of int -> (n_tilts, ny, nx) ndarray of bool
        Without the pixels that another particle's footprint shares.
    """
    ids = [int(i) for i in np.unique(labels[labels > 0])]
    grown = {}
    for pid in ids:
        shadow = projector.forward((labels == pid).astype(np.float32)) > 0.01
        grown[pid] = ndimage.binary_dilation(shadow, structure=np.ones((1, 3, 3), bool))
    if not grown:
        return {}
    covered = np.sum([g.astype(np.int16) for g in grown.values()], axis=0)
    return {pid: g & (covered == 1) for pid, g in grown.items()}


def particle_composition(peak: np.ndarray, background: np.ndarray, footprints: dict, line_names
                         ) -> list[CompositionRow]:
    """Net counts and count fractions of each line in each particle's footprint (module docstring).

    Parameters
    ----------
    peak, background : (n_lines, n_tilts, ny, nx) ndarray, counts
    footprints : dict of int -> (n_tilts, ny, nx) ndarray of bool
        :func:`particle_footprints`.
    line_names : sequence of str

    Returns
    -------
    list of CompositionRow
        Particle by particle, lines in the given order; fractions NaN where T ≤ 0.

    Raises
    ------
    InvalidParameter
        Shapes that do not match.
    """
    peak = np.asarray(peak, np.float64)
    background = np.asarray(background, np.float64)
    names = list(line_names)
    if peak.shape != background.shape or peak.ndim != 4 or peak.shape[0] != len(names):
        raise InvalidParameter(f"peak {peak.shape}, background {background.shape} and {len(names)} line names do not "
                               "match: (n_lines, n_tilts, ny, nx) each.")
    rows = []
    for pid, mask in footprints.items():
        if mask.shape != peak.shape[1:]:
            raise InvalidParameter(f"footprint {mask.shape} of particle {pid}; the maps are {peak.shape[1:]}.")
        net = np.array([float((peak[e] - background[e])[mask].sum()) for e in range(len(names))])
        var = np.array([float(peak[e][mask].sum()) for e in range(len(names))])
        total = float(net.sum())
        for e, name in enumerate(names):
            if total > 0:
                f = net[e] / total
                err = np.sqrt((1 - f) ** 2 * var[e] + f ** 2 * (var.sum() - var[e])) / total
            else:
                f = err = float("nan")
            rows.append(CompositionRow(pid, name, float(net[e]), float(f), float(err), int(mask.sum())))
    return rows


def exchange_fronts(leaving: np.ndarray, labels: np.ndarray, *, axis: int = 2, level: float = 0.5
                    ) -> tuple[float, float]:
    """Positions of the two exchange fronts of a rod whose cation leaves from its middle outwards.

    Along the rod (``axis``), the profile of the leaving cation (Cd in CdSe → Cu₂Se) summed
    over the rod's cross-section is flat where the end is still pristine and zero behind the
    front. From the middle of the rod outwards, each front is where the profile first
    rises through ``level`` × its plateau (the 90th percentile of the profile over that
    end), interpolated linearly between voxel centres. An end whose leaving cation is gone
    (its counts below 3 √ of its voxel count, a noise level) has its front at the rod's tip.

    Parameters
    ----------
    leaving : (nz, ny, nx) ndarray
        Volume of the leaving cation.
    labels : (nz, ny, nx) ndarray of int
        The rod (> 0).
    axis : int
        The rod's long axis.
    level : float
        Fraction of the plateau that marks the front.

    Returns
    -------
    (float, float)
        Front positions (low side, high side) along ``axis``, voxels (voxel centres at integers).

    Raises
    ------
    InvalidParameter
        Shapes that differ, or no rod.
    """
    if leaving.shape != labels.shape:
        raise InvalidParameter(f"the volume {leaving.shape} and the labels {labels.shape} differ in shape.")
    rod = labels > 0
    if not rod.any():
        raise InvalidParameter("the labels hold no rod.")
    others = tuple(a for a in range(3) if a != axis)
    profile = np.where(rod, np.maximum(leaving, 0), 0).sum(axis=others)
    extent = np.nonzero(rod.any(axis=others))[0]
    first, last = int(extent[0]), int(extent[-1])
    middle = (first + last) / 2.0
    fronts = []
    for side in (-1, 1):
        positions = np.arange(int(np.floor(middle)) if side < 0 else int(np.ceil(middle)),
                              first - 1 if side < 0 else last + 1, side)
        values = profile[positions]
        tip = float(first - 0.5) if side < 0 else float(last + 0.5)
        outer = values[int(len(values) * 0.5):]
        if values.sum() < 3.0 * np.sqrt(rod.sum() / 2.0) or outer.size == 0:
            fronts.append(tip)
            continue
        threshold = level * float(np.percentile(outer, 90))
        above = np.nonzero(values >= threshold)[0]
        if above.size == 0:
            fronts.append(tip)
            continue
        k = int(above[0])
        if k == 0:
            fronts.append(float(positions[0]))
            continue
        v0, v1 = values[k - 1], values[k]
        t = (threshold - v0) / (v1 - v0) if v1 != v0 else 0.5
        fronts.append(float(positions[k - 1] + side * t))
    return fronts[0], fronts[1]
