"""Phantoms of the digital twin: particles and sintering pairs, voxelised with ground truth.

A scene is a list of spheres (or ellipsoids) and of sintering pairs. A pair is two spheres
(equal or not) joined by the model-C neck (:func:`insitu4d.physics.model_c_distance`): the union
of the spheres and a cylindrical collar of radius ``r_n`` between them, which conserves
the volume of the two spheres at every neck radius. The pair's two halves (split at the
neck plane) carry their own labels, as the segmentation should split them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameter
from ..physics import model_c_com_distance, model_c_distance, model_c_distance_unequal, model_c_halves

__all__ = ["Sphere", "Spheroid", "SinteringPair", "voxelise"]


@dataclass(frozen=True)
class Sphere:
    """A particle: centre (z, y, x) in nm, semi-axes (z, y, x) in nm, atomic number ``Z``.

    Equal semi-axes make a sphere; unequal ones an axis-aligned ellipsoid.
    """

    centre_nm: tuple[float, float, float]
    semi_axes_nm: tuple[float, float, float]
    Z: int = 29

    @classmethod
    def round(cls, centre_nm, radius_nm: float, Z: int = 29) -> Sphere:
        return cls(tuple(map(float, centre_nm)), (float(radius_nm),) * 3, int(Z))


@dataclass(frozen=True)
class Spheroid:
    """A particle of revolution: centre (z, y, x) nm, symmetry ``axis`` (z, y, x), semi-axes along and
    across it (nm), atomic number ``Z``. Two coalescing particles relax through such shapes to a sphere."""

    centre_nm: tuple[float, float, float]
    axis: tuple[float, float, float]
    semi_axis_along_nm: float
    semi_axis_across_nm: float
    Z: int = 29


@dataclass(frozen=True)
class SinteringPair:
    """Two spheres joined by a model-C neck of radius ``r_n_nm``.

    Sphere a has radius ``r_p_nm``, sphere b ``r_p_b_nm`` (default: equal). ``midpoint_nm``
    (z, y, x) is the midpoint of the sphere centres; ``axis`` the unit vector from sphere a
    to sphere b. The centres sit at ± d/2 along the axis, d from model C
    (:func:`insitu4d.physics.model_c_distance_unequal`). The halves are split at the plane
    that gives each its sphere's volume (:func:`insitu4d.physics.model_c_halves`; the
    midpoint plane for equal spheres).
    """

    midpoint_nm: tuple[float, float, float]
    axis: tuple[float, float, float]
    r_p_nm: float
    r_n_nm: float
    Z: int = 29
    r_p_b_nm: float | None = None

    @property
    def radii_nm(self) -> tuple[float, float]:
        """(r_a, r_b), nm."""
        return float(self.r_p_nm), float(self.r_p_nm if self.r_p_b_nm is None else self.r_p_b_nm)

    @property
    def d_nm(self) -> float:
        """Sphere-centre distance (model C)."""
        r_a, r_b = self.radii_nm
        if r_a == r_b:
            return float(model_c_distance(self.r_n_nm, r_a))
        return float(model_c_distance_unequal(self.r_n_nm, r_a, r_b))

    @property
    def split_nm(self) -> float:
        """Neck plane along the axis from the midpoint (0 for equal spheres or no neck)."""
        r_a, r_b = self.radii_nm
        if r_a == r_b or self.r_n_nm <= 0:
            return 0.0
        return model_c_halves(self.r_n_nm, r_a, r_b).split

    @property
    def d_com_nm(self) -> float:
        """Distance between the centres of mass of the two halves (model C)."""
        r_a, r_b = self.radii_nm
        if r_a == r_b:
            return float(model_c_com_distance(self.r_n_nm, r_a))
        if self.r_n_nm <= 0:
            return self.d_nm
        return model_c_halves(self.r_n_nm, r_a, r_b).d_com

    def centres_nm(self) -> tuple[np.ndarray, np.ndarray]:
        mid, u = np.asarray(self.midpoint_nm, float), _unit(self.axis)
        return mid - u * self.d_nm / 2, mid + u * self.d_nm / 2


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(v)
    if n == 0:
        raise InvalidParameter("a sintering pair's axis must be a non-zero vector.")
    return v / n


def voxelise(shape, voxel_size_nm: float, spheres=(), pairs=(), *, supersample: int = 3):
    """Voxelise a scene: fill fraction per voxel, labels, and atomic number per voxel.

    The volume is centred: voxel (k, j, i) has its centre at ((k − (nz−1)/2) h, …) nm.

    Parameters
    ----------
    shape : (nz, ny, nx) tuple of int
    voxel_size_nm : float
    spheres : sequence of Sphere or Spheroid
        Labels 1 … len(spheres), in order.
    pairs : sequence of SinteringPair
        Labels continue after the spheres: pair p gets 2p+1 and 2p+2 (after the offset),
        sphere a's half first.
    supersample : int
        Sub-samples per voxel and axis for the fill fraction (3 → error ≪ 1 % of a
        particle's volume at r ≥ 5 voxels).

    Returns
    -------
    fill : (nz, ny, nx) ndarray of float32
        Fraction of each voxel inside some particle (0 … 1).
    labels : (nz, ny, nx) ndarray of uint16
        Particle of the voxel centre, 0 outside.
    Z : (nz, ny, nx) ndarray of uint8
        Atomic number of the voxel centre's particle, 0 outside.
    """
    shape = tuple(int(n) for n in shape)
    h = float(voxel_size_nm)
    fill = np.zeros(shape, np.float32)
    labels = np.zeros(shape, np.uint16)
    zmap = np.zeros(shape, np.uint8)
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    bodies = [(s, None) for s in spheres] + [(p, i) for i, p in enumerate(pairs)]
    next_label = 1
    for body, _ in bodies:
        lo, hi = _bounds(body, shape, h)
        if lo is None:
            next_label += 2 if isinstance(body, SinteringPair) else 1
            continue
        grids = [(np.arange(a, b) - (n - 1) / 2) * h for a, b, n in zip(lo, hi, shape)]
        frac = np.zeros(tuple(b - a for a, b in zip(lo, hi)), np.float32)
        for dz in sub:
            for dy in sub:
                for dx in sub:
                    frac += _inside(body, grids[0][:, None, None] + dz * h, grids[1][None, :, None] + dy * h,
                                    grids[2][None, None, :] + dx * h)
        frac /= supersample ** 3
        region = tuple(slice(a, b) for a, b in zip(lo, hi))
        centre_in = _inside(body, grids[0][:, None, None], grids[1][None, :, None], grids[2][None, None, :])
        if not isinstance(body, SinteringPair):
            lab = np.where(centre_in, next_label, 0)
            next_label += 1
        else:
            side = _axial(body, grids[0][:, None, None], grids[1][None, :, None],
                          grids[2][None, None, :]) > body.split_nm
            lab = np.where(centre_in, np.where(side, next_label + 1, next_label), 0)
            next_label += 2
        fill[region] = np.maximum(fill[region], frac)
        labels[region] = np.where(lab > 0, lab, labels[region])
        zmap[region] = np.where(lab > 0, body.Z, zmap[region])
    return fill, labels, zmap


def _axial(pair: SinteringPair, z, y, x):
    mid, u = np.asarray(pair.midpoint_nm, float), _unit(pair.axis)
    return (z - mid[0]) * u[0] + (y - mid[1]) * u[1] + (x - mid[2]) * u[2]


def _inside(body, z, y, x) -> np.ndarray:
    if isinstance(body, Sphere):
        c, a = body.centre_nm, body.semi_axes_nm
        return ((z - c[0]) / a[0]) ** 2 + ((y - c[1]) / a[1]) ** 2 + ((x - c[2]) / a[2]) ** 2 <= 1.0
    if isinstance(body, Spheroid):
        c, u = np.asarray(body.centre_nm, float), _unit(body.axis)
        t = (z - c[0]) * u[0] + (y - c[1]) * u[1] + (x - c[2]) * u[2]
        rho2 = (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 - t ** 2
        return (t / body.semi_axis_along_nm) ** 2 + rho2 / body.semi_axis_across_nm ** 2 <= 1.0
    mid = np.asarray(body.midpoint_nm, float)
    t = _axial(body, z, y, x)
    rho2 = (z - mid[0]) ** 2 + (y - mid[1]) ** 2 + (x - mid[2]) ** 2 - t ** 2
    half, (r_a, r_b) = body.d_nm / 2, body.radii_nm
    spheres = ((t + half) ** 2 + rho2 <= r_a * r_a) | ((t - half) ** 2 + rho2 <= r_b * r_b)
    collar = (np.abs(t) <= half) & (rho2 <= body.r_n_nm ** 2)
    return spheres | collar


def _bounds(body, shape, h):
    """Index range (lo, hi) of the voxels that may touch the body; (None, None) if outside."""
    if isinstance(body, Sphere):
        c, ext = np.asarray(body.centre_nm, float), np.asarray(body.semi_axes_nm, float)
    elif isinstance(body, Spheroid):
        c = np.asarray(body.centre_nm, float)
        ext = np.full(3, max(body.semi_axis_along_nm, body.semi_axis_across_nm))
    else:
        a, b = body.centres_nm()
        c, ext = (a + b) / 2, np.abs(b - a) / 2 + max(body.radii_nm)
    lo, hi = [], []
    for ci, ei, n in zip(c, ext, shape):
        a_ = int(np.floor((ci - ei) / h + (n - 1) / 2)) - 1
        b_ = int(np.ceil((ci + ei) / h + (n - 1) / 2)) + 2
        a_, b_ = max(a_, 0), min(b_, n)
        if b_ <= a_:
            return None, None
        lo.append(a_)
        hi.append(b_)
    return lo, hi
