"""One particle or two? Shape models fitted to a segmented body, to split particles at deep necks.

A watershed of the distance transform splits two particles only where the transform has a
saddle deeper than its ripples: two spheres of radius r_p with a neck r_n have a saddle of
depth r_p − r_n, one voxel at r_n/r_p = 0.95 for r_p = 20 voxels. Deeper into sintering
the question "one body or two?" is a question of shape, answered here by comparing two
models of the same number of parameters (nine each), fitted to the body:

* **one particle**: the ellipsoid with the body's second moments (centroid, principal
  axes; for a solid ellipsoid of semi-axes a_i the covariance eigenvalues are a_i²/5, so
  a_i = √(5 λ_i)), which also covers a sphere stretched along the beam by the missing
  wedge;
* **two particles**: two spheres (centres c₁, c₂, radii R₁, R₂) joined by a cylindrical
  collar of radius r_n between the centres: the union is exactly the model-C sintering
  body (Ihara et al., Nanoscale 15, 10133 (2023), doi:10.1039/d3nr00992k; the geometry is
  set out in ``docs/science.md``), and with r_n ≤ the intersection radius it is two plain
  overlapping spheres. It is fitted by robust least squares of the signed distance of
  the surface points (face centres between body and background voxels) to the model
  surface (``scipy.optimize.least_squares``, soft-L1 loss with a one-voxel scale), started
  from a two-means split of the body along its major axis.

Each model is scored by the fraction of voxels it gets wrong (symmetric difference with
the body, over the body's volume; model voxels up to 8 voxels outside the array count as
wrong, so the score does not depend on how tightly the body was cropped). Two particles
are chosen when that model is clearly better and is a real pair:

* both spheres carry the body: each side of the power plane (below) holds at least 15 % of
  its volume. A smaller sphere passes as well when it is a particle of its own: a radius of
  at least 4 voxels (twice the segmentation's debris limit) and a side that holds at least
  half of that sphere's volume. So a small particle joined to a large one by a streak of
  the missing wedge is kept, and a sphere fitted into a flat face or a collar is not;
* their centres are apart (d ≥ 0.5 (R₁ + R₂));
* a neck is left: the waist (the wider of the collar and the circle where the spheres
  cross, :attr:`TwoSphereFit.waist`) is at most 0.97 of the smaller radius. Without a
  constriction the body is one particle; a coalescence has ended, or a small particle is
  half sunk into a large one.

The body is then divided by the power plane of the two spheres, the plane of points with
equal power |x − cᵢ|² − Rᵢ² (the radical plane, which contains the circle where the
spheres meet; the partition of polydisperse sphere packings known as the
Laguerre tessellation: Aurenhammer, SIAM J. Comput. 16, 78 (1987), doi:10.1137/0216006).

The test assumes particles that are, before they sinter, roughly spheres or ellipsoids; a
rod with a waist would be split. :class:`~insitu4d.segment.SegmentationParameters`
``split_deep_necks`` turns it off.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numba import njit, prange
from scipy import ndimage
from scipy.optimize import least_squares

from .errors import InvalidParameter

__all__ = ["TwoSphereFit", "ShapeTest", "surface_points", "union_sdf_zyx", "render_occupancy",
           "moment_ellipsoid_mismatch", "fit_two_spheres", "one_or_two", "have_coalesced", "power_split"]

#: Largest fitted waist (:attr:`TwoSphereFit.waist`) over the smaller sphere radius that still counts as a neck.
MAX_NECK_RATIO = 0.97
#: Fitted waist over the smaller radius beyond which two particles known from the previous time
#: point are joined: no constriction at all is left. Above :data:`MAX_NECK_RATIO`, because the fit
#: scatters by a few per cent at r_n/r_s = 0.95 (2 of 10 sequences of the robustness benchmark
#: were joined there with 0.97) and history says the two were apart.
COALESCED_NECK_RATIO = 0.99
#: Smallest sphere-centre distance over the sum of the radii of a pair (model C reaches 2/3 at a full neck).
MIN_CENTRE_DISTANCE = 0.5
#: Voxels past the array's sides over which a model's voxels are counted as wrong (a body is
#: cropped to its box plus one voxel; a fitted model overhangs it by its misfit, a few voxels).
MODEL_MARGIN_VOX = 8
#: Surface points used in a fit at most (every k-th face).
MAX_FIT_POINTS = 3000
#: Smallest share of the body's volume that each sphere of a pair must hold.
MIN_SHARE = 0.15
#: A sphere that holds less than :data:`MIN_SHARE` of the body is still a particle of its own (a
#: small particle bridged to a large one by the missing wedge) when its radius is at least this
#: (voxels: twice the debris limit of the segmentation, ``min_inscribed_radius_vox`` = 2) ...
MIN_SATELLITE_RADIUS = 4.0
#: ... and its side of the power plane holds at least this fraction of the sphere's volume:
#: the body has the particle, not a sphere fitted into a flat face or a collar.
MIN_SATELLITE_FILL = 0.5


@dataclass(frozen=True)
class TwoSphereFit:
    """Two spheres joined by a collar, fitted to a body (voxel units, (z, y, x) array coordinates).

    Attributes
    ----------
    centre_a, centre_b : (3,) ndarray of float, voxels
    radius_a, radius_b : float, voxels
    neck_radius : float, voxels
        Radius of the collar between the centres.
    """

    centre_a: np.ndarray
    centre_b: np.ndarray
    radius_a: float
    radius_b: float
    neck_radius: float

    @property
    def distance(self) -> float:
        """Sphere-centre distance, voxels."""
        return float(np.linalg.norm(self.centre_b - self.centre_a))

    @property
    def waist(self) -> float:
        """The narrowest cross-section radius between the two spheres, voxels.

        Two spheres whose centres are d apart cross in a circle of radius √(R_a² − x²),
        x = (d² + R_a² − R_b²) / (2 d) (the radical plane). The collar spans the centres, so
        the waist is the larger of the collar and that circle; spheres that do not meet have
        only the collar; one sphere inside the other has no waist (the smaller radius is
        returned).
        """
        ra, rb, d = self.radius_a, self.radius_b, self.distance
        if d >= ra + rb:
            return float(self.neck_radius)
        if d <= abs(ra - rb):
            return float(min(ra, rb))
        x = (d * d + ra * ra - rb * rb) / (2 * d)
        return float(max(self.neck_radius, np.sqrt(max(ra * ra - x * x, 0.0))))

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (voxels, negative inside) of ``points`` (n, 3) to the union's surface."""
        return _union_sdf(_pack(self), points)


