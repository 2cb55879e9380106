"""Composition per particle from element volumes: the share of each X-ray line's counts.

For particle P and line e, the counts are C_e = n_tilts Σ_{v ∈ P} x_e(v): a voxel's
reconstructed value is its expected counts per tilt and unit ray length, so over the
series it contributes about n_tilts times that. The count fraction is f_e = C_e / Σ_e C_e,
with the counting (multinomial) error σ_f = √(f_e (1 − f_e) / Σ_e C_e). These are fractions of
detected X-rays, not atomic fractions: those need each line's k-factor (Cliff & Lorimer,
J. Microsc. 103, 203 (1975), doi:10.1111/j.1365-2818.1975.tb03895.x) and absorption
corrections. The error holds counting statistics only, not the reconstruction's bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import InvalidParameter

__all__ = ["CompositionRow", "particle_composition", "COMPOSITION_COLUMNS"]

#: Columns of ``composition.csv``.
COMPOSITION_COLUMNS = ["particle", "line", "counts", "count_fraction", "count_fraction_error", "n_voxels"]


@dataclass(frozen=True)
class CompositionRow:
    """One particle and line of ``composition.csv``."""

    particle: int
    line: str
    counts: float
    count_fraction: float
    count_fraction_error: float
    n_voxels: int

    def to_row(self) -> dict:
        return {"particle": self.particle, "line": self.line, "counts": round(self.counts, 3),
                "count_fraction": round(self.count_fraction, 5),
                "count_fraction_error": round(self.count_fraction_error, 5), "n_voxels": self.n_voxels}


def particle_composition(labels: np.ndarray, volumes: np.ndarray, line_names, *, n_tilts: int
                         ) -> list[CompositionRow]:
    """Count fractions of each line in each particle (module docstring).

    Parameters
    ----------
    labels : (nz, ny, nx) ndarray of int
        Particles (0: background), on the grid of ``volumes``.
    volumes : (n_lines, nz, ny, nx) ndarray
        Element volumes (:func:`insitu4d.recon.poisson.mlem` units).
    line_names : sequence of str
    n_tilts : int

    Returns
    -------
    list of CompositionRow
        Particle by particle, lines in the given order.

    Raises
    ------
    InvalidParameter
        Shapes that do not match.
    """
    volumes = np.asarray(volumes, np.float64)
    names = list(line_names)
    if volumes.ndim != 4 or volumes.shape[1:] != labels.shape or volumes.shape[0] != len(names):
        raise InvalidParameter(f"element volumes {volumes.shape}, labels {labels.shape} and {len(names)} line names "
                               "do not match.")
    ids = np.unique(labels[labels > 0])
    if ids.size == 0:
        return []
    sizes = ndimage.sum_labels(np.ones(labels.shape), labels, ids)
    counts = np.stack([ndimage.sum_labels(np.maximum(v, 0), labels, ids) for v in volumes]) * n_tilts
    rows = []
    for j, pid in enumerate(ids):
        total = float(counts[:, j].sum())
        for i, name in enumerate(names):
            f = float(counts[i, j] / total) if total > 0 else float("nan")
            err = float(np.sqrt(f * (1 - f) / total)) if total > 0 else float("nan")
            rows.append(CompositionRow(int(pid), name, float(counts[i, j]), f, err, int(sizes[j])))
    return rows
