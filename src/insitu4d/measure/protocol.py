"""Ihara et al.'s 2D measurement protocol for a sintering pair, beside the 3D estimators.

Ihara et al., Nanoscale 15, 10133 (2023), doi:10.1039/d3nr00992k, main text and Fig. 7
(docs/science.md §3): the pair is cut out of the tomogram, projected along the beam (z),
binarised, and measured in the projection. Its estimators are biased against the 3D ones
(§3.1 "Biases"): the silhouette centroid is not the 3D centre of mass, and the projected
neck width reads wide when the pair axis leaves the image plane. They are given so a user
can reproduce the paper's numbers and see them beside :func:`~insitu4d.measure.measure_pairs`.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import InvalidParameter
from .labels import check_labels

__all__ = ["measure_pair_protocol_2d", "protocol_2d_columns", "PROTOCOL_2D_COLUMNS"]

_KEYS = ("r_n_nm", "d_nm", "d_xy_nm", "d_z_nm", "r_p_nm", "r_n_over_r_p", "d_over_2r_p", "aspect_ratio_hw")


def _column(key: str) -> str:
    return key[:-3] + "_2d_nm" if key.endswith("_nm") else key + "_2d"


#: Table columns of the protocol's numbers: ``r_n_2d_nm``, ``d_2d_nm``, …, ``aspect_ratio_hw_2d``.
PROTOCOL_2D_COLUMNS = [_column(k) for k in _KEYS]


def protocol_2d_columns(result: dict | None) -> dict:
    """A protocol result as table columns (:data:`PROTOCOL_2D_COLUMNS`); empty without one.

    Parameters
    ----------
    result : dict or None
        From :func:`measure_pair_protocol_2d`.

    Returns
    -------
    dict
        Column name → value.
    """
    return {_column(k): result[k] for k in _KEYS} if result else {}

_STEP_PX = 0.25  # sampling step of the width profile, pixels


def measure_pair_protocol_2d(labels, voxel_size_nm: float, pair: tuple[int, int]) -> dict:
    """Ihara et al.'s protocol for one pair of labelled particles.

    1. Trimming and extraction: every label but the two is removed; the box is the pair's
       bounding box, so it holds both great circles whatever their depth.
    2. Projection along z and binarisation: the silhouette of each particle.
    3. ``d_xy``: distance between the silhouette centroids (uniform density).
    4. ``d_z``: difference of the particles' (z_min + z_max)/2, the bounding-box midpoints
       the paper uses, insensitive to a symmetric missing-wedge elongation.
    5. ``d`` = √(d_xy² + d_z²).
    6. ``r_p``: mean of the two equal-area circle radii √(A/π) of the silhouettes.
    7. ``r_n`` = W_n/2, W_n the minimum width of the union's silhouette across the
       centroid–centroid line, taken between the two centroids (widths sampled every
       0.25 pixel with bilinear interpolation).
    8. ``aspect_ratio_hw``: mean over the two particles of H/W, H the silhouette's extent
       along the centroid–centroid line and W across it. The paper does not say along which
       direction H is measured; along the pair axis is the reading that reproduces its
       ordering of d/(2r_p) with H/W (the shape effect).

    On the ideal model-C body with its axis in the image plane, the protocol returns the
    ``protocol_2d`` flavour of :func:`insitu4d.physics.geometry.neck_distance_curve`
    (at r_n/r_p = 0.8: d/(2r_eq) = 0.848 × r_p/r_eq ≈ 0.862, not the model's 0.817).

    Parameters
    ----------
    labels : (nz, ny, nx) ndarray of int
    voxel_size_nm : float, nm
    pair : (int, int)
        The two labels.

    Returns
    -------
    dict
        ``labels``, ``r_n_nm``, ``d_nm``, ``d_xy_nm``, ``d_z_nm``, ``r_p_nm``,
        ``r_eq_nm`` (both), ``r_n_over_r_p``, ``d_over_2r_p``, ``aspect_ratio_hw``,
        ``aspect_ratio_hw_each`` (both). ``r_n`` and the aspect ratios are NaN, with a
        ``warning``, when the centroids project less than one pixel apart (pair axis along
        the beam), where the protocol has no neck to measure.

    Raises
    ------
    NotAStack, InvalidParameter
        Bad label volume or voxel size; a label of ``pair`` that is not in ``labels``.
    """
    labels, vs = check_labels(labels, voxel_size_nm)
    a, b = (int(p) for p in pair)
    if a == b:
        raise InvalidParameter(f"a pair needs two different labels; got {a} twice.")
    both = np.isin(labels, (a, b))
    box = ndimage.find_objects(both.astype(np.int8))
    sub = np.where(both[box[0]], labels[box[0]], 0) if box else labels[:0, :0, :0]
    silhouettes, centroids, radii, z_mid = [], [], [], []
    for lab in (a, b):
        mask = sub == lab
        if not mask.any():
            raise InvalidParameter(f"label {lab} is not in the label volume; pass two labels of a touching pair.")
        zs = np.flatnonzero(mask.any(axis=(1, 2)))
        z_mid.append(0.5 * (zs[0] + zs[-1]))
        sil = mask.any(axis=0)
        ys, xs = np.nonzero(sil)
        silhouettes.append(sil)
        centroids.append(np.array([ys.mean(), xs.mean()]))
        radii.append(np.sqrt(ys.size / np.pi))
    axis = centroids[1] - centroids[0]
    d_xy = float(np.linalg.norm(axis))
    d_z = float(abs(z_mid[1] - z_mid[0]))
    r_p = float(0.5 * (radii[0] + radii[1]))
    out = {"labels": [a, b], "d_xy_nm": d_xy * vs, "d_z_nm": d_z * vs, "d_nm": float(np.hypot(d_xy, d_z)) * vs,
           "r_p_nm": r_p * vs, "r_eq_nm": [float(r * vs) for r in radii]}
    if d_xy < 1.0:
        r_n, hw = float("nan"), [float("nan")] * 2
        out["warning"] = ("the particles' silhouettes are centred less than a pixel apart (pair axis along the "
                          "beam): the projection shows no neck")
    else:
        u = axis / d_xy
        r_n = 0.5 * _min_width_px(silhouettes[0] | silhouettes[1], centroids[0], u, d_xy)
        hw = [_extent_ratio(sil, u) for sil in silhouettes]
    out.update(r_n_nm=r_n * vs, r_n_over_r_p=r_n / r_p, d_over_2r_p=float(np.hypot(d_xy, d_z)) / (2 * r_p),
               aspect_ratio_hw=float(np.mean(hw)), aspect_ratio_hw_each=[float(h) for h in hw])
    return out


def _min_width_px(silhouette: np.ndarray, start: np.ndarray, u: np.ndarray, length: float) -> float:
    """Minimum over s ∈ [0, length] of the silhouette's width across the line start + s·u, pixels."""
    v = np.array([-u[1], u[0]])
    s = np.arange(0.0, length + _STEP_PX / 2, _STEP_PX)
    half = float(np.hypot(*silhouette.shape))
    t = np.arange(-half, half + _STEP_PX / 2, _STEP_PX)
    pts = start[:, None, None] + u[:, None, None] * s[None, :, None] + v[:, None, None] * t[None, None, :]
    inside = ndimage.map_coordinates(silhouette.astype(np.float32), pts.reshape(2, -1), order=1, cval=0.0)
    return float(inside.reshape(s.size, t.size).sum(axis=1).min() * _STEP_PX)


def _extent_ratio(silhouette: np.ndarray, u: np.ndarray) -> float:
    """Extent along u over extent across u of a silhouette's pixels (each pixel 1 wide)."""
    ys, xs = np.nonzero(silhouette)
    along = ys * u[0] + xs * u[1]
    across = -ys * u[1] + xs * u[0]
    return float((np.ptp(along) + 1.0) / (np.ptp(across) + 1.0))