@dataclass(frozen=True)
class ShapeTest:
    """The outcome of :func:`one_or_two` for one body.

    Attributes
    ----------
    two : bool
        Two particles (split the body).
    mismatch_one, mismatch_two : float
        Voxels wrong (symmetric difference over the body's volume) of the moment ellipsoid
        and of the two-sphere fit.
    fit : TwoSphereFit or None
    reason : str
        Why the decision went the way it did.
    coalesced : bool
        The fitted geometry itself says one body (a waist of at least
        :data:`COALESCED_NECK_RATIO` of the smaller radius, or spheres that coincide), whatever
        the comparison with the ellipsoid: a seeded pair that reads so has merged.
    """

    two: bool
    mismatch_one: float
    mismatch_two: float
    fit: TwoSphereFit | None
    reason: str
    coalesced: bool = False


def surface_points(mask: np.ndarray) -> np.ndarray:
    """Centres of the faces between body voxels and background voxels (the voxelised surface).

    Parameters
    ----------
    mask : (nz, ny, nx) ndarray of bool
        The body; the space outside the array counts as background.

    Returns
    -------
    (n, 3) ndarray of float, voxels (z, y, x)
    """
    m = np.pad(np.asarray(mask, bool), 1)
    points = []
    for axis in range(3):
        idx = np.argwhere(np.diff(m, axis=axis)).astype(np.float64)
        idx[:, axis] += 0.5  # the face between index k and k + 1
        points.append(idx - 1.0)  # undo the padding
    return np.concatenate(points)


