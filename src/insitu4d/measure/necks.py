"""Necks between touching particles: contact area, neck radius r_n, centre distances."""

from __future__ import annotations

import numpy as np

from .particles import check_labels, foreground_edt, measure_particles
from .protocol import measure_pair_protocol_2d

__all__ = ["interface_vectors", "measure_pairs", "measure"]


def interface_vectors(labels: np.ndarray, edt: np.ndarray | None = None) -> dict[tuple[int, int], dict]:
    """Signed and raw face counts of the interface of every touching label pair.

    For a pair (i, j), i < j, and each axis a, ``S_a`` = #(faces crossed from i to j going
    along +a) − #(faces crossed from j to i going along +a). ``|S|`` is the area of the
    interface in voxel faces, exact for a planar interface of any orientation, and S/|S|
    its normal, pointing from i to j (discrete divergence theorem; science notes §3.2).
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


def measure_pairs(labels, voxel_size_nm: float, particles: list[dict] | None = None, *,
                  edt: np.ndarray | None = None) -> list[dict]:
    """Neck and distance measurements for every pair of touching particles.

    * ``contact_area_nm2``: |S| × voxel area, the vector interface area
      (:func:`interface_vectors`).
    * ``r_n_nm``: √(A/π), the radius of the circle of that area; exact for a flat
      circular neck at any orientation.
    * ``r_n_inscribed_nm``: maximum of the foreground distance transform over the interface
      voxels: the inscribed neck radius (porespy's throat inscribed
      diameter / 2), the minor semi-axis for an elliptical neck.
    * ``d_nm``, ``d_xy_nm``, ``d_z_nm``: distance between the centroids (COM) and its
      in-plane (y, x) and beam (z) parts; ``d_centre_nm`` between the inscribed-sphere
      centres, the sphere-centre distance of the sintering models.
    * ``r_n_over_r_p`` and ``d_over_2r_p``, with r_p the mean equal-volume radius of the two.
    * ``neck_normal``: unit normal of the neck plane (z, y, x), from i to j.

    Method: science notes §3.2 (vector interface area; raw voxel-face counting
    overestimates r_n by up to 31 % for an oblique neck). Related code: porespy
    ``regions_to_network`` (Gostick et al., Phys. Rev. E 96, 023307 (2017),
    doi:10.1103/PhysRevE.96.023307).

    Parameters
    ----------
    labels : (nz, ny, nx) ndarray of int
    voxel_size_nm : float, nm
    particles : list of dict, optional
        Output of :func:`measure_particles` for the same labels.
    edt : (nz, ny, nx) ndarray, optional
        :func:`~insitu4d.measure.particles.foreground_edt` of ``labels``.

    Returns
    -------
    list of dict
        One per touching pair, ``labels`` = [i, j] with i < j.
    """
    labels, vs = check_labels(labels, voxel_size_nm)
    edt = foreground_edt(labels) if edt is None else edt
    if particles is None:
        particles = measure_particles(labels, vs, edt=edt)
    by_label = {p["label"]: p for p in particles}
    out = []
    for (i, j), iv in sorted(interface_vectors(labels, edt).items()):
        S = iv["S"]
        area_faces = float(np.linalg.norm(S))
        area = area_faces * vs**2
        r_n = float(np.sqrt(area / np.pi))
        r_n_ins = float(iv["edt_max"] * vs)
        pi, pj = by_label[i], by_label[j]
        dvec = np.subtract(pj["centroid_nm"], pi["centroid_nm"])
        cvec = np.subtract(pj["centre_nm"], pi["centre_nm"])
        d = float(np.linalg.norm(dvec))
        r_p = 0.5 * (pi["r_p_nm"] + pj["r_p_nm"])
        out.append({
            "labels": [int(i), int(j)],
            "contact_area_nm2": area,
            "r_n_nm": r_n,
            "r_n_inscribed_nm": r_n_ins,
            "interface_faces": int(iv["faces"]),
            "neck_normal": (S / area_faces).tolist() if area_faces > 0 else [0.0, 0.0, 0.0],
            "d_nm": d,
            "d_xy_nm": float(np.hypot(dvec[1], dvec[2])),
            "d_z_nm": float(abs(dvec[0])),
            "d_centre_nm": float(np.linalg.norm(cvec)),
            "r_p_nm": float(r_p),
            "r_n_over_r_p": float(r_n / r_p) if r_p > 0 else float("nan"),
            "d_over_2r_p": float(d / (2 * r_p)) if r_p > 0 else float("nan"),
        })
    return out


def measure(labels, voxel_size_nm: float, *, protocol_2d: bool = True) -> dict:
    """All measurements of a label volume: ``{"particles": [...], "pairs": [...]}``.

    See :func:`~insitu4d.measure.particles.measure_particles` and :func:`measure_pairs`.
    With ``protocol_2d``, every pair also holds ``"protocol_2d"``: the same pair measured by
    Ihara et al.'s projection protocol (:func:`~insitu4d.measure.protocol.measure_pair_protocol_2d`),
    to compare with the paper's numbers.
    """
    labels, vs = check_labels(labels, voxel_size_nm)
    edt = foreground_edt(labels)
    particles = measure_particles(labels, vs, edt=edt)
    pairs = measure_pairs(labels, vs, particles, edt=edt)
    if protocol_2d:
        for pair in pairs:
            pair["protocol_2d"] = measure_pair_protocol_2d(labels, vs, tuple(pair["labels"]))
    return {"voxel_size_nm": vs, "particles": particles, "pairs": pairs}
