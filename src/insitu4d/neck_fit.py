"""Neck radius fitted to the tilt series: a model-based reading where the missing wedge hides the neck.

In a limited-angle reconstruction the gap beside a small neck is filled in: its flanks face
the missing wedge when the pair axis lies near the beam (``neck_in_missing_wedge`` in
:func:`~insitu4d.quality.check_pairs`), and TV, which favours less surface, fills it. The
volume then reads the neck wide (3–6 voxels too wide on necks of 2–6 voxels at ±40°). The
tilt series is not blind there: every image counts the material along its rays, and a
collar wider than the true neck adds material that the images do not hold.

So the neck is measured against the images as well. The pair is modelled as in
:mod:`insitu4d.shape_fit`: two spheres joined by a cylindrical collar (model C of Ihara et
al., Nanoscale 15, 10133 (2023), doi:10.1039/d3nr00992k), rendered with partial voxels
(occupancy ``clip(1/2 − s, 0, 1)`` of the signed distance s in voxels) and projected by the
reconstruction's own projector. Its projection P, scaled to the longest path through the
pair's box, enters the images as a P + b P² + c: a density, the HAADF signal's loss of
linearity with thickness to second order (nonlinear damping: Zhong et al., Ultramicroscopy
184, 57 (2018), doi:10.1016/j.ultramic.2017.10.013) and an offset. These three are solved
linearly at every step (variable projection: Golub & Pereyra, SIAM J. Numer. Anal. 10, 413
(1973), doi:10.1137/0710036); the nine shape parameters are moved by
``scipy.optimize.least_squares`` (trust region, finite differences of 0.1 voxel) over the
rays through the pair's box. Other particles, with a margin of :data:`MARGIN_VOX` for their
blur, are taken from the reconstruction and their projection subtracted first.

The shape starts from :func:`~insitu4d.shape_fit.fit_two_spheres` on the pair's two labels.
A collar inside the circle where the spheres cross changes nothing, so the images give it
no gradient there: started inside, it cannot grow. Neither the surface fit's collar nor the
volume's reading of the neck is a safe start: on the full-resolution twin the volume read a
21.6-voxel neck as 6.9 voxels, the surface fit's collar was 8.7, and the fit, started at the
larger, stayed at the crossing circle (14.6 voxels). So the collar starts at the best, by the
images' residual, of those two and :data:`COLLAR_SCAN_POINTS` collars evenly spaced from the
crossing circle to :data:`COLLAR_SCAN_TOP` of the smaller radius; the trust region then moves
all nine parameters from there. Spheres started too large cross in a circle wider than the
neck, so no collar helps at the start; the fit shrinks them and the collar, inside, stays. So
the collars are scanned again on the fitted spheres and a better one starts a second fit (on
the full-resolution twin's second pair the first fit read the crossing circle, 15.6 voxels
for a neck of 21.9); the round whose fit leaves less residual is kept.

At full resolution a pair's box holds ~2·10⁷ voxels: every model costs ~0.1 s on 2 cores (its
rendering 8 ms, :func:`~insitu4d.shape_fit.render_occupancy`, the projection the rest), and the
scans and rounds take 100–200 of them. The rows of the images are independent
slices across the tilt axis, and the tilts independent views, so for a pair whose smaller
sphere has a radius of k ≥ 2 times :data:`SPARSE_RADIUS_VOX` the scans and rounds run on
every k-th row of the box and every second tilt (2k times fewer rays, the model rendered on
those rows alone), and one fit on all rays then starts from their answer. On the
full-resolution twin that halved the time of a pair's fit (25–45 s) and moved its four
readings by −0.13 to +0.03 nm, except one that moved from the crossing circle to within
0.1 nm of the true neck (26.3 → 29.1 nm, truth 29.2). The neck of the fitted model is
its waist, the collar or the crossing circle, whichever is wider
(:attr:`insitu4d.shape_fit.TwoSphereFit.waist`); its SD is propagated from the fit's
Jacobian with the noise's variance per ray (the sandwich covariance of least squares).

Rays from pixels that alignment filled in at the images' edges are left out.

The fitted model also gives the pair's distances (:func:`refine_necks`): the labels hold
the material that the reconstruction adds beside the neck, which pulls their centroids
together (on the full-resolution twin they read the distance 1–6 nm short), while the
fitted spheres sit where the images put them. On the demo twin (8.32 nm voxels, 18 time
points, 36 pair readings) the centroid distance's mean error went from 0.92 to 0.44 nm and
the sphere-centre distance's from 2.99 nm (inscribed spheres) to 0.18 nm.

The fit replaces the volume's reading only when it stays on the segmented pair (each centre
within half its sphere's radius of the start, each radius within ×/÷
:data:`MAX_RADIUS_CHANGE`) and when the model explains the images: its residual sum of
squares over the rays at most :data:`MAX_NOISE_RATIO` times the noise's expected energy
there (χ²/n, from :func:`~insitu4d.noise.noise_variance`), or, where the images hold more
than a linear model of them can fit (the reconstruction's own χ²/n above 1), at most
:data:`MAX_VOLUME_RATIO` times the reconstruction's residual on the same rays. A model that
holds leaves the noise (0.98–1.05 on random sphere pairs); particles that are not
near-spherical (rods, facets, cubes) leave several times more, and then the volume's reading
stands and the record says why.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.optimize import least_squares

from .errors import InvalidParameter
from .measure import Measurements, Pair
from .physics import two_sphere_halves
from .recon import get_projector
from .shape_fit import TwoSphereFit, _pack, _unpack, fit_two_spheres, render_occupancy

__all__ = ["NeckFit", "fit_neck_to_tilt_series", "refine_necks", "MARGIN_VOX", "MAX_RADIUS_CHANGE",
           "MAX_NOISE_RATIO", "MAX_VOLUME_RATIO", "COLLAR_SCAN_POINTS", "COLLAR_SCAN_TOP", "COLLAR_ROUNDS",
           "SPARSE_RADIUS_VOX"]

#: Voxels round the other particles whose reconstruction is kept as theirs (TV's edge spread is 2–4 voxels).
MARGIN_VOX = 4
#: A fitted radius may change by at most this factor from the start (up or down).
MAX_RADIUS_CHANGE = 1.33
#: Largest residual of an accepted model over the pair's rays, in units of the noise's expected energy there
#: (χ²/n). A model that holds leaves the noise: 0.98–1.05 on sphere pairs at ±40° and 250 e⁻/nm².
MAX_NOISE_RATIO = 1.2
#: Or, where the reconstruction itself leaves more than the noise (signal the linear image model does not
#: hold), the largest residual of an accepted model over the reconstruction's on the same rays. TV fits
#: 5–10 % of the noise, so a model as good as the volume leaves 1.04–1.14 times its residual on random sphere
#: pairs; two touching cubes leave 21 (noise at 2 % of the peak).
MAX_VOLUME_RATIO = 1.25
#: Finite-difference step of the shape parameters, voxels.
STEP_VOX = 0.1
#: Stop when a step moves the shape by less than this share of its offset from the start (0.01 voxel per voxel).
XTOL = 1e-2
#: Stop when a step lowers the residual by less than this share: 10⁻⁶ of χ² over ~10⁵ rays is Δχ² ≈ 0.1.
FTOL = 1e-6
#: Residual evaluations of the fit at most.
MAX_EVALUATIONS = 60
#: Collars tried for the start, evenly spaced from the spheres' crossing circle to :data:`COLLAR_SCAN_TOP`
#: of the smaller radius: about one voxel apart on binned necks, a tenth of the radius at full resolution,
#: close enough for the trust region to take it from the best one.
COLLAR_SCAN_POINTS = 8
#: The widest collar tried for the start, as a share of the smaller sphere's radius (a neck wider than
#: this has merged the pair).
COLLAR_SCAN_TOP = 0.95
#: Fits at most: after each, the collars are scanned again on the fitted spheres, and a better one starts
#: the next fit (module notes).
COLLAR_ROUNDS = 2
#: Pairs whose smaller sphere has a radius of k ≥ 2 times this many voxels find their start (the collar scans
#: and their fits) on every k-th row of the images and every second tilt, then fit once on all rays (module
#: notes): the start's spheres are sampled by 16–32 rows per radius, as finely as the fit needs to place them.
SPARSE_RADIUS_VOX = 16


@dataclass(frozen=True)
class NeckFit:
    """A pair's neck fitted to the tilt series (:func:`fit_neck_to_tilt_series`); lengths in voxels.

    Attributes
    ----------
    labels : (int, int)
        The pair's labels.
    accepted : bool
        The fit passed both tests of the module notes; ``r_n_vox`` then replaces the volume's reading.
    r_n_vox : float, voxels
        Waist radius of the fitted model (NaN when nothing was fitted).
    fit : TwoSphereFit or None
        The fitted spheres and collar, (z, y, x) voxel coordinates of the volume.
    residual_model, residual_volume : float
        Residual sums of squares over the pair's rays of the model and of the reconstruction,
        in the aligned images' units squared.
    evaluations : int
        Model projections computed.
    reason : str
        Why the fit was kept or not.
    """

    labels: tuple[int, int]
    accepted: bool
    r_n_vox: float
    r_n_sd_vox: float
    fit: TwoSphereFit | None
    residual_model: float
    residual_volume: float
    residual_noise: float
    evaluations: int
    reason: str

    def to_dict(self) -> dict:
        """The record for ``run.json`` (the fit as centres and radii in voxels)."""
        out = {"labels": list(self.labels), "accepted": self.accepted, "r_n_vox": self.r_n_vox,
               "r_n_sd_vox": self.r_n_sd_vox,
               "residual_model": self.residual_model, "residual_volume": self.residual_volume,
               "residual_noise": self.residual_noise,
               "evaluations": self.evaluations, "reason": self.reason}
        if self.fit is not None:
            out.update(centre_a_vox=self.fit.centre_a.tolist(), centre_b_vox=self.fit.centre_b.tolist(),
                       radius_a_vox=self.fit.radius_a, radius_b_vox=self.fit.radius_b,
                       collar_radius_vox=self.fit.neck_radius)
        return out


def _waist_sd(p: np.ndarray, jac: np.ndarray, ray_variance: np.ndarray) -> float:
    """SD of the waist from the fit's Jacobian, for noise of known variance per ray (sandwich covariance).

    A parameter the images do not constrain (a collar inside the spheres' crossing circle) has a zero
    column; the pseudo-inverse leaves it out, and the waist does not depend on it.
    """
    inverse = np.linalg.pinv(jac.T @ jac)
    covariance = inverse @ (jac.T * ray_variance) @ jac @ inverse
    step = 1e-3
    gradient = np.array([(_unpack(p + step * e).waist - _unpack(p - step * e).waist) / (2 * step)
                         for e in np.eye(len(p))])
    return float(np.sqrt(max(gradient @ covariance @ gradient, 0.0)))


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else (0.0 if a == 0 else float("inf"))


def _best_collar(p0: np.ndarray, starts: list[float], residuals) -> float:
    """The collar of least residual on the spheres of ``p0`` among ``starts`` and a scan from the crossing
    circle outward (module notes); the first of ``starts`` where none is better."""
    spheres = _unpack(p0)
    crossing = dataclasses.replace(spheres, neck_radius=0.0).waist  # the spheres' own waist
    smaller = min(spheres.radius_a, spheres.radius_b)
    top = COLLAR_SCAN_TOP * smaller
    candidates = [min(max(c, 0.0), smaller) for c in starts]
    if top > crossing:
        candidates += np.linspace(crossing, top, COLLAR_SCAN_POINTS).tolist()
    costs = []
    for collar in candidates:
        q = np.zeros(len(p0))
        q[8] = collar - p0[8]
        costs.append(float(np.sum(residuals(q) ** 2)))
    return candidates[int(np.argmin(costs))]


def fit_neck_to_tilt_series(volume, labels, pair: tuple[int, int], tilt_series, tilts_deg, noise_variance, *,
                            neck_start_vox: float | None = None, edge_px: tuple[int, int] = (0, 0),
                            backend: str = "auto") -> NeckFit:
    """Fit the two-sphere-and-collar model of one pair to the aligned tilt series (module notes).

    Parameters
    ----------
    volume : (nz, ny, nx) ndarray of float
        The reconstruction, in the units of ``tilt_series`` (its reprojection approximates it).
    labels : (nz, ny, nx) ndarray of int
        The segmentation of ``volume``.
    pair : (int, int)
        The two labels of the pair.
    tilt_series : (n_tilts, ny, nx) ndarray of float
        The aligned images the volume was reconstructed from (tilt axis along y).
    tilts_deg : (n_tilts,) array_like of float, degrees
    noise_variance : float or (n_tilts, ny, nx) ndarray of float
        The variance of the images' noise, one for all pixels or per pixel
        (:func:`~insitu4d.noise.noise_variance`), in the images' units squared. Per-pixel
        estimates enter only through their sum over the pair's rays, so single ones may be
        negative (the Poisson–Gaussian model a·μ + b at a pixel below the vacuum level).
    neck_start_vox : float, optional
        The volume's reading of the neck, voxels: one of the collars tried for the start
        (module notes).
    edge_px : (int, int)
        Rows and columns at each edge of the images that alignment filled in (the largest
        shift along y and x, plus one): their rays are left out.
    backend : str
        Projector backend, as in :func:`~insitu4d.recon.reconstruct`.

    Returns
    -------
    NeckFit

    Raises
    ------
    InvalidParameter
        The arrays' shapes do not match, ``noise_variance`` is a negative number or not
        finite, or a label of ``pair`` is absent from ``labels``.
    """
    volume = np.asarray(volume, np.float32)
    labels = np.asarray(labels)
    images = np.asarray(tilt_series, np.float32)
    tilts = np.asarray(tilts_deg, np.float64).ravel()
    if volume.shape != labels.shape or volume.ndim != 3:
        raise InvalidParameter(f"volume {volume.shape} and labels {labels.shape} must be the same 3D shape.")
    if images.shape != (len(tilts), volume.shape[1], volume.shape[2]):
        raise InvalidParameter(f"tilt series {images.shape} must be (n_tilts={len(tilts)}, ny={volume.shape[1]}, "
                               f"nx={volume.shape[2]}) for a volume of shape {volume.shape}.")
    variance = np.asarray(noise_variance, np.float64)
    if variance.shape not in ((), images.shape) or not np.all(np.isfinite(variance)) or \
            (variance.ndim == 0 and variance < 0):
        raise InvalidParameter(f"noise_variance must be one non-negative number or a finite array of the tilt "
                               f"series' shape {images.shape}; got shape {variance.shape}.")
    mask = np.isin(labels, pair)
    for lab in pair:
        if not (labels == lab).any():
            raise InvalidParameter(f"label {lab} of pair {tuple(pair)} is not in the labels.")
    labels_t = (int(pair[0]), int(pair[1]))
    start = fit_two_spheres(mask)
    if start is None:
        return NeckFit(labels_t, False, float("nan"), float("nan"), None, float("nan"), float("nan"), float("nan"), 0,
                       "the pair's body does not divide into two spheres")
    p0 = _pack(start)
    starts = [start.neck_radius] + ([float(neck_start_vox)] if neck_start_vox is not None and
                                    np.isfinite(neck_start_vox) else [])
    centre = (start.centre_a + start.centre_b) / 2
    half = start.distance / 2 + max(start.radius_a, start.radius_b) + MARGIN_VOX
    box = tuple(slice(max(int(np.floor(c - half)), 0), min(int(np.ceil(c + half)) + 1, n))
                for c, n in zip(centre, volume.shape))
    rows = box[1]  # the tilt axis is y: these rows of the images see the box and nothing else of it
    # other particles, with their blur, are taken from the reconstruction; the rest (the pair, its blur and the
    # background) is the model's
    # (on the box's rows and MARGIN_VOX more on each side, as far as the dilation reaches: the same there)
    grown = slice(max(rows.start - MARGIN_VOX, 0), min(rows.stop + MARGIN_VOX, volume.shape[1]))
    near = mask[:, grown, :]
    others = ndimage.binary_dilation((labels[:, grown, :] > 0) & ~near, iterations=MARGIN_VOX) & ~near
    region = ~others[:, rows.start - grown.start:rows.stop - grown.start, :]
    projector = get_projector(tilts, volume.shape[0], volume.shape[2], backend)
    # the model lives in the box: a window of the field, whose rays are the whole detector's
    box_centre = tuple(sl.start + (sl.stop - sl.start - 1) / 2 - (n - 1) / 2
                       for sl, n in ((box[0], volume.shape[0]), (box[2], volume.shape[2])))
    box_projector_shape = (box[0].stop - box[0].start, box[2].stop - box[2].start)
    box_projector = get_projector(tilts, *box_projector_shape,
                                  "cpu" if projector.name == "astra" else backend,  # ASTRA: whole fields only
                                  n_det=volume.shape[2], centre_px=box_centre)
    slab = volume[:, rows, :]
    origin = tuple(sl.start for sl in box)
    rendered = np.ones([sl.stop - sl.start for sl in box], np.float32)
    through_box = box_projector.forward(rendered)
    valid = np.zeros(through_box.shape, bool)  # pixels that hold data, not the fill of a shift
    ey, ex = (max(int(e), 0) for e in edge_px)
    first, last = max(ey - rows.start, 0), min(volume.shape[1] - ey, rows.stop) - rows.start
    valid[:, first:max(last, first), ex:max(volume.shape[2] - ex, ex)] = True
    # the rays in the projector's order, (tilt, detector bin, row): the model is rendered and projected in it
    rays = np.ascontiguousarray(((through_box > 0) & valid).transpose(0, 2, 1))  # only they see the model
    scale = float(through_box.max())  # path lengths in units of the longest through the box
    if rays.sum() < 100 * len(p0):
        return NeckFit(labels_t, False, float("nan"), float("nan"), None, float("nan"), float("nan"), float("nan"), 0,
                       f"only {int(rays.sum())} rays through the pair hold data (the rest is the images' filled edges)")
    target_images = (images[:, rows, :] - projector.forward(slab * ~region)).transpose(0, 2, 1)
    # in float64: the normal equations below sum ~10⁶ rays at full resolution
    target = target_images[rays].astype(np.float64)
    residual_volume = float(((target - projector.forward(slab * region).transpose(0, 2, 1)[rays]) ** 2).sum())
    ray_variance = np.broadcast_to(variance, images.shape)[:, rows, :].transpose(0, 2, 1)[rays]
    residual_noise = float(ray_variance.sum())
    count = [0]

    def residuals_on(row_step: int, tilt_step: int):
        """The residuals on every ``row_step``-th row of the box and ``tilt_step``-th tilt, about ``p0``."""
        keep = (slice(None, None, tilt_step), slice(None), slice(None, None, row_step))
        on, data = rays[keep], target if row_step == tilt_step == 1 else target_images[keep][rays[keep]]
        data = np.asarray(data, np.float64)
        sparse = box_projector if tilt_step == 1 else get_projector(
            tilts[::tilt_step], *box_projector_shape, box_projector.name, n_det=volume.shape[2], centre_px=box_centre)
        out = np.empty((rendered.shape[0], rendered.shape[2], on.shape[2]), np.float32)  # (z, x, y)
        block = out.reshape(-1, on.shape[2])
        buffer = np.empty((on.shape[0] * on.shape[1], on.shape[2]), np.float32) if sparse.xp is np else None
        data_sum = float(data.sum())

        def residuals(q):
            render_occupancy(p0 + q, origin, out, row_step=row_step, order="zxy")
            count[0] += 1
            model = sparse.to_host(sparse.forward_block(block, out=buffer)).reshape(on.shape)[on].astype(np.float64)
            model /= scale
            # density, saturation and offset by linear least squares (variable projection) on the design
            # [m, m², 1]: its normal equations from dot products, without the (rays × 3) matrix
            square = model * model
            m1, m2, m3, m4 = float(model.sum()), float(model @ model), float(square @ model), float(square @ square)
            gram = np.array([[m2, m3, m1], [m3, m4, m2], [m1, m2, float(model.size)]]) + 1e-9 * np.eye(3)
            coef = np.linalg.solve(gram, np.array([float(model @ data), float(square @ data), data_sum]))
            model *= -coef[0]
            model -= coef[2]
            model += data
            square *= coef[1]
            model -= square
            return model
        return residuals

    def fit_from_p0(residuals):
        lower = np.concatenate([np.full(6, -np.inf), [0.5, 0.5, 0.0]]) - p0
        return least_squares(residuals, np.zeros(9), bounds=(lower, np.inf), diff_step=STEP_VOX,
                             max_nfev=MAX_EVALUATIONS, tr_solver="lsmr", xtol=XTOL, ftol=FTOL)

    # large pairs: the start (the scans and their fits) on a sparse set of rays, then one fit on all of them
    row_step = max(int(min(start.radius_a, start.radius_b) // SPARSE_RADIUS_VOX), 1)
    residuals = residuals_on(row_step, 2 if row_step > 1 else 1)
    p0[8] = _best_collar(p0, starts, residuals)
    best = None
    for round_ in range(COLLAR_ROUNDS):
        solution = fit_from_p0(residuals)
        p0 += solution.x  # the residuals are taken about p0: the next round starts from this fit
        if best is None or solution.cost < best[1].cost:  # a round that ends worse is not kept
            best = (p0.copy(), solution)
        if round_ == COLLAR_ROUNDS - 1:
            break
        collar = _best_collar(p0, [float(p0[8])], residuals)  # the scan again, on the fitted spheres
        if collar == p0[8]:
            break
        p0[8] = collar
    if row_step > 1:
        p0[:] = best[0]
        solution = fit_from_p0(residuals_on(1, 1))
        best = (p0 + solution.x, solution)
    p, solution = best
    fit = _unpack(p)
    residual_model = float(2.0 * solution.cost)
    r_n = fit.waist
    r_n_sd = _waist_sd(p, np.asarray(solution.jac), ray_variance)
    moved = max(np.linalg.norm(fit.centre_a - start.centre_a) / start.radius_a,
                np.linalg.norm(fit.centre_b - start.centre_b) / start.radius_b)
    change = max(fit.radius_a / start.radius_a, start.radius_a / fit.radius_a,
                 fit.radius_b / start.radius_b, start.radius_b / fit.radius_b)
    if moved > 0.5 or change > MAX_RADIUS_CHANGE:
        accepted, reason = False, "the fit left the segmented pair (a centre or a radius moved too far)"
    else:
        to_noise, to_volume = _ratio(residual_model, residual_noise), _ratio(residual_model, residual_volume)
        accepted = to_noise <= MAX_NOISE_RATIO or to_volume <= MAX_VOLUME_RATIO
        reason = (f"two spheres and a collar leave {to_noise:.2f} times the noise and {to_volume:.2f} times the "
                  f"reconstruction's residual" + ("" if accepted else
                                                  f" (at most {MAX_NOISE_RATIO} or {MAX_VOLUME_RATIO}): the particles "
                                                  f"are not near-spherical"))
    return NeckFit(labels_t, accepted, r_n, r_n_sd, fit, residual_model, residual_volume, residual_noise, count[0],
                   reason)


def refine_necks(measurements: Measurements, labels, volume, tilt_series, tilts_deg, noise_variance, *,
                 edge_px: tuple[int, int] = (0, 0), backend: str = "auto",
                 coalescing=()) -> tuple[Measurements, tuple[NeckFit, ...]]:
    """Every pair's neck fitted to the tilt series; accepted fits replace the volume's r_n and distances.

    The volume's reading (the interface area, :func:`~insitu4d.measure.measure_pairs`) stays
    in ``r_n_volume_nm``; ``r_n_nm`` and ``r_n_over_r_p`` take the fitted waist where the fit
    is accepted (module notes). So do the distances, which the labels read short where the
    reconstruction adds material beside the neck: ``d_nm`` (with ``d_xy_nm``, ``d_z_nm`` and
    ``d_over_2r_p``) becomes the distance between the centres of mass of the fitted model's
    halves (:func:`~insitu4d.physics.two_sphere_halves`), the quantity the labels' centroids
    estimate, and ``d_centre_nm`` the fitted spheres' centre distance; the labels' ``d_nm``
    stays in ``d_volume_nm``.

    Parameters
    ----------
    measurements : Measurements
        :func:`~insitu4d.measure.measure` of ``labels``.
    labels : (nz, ny, nx) ndarray of int
    volume : (nz, ny, nx) ndarray of float
    tilt_series : (n_tilts, ny, nx) ndarray of float
        Aligned, as reconstructed.
    tilts_deg : (n_tilts,) array_like of float, degrees
    noise_variance : float or (n_tilts, ny, nx) ndarray of float
        As in :func:`fit_neck_to_tilt_series`.
    edge_px : (int, int)
        As in :func:`fit_neck_to_tilt_series`.
    backend : str
    coalescing : iterable of (int, int)
        Pairs that the segmentation read as one body, no neck left between them
        (:func:`insitu4d.segment.segment`'s ``info["coalescing"]``, kept apart until the next
        time point confirms it): there is no neck to fit, and a two-spheres-and-collar model of
        one body wanders (waists wider than the smaller particle). They keep the volume's
        reading, with a fit not accepted that says why.

    Returns
    -------
    measurements : Measurements
    fits : tuple of NeckFit
        One per pair, in the pairs' order.

    Raises
    ------
    InvalidParameter
        As :func:`fit_neck_to_tilt_series`; ``coalescing`` that is not pairs of labels.
    """
    h = measurements.voxel_size_nm
    try:
        one_body = {frozenset((int(a), int(b))) for a, b in coalescing}
    except (TypeError, ValueError) as err:
        raise InvalidParameter(f"coalescing must hold pairs of particle labels, e.g. [(1, 3)]; got {coalescing!r}.") \
            from err
    pairs, fits = [], []
    for pair in measurements.pairs:
        if frozenset(pair.labels) in one_body:
            fit = NeckFit(tuple(int(v) for v in pair.labels), False, float("nan"), float("nan"), None, float("nan"),
                          float("nan"), float("nan"), 0, "the segmentation reads no neck left between them (one "
                          "body, to be confirmed at the next time point): no neck to fit")
        else:
            fit = fit_neck_to_tilt_series(volume, labels, pair.labels, tilt_series, tilts_deg, noise_variance,
                                          neck_start_vox=pair.r_n_volume_nm / h, edge_px=edge_px, backend=backend)
        fits.append(fit)
        if fit.accepted:
            pair = _fitted_pair(pair, fit, h)
        pairs.append(pair)
    return dataclasses.replace(measurements, pairs=tuple(pairs)), tuple(fits)


def _fitted_pair(pair: Pair, fit: NeckFit, h: float) -> Pair:
    """The pair with the accepted fit's neck and distances (lengths in nm; ``h`` the voxel size)."""
    r_p = pair.r_p_nm
    r_n = fit.r_n_vox * h
    model = fit.fit
    distance = model.distance
    changes = {"r_n_nm": r_n, "r_n_over_r_p": r_n / r_p if r_p > 0 else float("nan"), "d_centre_nm": distance * h}
    try:
        d = two_sphere_halves(model.neck_radius, model.radius_a, model.radius_b, distance).d_com * h
    except InvalidParameter:  # one sphere inside the other: no halves, the labels' distance stands
        d = None
    if d is not None and distance > 0:
        axis = (model.centre_b - model.centre_a) / distance
        changes.update(d_nm=d, d_xy_nm=d * float(np.hypot(axis[1], axis[2])), d_z_nm=d * float(abs(axis[0])),
                       d_over_2r_p=d / (2 * r_p) if r_p > 0 else float("nan"))
    return dataclasses.replace(pair, **changes)