def _coords(mask: np.ndarray) -> np.ndarray:
    return np.argwhere(mask).astype(np.float64)


def moment_ellipsoid_mismatch(mask: np.ndarray) -> float:
    """Voxels wrong, over the body's volume, of the ellipsoid with the body's second moments.

    Parameters
    ----------
    mask : (nz, ny, nx) ndarray of bool

    Returns
    -------
    float
        |body Δ ellipsoid| / |body|.
    """
    pts = _coords(mask)
    centre = pts.mean(axis=0)
    cov = np.cov((pts - centre).T, bias=True) + np.eye(3) / 12.0
    evals, evecs = np.linalg.eigh(cov)
    axes = np.sqrt(5.0 * np.clip(evals, 1e-6, None))
    grid = _grid(centre, axes.max() + 1, mask.shape)
    q = ((grid - centre) @ evecs) / axes
    return _wrong_voxels(mask, grid[(q ** 2).sum(axis=1) <= 1.0])


def _grid(centre, half, shape) -> np.ndarray:
    """(k, 3) integer voxel coordinates of the cube of half-width ``half`` about ``centre``,
    within the array of ``shape`` widened by :data:`MODEL_MARGIN_VOX` on every side: a model
    may reach past the body's box, and a runaway one (a radius of thousands of voxels) is
    wrong enough within that margin."""
    axes = [np.arange(max(int(np.floor(c - half)), -MODEL_MARGIN_VOX), min(int(np.ceil(c + half)) + 1,
                                                                          n + MODEL_MARGIN_VOX))
            for c, n in zip(centre, shape)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)


def _wrong_voxels(mask: np.ndarray, model_voxels: np.ndarray) -> float:
    """|body Δ model| / |body| for a model given by its voxels (k, 3); model voxels outside the
    array are wrong, so the answer does not depend on how tightly the body was cropped."""
    inside = np.all((model_voxels >= 0) & (model_voxels < np.asarray(mask.shape)), axis=1)
    model = np.zeros(mask.shape, bool)
    model[tuple(model_voxels[inside].T)] = True
    wrong = int(np.logical_xor(model, mask).sum()) + int((~inside).sum())
    return wrong / max(int(mask.sum()), 1)


def _pack(fit: TwoSphereFit) -> np.ndarray:
    return np.concatenate([fit.centre_a, fit.centre_b, [fit.radius_a, fit.radius_b, fit.neck_radius]])


def _unpack(p: np.ndarray) -> TwoSphereFit:
    return TwoSphereFit(p[0:3].copy(), p[3:6].copy(), float(p[6]), float(p[7]), float(p[8]))


def _union_sdf(p: np.ndarray, points: np.ndarray) -> np.ndarray:
    return union_sdf_zyx(p, points[:, 0], points[:, 1], points[:, 2])


def union_sdf_zyx(p: np.ndarray, z, y, x) -> np.ndarray:
    """Signed distance (voxels, negative inside) to two spheres and their collar, at broadcastable coordinates.

    Parameters
    ----------
    p : (9,) ndarray of float
        Centre a (z, y, x), centre b, radius a, radius b, collar radius; voxels.
    z, y, x : ndarray of float
        Coordinates that broadcast together (e.g. the three axes of a box as (n, 1, 1),
        (1, m, 1), (1, 1, k)), voxels.

    Returns
    -------
    ndarray of float
        The exact signed distance to the spheres and the capped cylinder from centre a to
        centre b, minimised (the union), broadcast shape.
    """
    ca, cb, ra, rb, rn = p[0:3], p[3:6], p[6], p[7], p[8]
    za, ya, xa = z - ca[0], y - ca[1], x - ca[2]
    da = np.sqrt(za * za + ya * ya + xa * xa) - ra
    db = np.sqrt((z - cb[0]) ** 2 + (y - cb[1]) ** 2 + (x - cb[2]) ** 2) - rb
    axis = cb - ca
    length = max(float(np.linalg.norm(axis)), 1e-9)
    u = axis / length
    t = za * u[0] + ya * u[1] + xa * u[2]
    radial = np.sqrt(np.maximum(za * za + ya * ya + xa * xa - t * t, 0.0))
    # capped cylinder from ca to cb, radius rn (exact signed distance)
    dr = radial - rn
    dt = np.abs(t - length / 2) - length / 2
    outside = np.hypot(np.maximum(dr, 0), np.maximum(dt, 0))
    dc = outside + np.minimum(np.maximum(dr, dt), 0)
    return np.minimum(np.minimum(da, db), dc)


