"""Necks between touching particles: contact area, neck radius r_n, centre distances."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from .labels import check_labels
from .particles import Particle, foreground_edt, measure_particles
from .protocol import measure_pair_protocol_2d
from .records import Record, quantity

__all__ = ["Pair", "Measurements", "interface_vectors", "measure_pairs", "measure"]


@dataclass(frozen=True)
class Pair(Record):
    """Two touching particles and their neck (:func:`~insitu4d.measure.necks.measure_pairs`); lengths in nm.

    ``labels`` are (i, j) with i < j; ``neck_normal`` points from i to j; ``protocol_2d`` is
    Ihara et al.'s 2D protocol's result (:func:`~insitu4d.measure.protocol.measure_pair_protocol_2d`)
    or None.
    """

    labels: tuple[int, int] = quantity(kind="labels")
    r_n_nm: float = quantity("nm")
    r_n_inscribed_nm: float = quantity("nm")
    contact_area_nm2: float = quantity("nm²", timeseries=False)
    d_nm: float = quantity("nm")
    d_xy_nm: float = quantity("nm", timeseries=False)
    d_z_nm: float = quantity("nm", timeseries=False)
    d_centre_nm: float = quantity("nm")
    r_p_nm: float = quantity("nm")
    r_n_over_r_p: float = quantity()
    d_over_2r_p: float = quantity()
    neck_normal: tuple[float, float, float] = quantity(kind="vector", timeseries=False)
    interface_faces: int = quantity(timeseries=False)
    neck_beam_angle_deg: float = quantity("deg", default=float("nan"))
    r_n_volume_nm: float = quantity("nm", default=float("nan"))
    d_volume_nm: float = quantity("nm", default=float("nan"))
    protocol_2d: dict | None = field(default=None, metadata={"unit": "", "kind": "protocol", "timeseries": True})


@dataclass(frozen=True)
class Measurements:
    """Everything :func:`~insitu4d.measure.measure` finds in one label volume.

    Attributes
    ----------
    voxel_size_nm : float, nm
    particles : tuple of Particle
        In label order.
    pairs : tuple of Pair
        In label order of (i, j).
    """

    voxel_size_nm: float
    particles: tuple[Particle, ...] = ()
    pairs: tuple[Pair, ...] = ()

    def particle(self, label: int) -> Particle:
        """The particle with this label.

        Parameters
        ----------
        label : int

        Returns
        -------
        Particle

        Raises
        ------
        KeyError
            No particle has it.
        """
        for p in self.particles:
            if p.label == label:
                return p
        raise KeyError(label)

    def to_dict(self) -> dict:
        """The form of ``measurements.json``.

        Returns
        -------
        dict
            ``voxel_size_nm``, ``particles`` and ``pairs`` (lists of :meth:`~insitu4d.measure.records.Record.to_dict`).
        """
        return {"voxel_size_nm": self.voxel_size_nm, "particles": [p.to_dict() for p in self.particles],
                "pairs": [p.to_dict() for p in self.pairs]}

    @classmethod
    def from_dict(cls, data: dict) -> "Measurements":
        """Read back :meth:`to_dict`'s form.

        Parameters
        ----------
        data : dict

        Returns
        -------
        Measurements
        """
        return cls(float(data["voxel_size_nm"]), tuple(Particle.from_dict(p) for p in data.get("particles", [])),
                   tuple(Pair.from_dict(p) for p in data.get("pairs", [])))

    @classmethod
    def load(cls, path) -> "Measurements":
        """Read a ``measurements.json`` file.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        Measurements

        Raises
        ------
        OSError, ValueError, KeyError, TypeError
            A missing, unreadable or malformed file (callers that resume catch these and run again).
        """
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def interface_vectors(labels: np.ndarray, edt: np.ndarray | None = None) -> dict[tuple[int, int], dict]:
    """Signed and raw face counts of the interface of every touching label pair.

    For a pair (i, j), i < j, and each axis a, ``S_a`` = #(faces crossed from i to j going
    along +a) − #(faces crossed from j to i going along +a). ``|S|`` is the area of the
    interface in voxel faces, exact for a planar interface of any orientation, and S/|S|
    its normal, pointing from i to j (discrete divergence theorem; docs/science.md §3).
    The raw count of faces overestimates a plane's area by |n_z| + |n_y| + |n_x|, up to √3.

    Parameters
    ----------
    labels : (nz, ny, nx) ndarray of int
    edt : (nz, ny, nx) ndarray of float, optional
        A distance transform; its maximum over the voxels on each interface is returned.

    Returns
    -------
    dict
        ``(i, j) -> {"S": (3,) ndarray (z, y, x), "faces": int, "edt_max": float}``
        (``edt_max`` is -inf without ``edt``).
    """
    labels = np.asarray(labels)
    n_max = int(labels.max()) + 1
    acc: dict[tuple[int, int], dict] = {}
    for axis in range(3):
        a = np.moveaxis(labels, axis, 0)
        lo, hi = a[:-1].ravel(), a[1:].ravel()
        sel = np.flatnonzero((lo != hi) & (lo > 0) & (hi > 0))
        if sel.size == 0:
            continue
        lo, hi = lo[sel].astype(np.int64), hi[sel].astype(np.int64)
        i, j = np.minimum(lo, hi), np.maximum(lo, hi)
        sign = np.where(lo < hi, 1, -1)
        uniq, inv = np.unique(i * n_max + j, return_inverse=True)
        signed = np.bincount(inv, weights=sign)
        raw = np.bincount(inv)
        emax = np.full(uniq.size, -np.inf)
        if edt is not None:
            e = np.moveaxis(edt, axis, 0)
            np.maximum.at(emax, inv, np.maximum(e[:-1].ravel()[sel], e[1:].ravel()[sel]))
        for n, (k, s, r) in enumerate(zip(uniq, signed, raw)):
            pair = (int(k // n_max), int(k % n_max))
            entry = acc.setdefault(pair, {"S": np.zeros(3), "faces": 0, "edt_max": -np.inf})
            entry["S"][axis] += s
            entry["faces"] += int(r)
            entry["edt_max"] = max(entry["edt_max"], float(emax[n]))
    return acc


def measure_pairs(labels, voxel_size_nm: float, particles: list[Particle] | None = None, *,
                  edt: np.ndarray | None = None) -> list[Pair]:
    """Neck and distance measurements for every pair of touching particles.

    * ``contact_area_nm2``: |S| × voxel area, the vector interface area
      (:func:`interface_vectors`).
    * ``r_n_nm``: √(A/π), the radius of the circle of that area; exact for a flat
      circular neck at any orientation. ``r_n_volume_nm`` keeps it when the pipeline
      replaces ``r_n_nm`` by the neck fitted to the tilt series (:mod:`insitu4d.neck_fit`).
    * ``r_n_inscribed_nm``: maximum of the foreground distance transform over the interface
      voxels: the inscribed neck radius (porespy's throat inscribed
      diameter / 2), the minor semi-axis for an elliptical neck.
    * ``d_nm``, ``d_xy_nm``, ``d_z_nm``: distance between the centroids (COM) and its
      in-plane (y, x) and beam (z) parts; ``d_centre_nm`` between the inscribed-sphere
      centres, the sphere-centre distance of the sintering models. ``d_volume_nm`` keeps
      ``d_nm`` when the pipeline replaces the distances by those of the neck fitted to the
      tilt series.
    * ``r_n_over_r_p`` and ``d_over_2r_p``, with r_p the mean equal-volume radius of the two.
    * ``neck_normal``: unit normal of the neck plane (z, y, x), from i to j.
    * ``neck_beam_angle_deg``: angle between that normal (the pair axis) and the beam at 0°
      tilt, arccos |n_z|: 90° for a pair in the image plane, 0° for a pair along the beam,
      whose neck the missing wedge's elongation along z blurs most (docs/science.md §4).

    Method: docs/science.md §3 (vector interface area; raw voxel-face counting
    overestimates r_n by up to 31 % for an oblique neck). Related code: porespy
    ``regions_to_network`` (Gostick et al., Phys. Rev. E 96, 023307 (2017),
    doi:10.1103/PhysRevE.96.023307).

    Parameters
    ----------
    labels : (nz, ny, nx) ndarray of int
    voxel_size_nm : float, nm
    particles : list of Particle, optional
        Output of :func:`measure_particles` for the same labels.
    edt : (nz, ny, nx) ndarray, optional
        :func:`~insitu4d.measure.particles.foreground_edt` of ``labels``.

    Returns
    -------
    list of Pair
        One per touching pair, ``labels`` = (i, j) with i < j; ``protocol_2d`` None.
    """
    labels, vs = check_labels(labels, voxel_size_nm)
    edt = foreground_edt(labels) if edt is None else edt
    if particles is None:
        particles = measure_particles(labels, vs, edt=edt)
    by_label = {p.label: p for p in particles}
    out = []
    for (i, j), iv in sorted(interface_vectors(labels, edt).items()):
        S = iv["S"]
        area_faces = float(np.linalg.norm(S))
        area = area_faces * vs**2
        r_n = float(np.sqrt(area / np.pi))
        r_n_ins = float(iv["edt_max"] * vs)
        pi, pj = by_label[i], by_label[j]
        dvec = np.subtract(pj.centroid_nm, pi.centroid_nm)
        cvec = np.subtract(pj.centre_nm, pi.centre_nm)
        d = float(np.linalg.norm(dvec))
        r_p = 0.5 * (pi.r_p_nm + pj.r_p_nm)
        out.append(Pair(
            labels=(int(i), int(j)),
            contact_area_nm2=area,
            r_n_nm=r_n,
            r_n_volume_nm=r_n,
            r_n_inscribed_nm=r_n_ins,
            interface_faces=int(iv["faces"]),
            neck_normal=tuple((S / area_faces).tolist()) if area_faces > 0 else (0.0, 0.0, 0.0),
            neck_beam_angle_deg=float(np.degrees(np.arccos(min(abs(S[0]) / area_faces, 1.0))))
            if area_faces > 0 else float("nan"),
            d_nm=d,
            d_volume_nm=d,
            d_xy_nm=float(np.hypot(dvec[1], dvec[2])),
            d_z_nm=float(abs(dvec[0])),
            d_centre_nm=float(np.linalg.norm(cvec)),
            r_p_nm=float(r_p),
            r_n_over_r_p=float(r_n / r_p) if r_p > 0 else float("nan"),
            d_over_2r_p=float(d / (2 * r_p)) if r_p > 0 else float("nan"),
        ))
    return out


def measure(labels, voxel_size_nm: float, *, protocol_2d: bool = True) -> Measurements:
    """All measurements of a label volume: its particles and its pairs of touching particles.

    See :func:`~insitu4d.measure.particles.measure_particles` and :func:`measure_pairs`.
    With ``protocol_2d``, every pair also holds ``protocol_2d``: the same pair measured by
    Ihara et al.'s projection protocol (:func:`~insitu4d.measure.protocol.measure_pair_protocol_2d`),
    to compare with the paper's numbers.

    Parameters
    ----------
    labels : (nz, ny, nx) ndarray of int
        0 background, 1..n particles.
    voxel_size_nm : float, nm
    protocol_2d : bool
        Also measure every pair by the 2D protocol.

    Returns
    -------
    Measurements
        ``voxel_size_nm``, ``particles`` (lengths in nm,
        :func:`~insitu4d.measure.particles.measure_particles`) and ``pairs``
        (:func:`measure_pairs`).

    Raises
    ------
    NotAStack, InvalidParameter
        As :func:`~insitu4d.measure.particles.check_labels`.
    """
    labels, vs = check_labels(labels, voxel_size_nm)
    edt = foreground_edt(labels)
    particles = measure_particles(labels, vs, edt=edt)
    pairs = measure_pairs(labels, vs, particles, edt=edt)
    if protocol_2d:
        boxes = ndimage.find_objects(labels)
        # each pair within the box of its two particles: the protocol crops to that box itself, so the
        # result is the same, without passes over the whole volume for every pair
        pairs = [dataclasses.replace(p, protocol_2d=measure_pair_protocol_2d(
            labels[_union_box(boxes[p.labels[0] - 1], boxes[p.labels[1] - 1])], vs, p.labels)) for p in pairs]
    return Measurements(vs, tuple(particles), tuple(pairs))


def _union_box(a: tuple, b: tuple) -> tuple:
    """The smallest box (tuple of slices) holding boxes ``a`` and ``b``."""
    return tuple(slice(min(sa.start, sb.start), max(sa.stop, sb.stop)) for sa, sb in zip(a, b))
