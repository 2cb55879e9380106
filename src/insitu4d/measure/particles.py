"""Per-particle measurements on a label volume, in nm."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..distance import distance_to_background
from .labels import check_labels
from .records import Record, quantity

__all__ = ["Particle", "measure_particles", "foreground_edt"]


@dataclass(frozen=True)
class Particle(Record):
    """One labelled particle (:func:`~insitu4d.measure.particles.measure_particles`); lengths in nm.

    Positions are (z, y, x) from the centre of voxel (0, 0, 0).
    """

    label: int = quantity()
    n_voxels: int = quantity(timeseries=False)
    volume_nm3: float = quantity("nm³")
    r_p_nm: float = quantity("nm")
    r_inscribed_nm: float = quantity("nm", timeseries=False)
    centroid_nm: tuple[float, float, float] = quantity("nm", kind="vector")
    centre_nm: tuple[float, float, float] = quantity("nm", kind="vector", timeseries=False)
    extent_nm: tuple[float, float, float] = quantity("nm", kind="vector", timeseries=False)
    aspect_ratio_hw: float = quantity()
    touches_border: bool = quantity(timeseries=False)

    @property
    def size(self) -> float:
        """The amount of the particle the tracker books (:mod:`insitu4d.measure.tracking`): its volume, nm³."""
        return self.volume_nm3


def foreground_edt(labels: np.ndarray) -> np.ndarray:
    """Euclidean distance (voxels) of each particle voxel to the nearest background voxel centre.

    The volume outside the array counts as background. Computed inside the bounding box
    of the foreground (padded by one voxel); 0 on background.

    Parameters
    ----------
    labels : (nz, ny, nx) ndarray of int

    Returns
    -------
    (nz, ny, nx) ndarray of float, voxels
    """
    fg = labels > 0
    out = np.zeros(labels.shape, np.float64)
    box = ndimage.find_objects(fg.astype(np.int8))
    if not box:
        return out
    box = box[0]
    out[box] = distance_to_background(np.pad(fg[box], 1))[1:-1, 1:-1, 1:-1]
    return out


def measure_particles(labels, voxel_size_nm: float, *, edt: np.ndarray | None = None) -> list[Particle]:
    """Size, position and shape of every labelled particle.

    * ``volume_nm3``: voxel count × voxel volume.
    * ``r_p_nm``: equal-volume (equivalent-sphere) radius (3V/4π)^(1/3); exact for the
      halves of a volume-conserving sintering body (docs/science.md §2, model C).
    * ``r_inscribed_nm``: maximum of the foreground distance transform (distance to the
      nearest background voxel centre, which lies just outside the surface) inside the
      particle: the radius of the largest inscribed sphere, R for a truncated sphere of
      radius R. On voxelised spheres it reads R − 0.4 voxel on average (the voxel nearest
      the centre is up to √3/2 voxel off it).
    * ``centre_nm``: where that maximum is (the "farthest point from the outside").
    * ``centroid_nm``: centre of mass (uniform density).
    * ``extent_nm``: bounding-box edge lengths.
    * ``aspect_ratio_hw``: √(λ_max/λ_min) of the covariance of the voxel positions (longest
      over shortest principal axis; the 3D H/W), with the 1/12 voxel² of a voxel's own
      extent added to each eigenvalue.

    Parameters
    ----------
    labels : (nz, ny, nx) ndarray of int
        0 background, particles > 0.
    voxel_size_nm : float, nm
    edt : (nz, ny, nx) ndarray of float, optional
        :func:`foreground_edt` of ``labels`` if already computed.

    Returns
    -------
    list of Particle
        One per label present, in label order. Positions are (z, y, x) in nm from the
        centre of voxel (0, 0, 0).

    Raises
    ------
    NotAStack, InvalidParameter
    """
    labels, vs = check_labels(labels, voxel_size_nm)
    ids = np.unique(labels)
    ids = ids[ids > 0]
    if ids.size == 0:
        return []
    edt = foreground_edt(labels) if edt is None else edt
    fg = np.nonzero(labels)
    flat = labels[fg]
    n_max = int(ids.max()) + 1
    counts = np.bincount(flat, minlength=n_max).astype(np.float64)
    coords = [c.astype(np.float64) for c in fg]
    first = [np.bincount(flat, weights=c, minlength=n_max) for c in coords]
    second = {}
    for a in range(3):
        for b in range(a, 3):
            second[a, b] = np.bincount(flat, weights=coords[a] * coords[b], minlength=n_max)
    # per-label EDT maximum and its position, over the foreground voxels only
    vals = edt[fg]
    order = np.lexsort((vals, flat))
    last = order[np.flatnonzero(np.diff(np.append(flat[order], -1)) != 0)]  # last = largest per label
    edt_max = vals[last]
    edt_pos = [tuple(int(c[k]) for c in fg) for k in last]
    slices = ndimage.find_objects(labels)
    shape = np.array(labels.shape)
    out = []
    for k, lab in enumerate(ids):
        n = counts[lab]
        mean = np.array([first[a][lab] / n for a in range(3)])
        cov = np.empty((3, 3))
        for (a, b), s in second.items():
            cov[a, b] = cov[b, a] = s[lab] / n - mean[a] * mean[b]
        eig = np.clip(np.linalg.eigvalsh(cov), 0, None) + 1.0 / 12.0
        sl = slices[lab - 1]
        lo = np.array([s.start for s in sl])
        hi = np.array([s.stop for s in sl])
        volume = n * vs**3
        out.append(Particle(
            label=int(lab),
            n_voxels=int(n),
            volume_nm3=float(volume),
            r_p_nm=float((3 * volume / (4 * np.pi)) ** (1 / 3)),
            r_inscribed_nm=float(edt_max[k] * vs),
            centre_nm=tuple(float(c * vs) for c in edt_pos[k]),
            centroid_nm=tuple(float(c * vs) for c in mean),
            extent_nm=tuple(float(e * vs) for e in (hi - lo)),
            aspect_ratio_hw=float(np.sqrt(eig[-1] / eig[0])),
            touches_border=bool(np.any(lo == 0) or np.any(hi == shape)),
        ))
    return out