def render_occupancy(p: np.ndarray, origin, out: np.ndarray, *, row_step: int = 1, order: str = "zyx") -> np.ndarray:
    """The occupancy clip(½ − d, 0, 1) of two spheres and their collar on a box of voxels, compiled.

    ``d`` is :func:`union_sdf_zyx`, the same formula, evaluated only in the surface's band: on
    each row the spans where the occupancy must be 0 or 1 follow from the balls and the capsule
    round the collar (a neck fit renders its model hundreds of times; at full resolution its box
    holds ~2·10⁷ voxels, of which ~10⁵ lie in the band: 8 ms instead of 116 ms on 2 cores).

    Parameters
    ----------
    p : (9,) ndarray of float
        As :func:`union_sdf_zyx`, voxels.
    origin : (int, int, int)
        The (z, y, x) voxel index of ``out[0, 0, 0]``.
    out : (nz, ny, nx) ndarray of float32, or (nz, nx, ny) with ``order="zxy"``
        Filled in place.
    row_step : int
        Every ``row_step``-th row (y) from ``origin``: row ``j`` of ``out`` is row ``origin[1] +
        j * row_step`` (the rows, slices across the tilt axis, are projected independently).
    order : {"zyx", "zxy"}
        The axes of ``out``: "zxy" is the projector's own order
        (:meth:`insitu4d.recon.projector.Projector.forward_block`), which spares a fit the
        transposition of each model it projects.

    Returns
    -------
    ndarray of float32
        ``out``.

    Raises
    ------
    InvalidParameter
        ``row_step`` is not a whole number ≥ 1, or an unknown ``order``.
    """
    if isinstance(row_step, bool) or not isinstance(row_step, (int, np.integer)) or row_step < 1:
        raise InvalidParameter(f"row_step must be a whole number ≥ 1 (every row_step-th row); got {row_step!r}.")
    p = np.asarray(p, np.float64)
    z0, y0, x0 = (float(v) for v in origin)
    if order == "zyx":
        _occupancy_kernel(p, z0, y0, x0, float(row_step), 1.0, out)
    elif order == "zxy":  # the same formula with y and x swapped: rows along y, stepped
        _occupancy_kernel(p[[0, 2, 1, 3, 5, 4, 6, 7, 8]], z0, x0, y0, 1.0, float(row_step), out)
    else:
        raise InvalidParameter(f"order must be 'zyx' or 'zxy' (the axes of out); got {order!r}.")
    return out


#: How much wider (voxels) than the partial-occupancy band the spans of :func:`_occupancy_kernel` are taken,
#: so that rounding in their arithmetic (~1e-12 voxel) cannot leave out a voxel the formula would fill.
_SPAN_MARGIN_VOX = 1e-3


@njit(nogil=True, inline="always")
def _ball_span(cx, rho2, radius):  # pragma: no cover - compiled
    """The x-interval of a row at squared distance ``rho2`` from a ball's centre line inside the ball (lo > hi:
    none)."""
    h2 = radius * radius - rho2
    if radius <= 0.0 or h2 < 0.0:
        return 1.0, 0.0
    h = np.sqrt(h2)
    return cx - h, cx + h


@njit(nogil=True, inline="always")
def _hull(lo, hi, lo2, hi2):  # pragma: no cover - compiled
    """The smallest interval holding two intervals (either may be empty: lo > hi)."""
    if lo2 > hi2:
        return lo, hi
    if lo > hi:
        return lo2, hi2
    return min(lo, lo2), max(hi, hi2)


@njit(nogil=True, inline="always")
def _capsule_span(za, ya, ax_x, u0, u1, u2, length, radius):  # pragma: no cover - compiled
    """An x-interval of a row holding its points within ``radius`` of the segment from a along u.

    ``za, ya``: the row's z and y relative to a; ``ax_x``: a's x. The capsule is the cylinder
    between the end planes and a ball at each end; the cylinder's part is where a quadratic in x is
    not positive, between the planes. Where the quadratic is nearly flat (the axis nearly along x),
    the whole part between the planes is taken when the row comes within ``radius`` of the axis.
    """
    lo, hi = _ball_span(ax_x, za * za + ya * ya, radius)
    zb, yb = za - u0 * length, ya - u1 * length
    lo2, hi2 = _ball_span(ax_x + u2 * length, zb * zb + yb * yb, radius)
    lo, hi = _hull(lo, hi, lo2, hi2)
    # the cylinder between the end planes 0 ≤ t0 + u2 s ≤ length (s = x − ax_x), where
    # radial² − radius² = (1 − u2²) s² − 2 t0 u2 s + (za² + ya² − t0² − radius²) ≤ 0
    t0 = za * u0 + ya * u1
    if abs(u2) > 1e-9:
        e1, e2 = -t0 / u2, (length - t0) / u2
        s_lo, s_hi = min(e1, e2), max(e1, e2)
    elif 0.0 <= t0 <= length:
        s_lo, s_hi = -np.inf, np.inf
    else:
        return lo, hi
    a = 1.0 - u2 * u2
    b = -2.0 * t0 * u2
    c = za * za + ya * ya - t0 * t0 - radius * radius
    if a > 1e-6:
        disc = b * b - 4.0 * a * c
        if disc < 0.0:
            return lo, hi
        root = np.sqrt(disc)
        s_lo, s_hi = max(s_lo, (-b - root) / (2.0 * a)), min(s_hi, (-b + root) / (2.0 * a))
    else:  # the axis nearly along x (|u2| ≈ 1, so the planes bound s): the row's closest approach decides
        q = min((a * s_lo + b) * s_lo + c, (a * s_hi + b) * s_hi + c)
        if a > 0.0:
            v = min(max(-b / (2.0 * a), s_lo), s_hi)
            q = min(q, (a * v + b) * v + c)
        if q > 0.0:
            return lo, hi
    if s_lo > s_hi:
        return lo, hi
    return _hull(lo, hi, ax_x + s_lo, ax_x + s_hi)


@njit(parallel=True, nogil=True, cache=True, boundscheck=False)
def _occupancy_kernel(p, z0, y0, x0, dy, dx, out):  # pragma: no cover - compiled
    """The occupancy, evaluated only where it can be partial.

    On each row (x) the voxels outside the spans of the balls of radius r + ½ and of the
    capsule of radius r_n + ½ round the axis (which holds the capped cylinder grown by ½) have
    d > ½, occupancy 0; those inside a ball of radius r − ½ have d < −½, occupancy 1 (both
    spans widened, resp. narrowed, by :data:`_SPAN_MARGIN_VOX`). The formula runs on the rest,
    the surface's band: the values are those of evaluating it everywhere. ``out[i, j, k]`` is the
    point (z0 + i, y0 + j dy, x0 + k dx).
    """
    nz, ny, nx = out.shape
    ax, bx = p[0:3], p[3:6]
    ra, rb, rn = p[6], p[7], p[8]
    a0, a1, a2 = bx[0] - ax[0], bx[1] - ax[1], bx[2] - ax[2]
    length = max(np.sqrt(a0 * a0 + a1 * a1 + a2 * a2), 1e-9)
    u0, u1, u2 = a0 / length, a1 / length, a2 / length
    grow = 0.5 + _SPAN_MARGIN_VOX
    for i in prange(nz):
        za = z0 + i - ax[0]
        zb = z0 + i - bx[0]
        for j in range(ny):
            ya = y0 + j * dy - ax[1]
            yb = y0 + j * dy - bx[1]
            rho_a, rho_b = za * za + ya * ya, zb * zb + yb * yb
            lo, hi = _ball_span(ax[2], rho_a, ra + grow)
            lo2, hi2 = _ball_span(bx[2], rho_b, rb + grow)
            lo, hi = _hull(lo, hi, lo2, hi2)
            lo2, hi2 = _capsule_span(za, ya, ax[2], u0, u1, u2, length, rn + grow)
            lo, hi = _hull(lo, hi, lo2, hi2)
            k0, k1 = nx, nx  # the voxels [k0, k1) may be non-zero
            if lo <= hi:
                k0 = int(np.floor(min(max((lo - x0) / dx, -2.0), nx + 2.0))) - 1
                k1 = int(np.ceil(min(max((hi - x0) / dx, -2.0), nx + 2.0))) + 2
                k0, k1 = min(max(k0, 0), nx), min(max(k1, 0), nx)
                k1 = max(k1, k0)
            row = out[i, j]
            row[:k0] = 0.0
            row[k1:] = 0.0
            in_a_lo, in_a_hi = _ball_span(ax[2], rho_a, ra - grow)
            in_b_lo, in_b_hi = _ball_span(bx[2], rho_b, rb - grow)
            for k in range(k0, k1):
                xk = x0 + k * dx
                xa = xk - ax[2]
                xb = xk - bx[2]
                if in_a_lo <= xk <= in_a_hi or in_b_lo <= xk <= in_b_hi:
                    row[k] = 1.0
                    continue
                sq = za * za + ya * ya + xa * xa
                da = np.sqrt(sq) - ra
                db = np.sqrt(zb * zb + yb * yb + xb * xb) - rb
                t = za * u0 + ya * u1 + xa * u2
                dr = np.sqrt(max(sq - t * t, 0.0)) - rn
                dt = abs(t - length / 2) - length / 2
                dc = np.hypot(max(dr, 0.0), max(dt, 0.0)) + min(max(dr, dt), 0.0)
                d = min(min(da, db), dc)
                row[k] = np.float32(min(max(0.5 - d, 0.0), 1.0))


def _model_voxels(fit: TwoSphereFit, shape) -> np.ndarray:
    """(k, 3) voxel coordinates inside the fitted union, within the array of ``shape`` and its margin."""
    grid = _grid((fit.centre_a + fit.centre_b) / 2, fit.distance / 2 + max(fit.radius_a, fit.radius_b) + 1, shape)
    return grid[fit.signed_distance(grid.astype(np.float64)) <= 0]


def _two_means(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split voxel coordinates in two along the major axis, then Lloyd iterations."""
    centre = pts.mean(axis=0)
    _, evecs = np.linalg.eigh(np.cov((pts - centre).T))
    side = (pts - centre) @ evecs[:, -1] > 0
    for _ in range(10):
        if side.all() or not side.any():
            break
        ca, cb = pts[~side].mean(axis=0), pts[side].mean(axis=0)
        new = np.linalg.norm(pts - cb, axis=1) < np.linalg.norm(pts - ca, axis=1)
        if np.array_equal(new, side):
            break
        side = new
    return pts[~side], pts[side], side


def fit_two_spheres(mask: np.ndarray, *, split: np.ndarray | None = None) -> TwoSphereFit | None:
    """Two spheres joined by a collar, fitted to a body's surface (see the module notes).

    Parameters
    ----------
    mask : (nz, ny, nx) ndarray of bool
    split : (nz, ny, nx) ndarray of bool, optional
        One part of the body (for instance one of two watershed regions); the fit is then
        started from these two parts as well as from the two-means split, and the better
        fit is kept. A body of a large and a small particle has its major axis through the
        large one, so the two-means start alone can miss the small one. Of the fits, those
        with both centres inside the body's box come first (a runaway sphere far outside,
        its collar a rod through the body, can fit a streak more cheaply); then the lowest
        cost.

    Returns
    -------
    TwoSphereFit or None
        None when the body is too small (under 20 voxels) or does not divide in two.

    Raises
    ------
    InvalidParameter
        ``split`` of another shape than ``mask``.
    """
    mask = np.asarray(mask, bool)  # split[mask] below must be a boolean index
    pts = _coords(mask)
    if len(pts) < 20:
        return None
    parts = [_two_means(pts)[:2]]
    if split is not None:
        split = np.asarray(split, bool)
        if split.shape != mask.shape:
            raise InvalidParameter(f"split must be one part of the body, of its shape {mask.shape}; "
                                   f"got shape {split.shape}.")
        inside = split[mask]  # the order of np.argwhere
        parts.append((pts[~inside], pts[inside]))
    parts = [(a, b) for a, b in parts if len(a) and len(b)]
    if not parts:
        return None
    surf = surface_points(mask)
    surf = surf[:: max(1, len(surf) // MAX_FIT_POINTS)]  # an even subset bounds the cost on large bodies
    lower = np.concatenate([np.full(6, -np.inf), [0.5, 0.5, 0.0]])
    upper = np.full(9, np.inf)

    def residuals(p):
        # the collar may not be wider than the smaller sphere (a rod is one body)
        penalty = max(p[8] - min(p[6], p[7]), 0.0)
        return np.append(_union_sdf(p, surf), 10.0 * penalty)

    # a particle's sphere has its centre inside the body's box; a fit that sends one far away
    # (a huge sphere whose collar is a rod through the body) is a runaway, kept only if all are
    low_corner, high_corner = pts.min(axis=0) - 1, pts.max(axis=0) + 1

    def in_box(p) -> bool:
        return bool(np.all((p[:6].reshape(2, 3) >= low_corner) & (p[:6].reshape(2, 3) <= high_corner)))

    # the collar gets no gradient where a sphere's surface is nearer, so it is started at three widths
    best = None
    for (a, b), neck in itertools.product(parts, (0.3, 0.65, 1.0)):
        ra, rb = ((3 * len(a) / (4 * np.pi)) ** (1 / 3), (3 * len(b) / (4 * np.pi)) ** (1 / 3))
        start = np.concatenate([a.mean(axis=0), b.mean(axis=0), [ra, rb, neck * min(ra, rb)]])
        try:
            sol = least_squares(residuals, start, loss="soft_l1", f_scale=1.0, bounds=(lower, upper),
                                max_nfev=200, x_scale=1.0)
        except ValueError:
            continue
        if best is None or (in_box(sol.x), -sol.cost) > (in_box(best.x), -best.cost):
            best = sol
    if best is None:
        return None
    p = best.x.copy()
    p[8] = min(p[8], p[6], p[7])
    return _unpack(p)


def one_or_two(mask: np.ndarray, *, margin: float = 0.8, split: np.ndarray | None = None) -> ShapeTest:
    """Decide whether a segmented body is one particle or two joined by a neck (module notes).

    Parameters
    ----------
    mask : (nz, ny, nx) ndarray of bool
        One connected body (or one region of a body).
    margin : float
        The two-sphere model must get at most this fraction of the ellipsoid's wrong voxels.
    split : (nz, ny, nx) ndarray of bool, optional
        One part of the body, a second start of the fit (:func:`fit_two_spheres`).

    Returns
    -------
    ShapeTest

    Raises
    ------
    InvalidParameter
        ``split`` of another shape than ``mask``.
    """
    mask = np.asarray(mask, bool)
    one = moment_ellipsoid_mismatch(mask)
    fit = fit_two_spheres(mask, split=split)
    if fit is None:
        return ShapeTest(False, one, float("nan"), None, "too small to hold two particles")
    two = _wrong_voxels(mask, _model_voxels(fit, mask.shape))
    r_min = min(fit.radius_a, fit.radius_b)
    volume = mask.sum()
    parts = power_split(mask, fit)
    share = min((parts == 1).sum(), (parts == 2).sum()) / max(volume, 1)
    if _spheres_coincide(fit):
        return ShapeTest(False, one, two, fit, "the two spheres nearly coincide", coalesced=True)
    if fit.waist > MAX_NECK_RATIO * r_min:
        return ShapeTest(False, one, two, fit, "no neck left: one body",
                         coalesced=fit.waist > COALESCED_NECK_RATIO * r_min)
    small_side = int((parts == (1 if fit.radius_a <= fit.radius_b else 2)).sum())
    if share < MIN_SHARE and (r_min < MIN_SATELLITE_RADIUS
                              or small_side < MIN_SATELLITE_FILL * 4 / 3 * np.pi * r_min ** 3):
        return ShapeTest(False, one, two, fit, "one sphere holds too little of the body")
    if two > margin * one:
        return ShapeTest(False, one, two, fit, "an ellipsoid explains the body as well")
    return ShapeTest(True, one, two, fit, "two spheres with a neck explain the body better than one ellipsoid")


def _spheres_coincide(fit: TwoSphereFit) -> bool:
    return fit.distance < MIN_CENTRE_DISTANCE * (fit.radius_a + fit.radius_b)


def have_coalesced(mask: np.ndarray, *, split: np.ndarray | None = None) -> bool:
    """:attr:`ShapeTest.coalesced` of :func:`one_or_two`, from the two-sphere fit alone.

    Whether two particles known apart have become one body is read from the fitted geometry
    only (spheres that coincide, or a waist of at least :data:`COALESCED_NECK_RATIO` of the
    smaller radius), so the ellipsoid, the model's voxels and the power split that
    :func:`one_or_two` also works out are not needed: on a full-resolution pair of 3.5·10⁶
    voxels that is 1 s instead of 5.

    Parameters
    ----------
    mask : (nz, ny, nx) ndarray of bool
        The two regions' union.
    split : (nz, ny, nx) ndarray of bool, optional
        One of the regions (the fit's second start).

    Returns
    -------
    bool

    Raises
    ------
    InvalidParameter
        ``split`` of another shape than ``mask``.
    """
    fit = fit_two_spheres(np.asarray(mask, bool), split=split)
    if fit is None:
        return False
    return _spheres_coincide(fit) or fit.waist > COALESCED_NECK_RATIO * min(fit.radius_a, fit.radius_b)


def power_split(mask: np.ndarray, fit: TwoSphereFit) -> np.ndarray:
    """Divide a body between two fitted spheres by their power (radical) plane.

    Parameters
    ----------
    mask : (nz, ny, nx) ndarray of bool
    fit : TwoSphereFit

    Returns
    -------
    (nz, ny, nx) ndarray of int8
        0 outside the body, 1 on sphere a's side, 2 on sphere b's.
    """
    pts = np.argwhere(mask).astype(np.float64)
    pa = ((pts - fit.centre_a) ** 2).sum(axis=1) - fit.radius_a ** 2
    pb = ((pts - fit.centre_b) ** 2).sum(axis=1) - fit.radius_b ** 2
    out = np.zeros(mask.shape, np.int8)
    idx = tuple(pts.astype(int).T)
    out[idx] = np.where(pb < pa, 2, 1)
    # each side must be connected: stray voxels across the plane join the side they touch
    for side in (1, 2):
        lab, n = ndimage.label(out == side)
        if n > 1:
            sizes = np.bincount(lab.ravel())
            sizes[0] = 0
            stray = (lab > 0) & (lab != int(np.argmax(sizes)))
            out[stray] = 3 - side
    return out
