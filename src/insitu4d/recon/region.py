"""Reconstruct only where the sample is: the box that holds it, found from its shadows.

A nanoparticle experiment's field is mostly vacuum: the bounding box of the Ihara twin's
particles is about a third of its field. Parallel-beam rays through vacuum carry nothing, so a volume that is
zero outside a box explains the data as well as the whole field does, and the iterations
need only run over the box. The box is a window of the field (a volume narrower than the
detector, off the tilt axis: :class:`~insitu4d.recon.projector.Projector`), so every
ray of the detector still enters the fit.

**Finding the box** (:func:`find_region`) from the shadows, not from a reconstruction (a
coarse SIRT at ±40° smears the particles along the beam over the whole thickness):

* the rows along the tilt axis: from those whose summed signal (over tilts and columns)
  stands :data:`THRESHOLD_SIGMAS` noise standard deviations above zero, outward while it
  stays above :data:`EDGE_SIGMAS` (a particle's rim is faint: a sphere's cross-section
  vanishes at its edge);
* at each tilt θ, the shadow [u_lo, u_hi]: the detector columns whose summed signal
  (over the rows, smoothed over :data:`SMOOTH_COLUMNS` columns) stands out the same way;
* a point (x, z) of the sample projects to u = x cos θ + z sin θ inside the shadow at every
  tilt, so the sample lies in the intersection of the strips u_lo ≤ x cos θ + z sin θ ≤
  u_hi (its visual hull, Laurentini, IEEE Trans. Pattern Anal. Mach. Intell. 16, 150
  (1994), doi:10.1109/34.273735); the box is that polygon's extent in x and z (four
  linear programs), widened by :data:`MARGIN_PX` on every side for the faint rims the
  threshold leaves out.

A box that keeps more than :data:`MAX_FRACTION` of the field saves too little and is not
used.

**Checking it** (:func:`outside_signal`). Material too faint to pass the threshold column by
column, outside the box, would be forced into it. The detector pixels that no ray through
the box reaches should hold noise only; their summed signal is compared with its noise, and
beyond :data:`OUTSIDE_SIGMAS` standard deviations the whole field is reconstructed instead
(recorded in the provenance).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage
from scipy.optimize import linprog

from ..errors import InvalidParameter

#: A row or column holds sample where its summed signal exceeds this many noise standard deviations.
THRESHOLD_SIGMAS = 5.0
#: The sample's edge: from where it stands out, outward while the signal stays above this many SD.
EDGE_SIGMAS = 1.0
#: Columns the shadow profiles are smoothed over (a moving mean) before the threshold.
SMOOTH_COLUMNS = 5
#: Voxels added on every side of the box (the rims fainter than the threshold).
MARGIN_PX = 8
#: A box with more than this fraction of the field's voxels is not worth a window.
MAX_FRACTION = 0.7
#: Signal outside the box's shadow above this many noise standard deviations rejects the box.
OUTSIDE_SIGMAS = 5.0
#: ``region="auto"`` finds a box for fields of more than this many voxels (256³; smaller ones take seconds).
AUTO_MIN_VOXELS = 2 ** 24

__all__ = ["Region", "find_region", "outside_signal", "THRESHOLD_SIGMAS", "EDGE_SIGMAS", "SMOOTH_COLUMNS", "MARGIN_PX",
           "MAX_FRACTION", "OUTSIDE_SIGMAS", "AUTO_MIN_VOXELS"]


@dataclass(frozen=True)
class Region:
    """A box of the reconstructed field, in voxels of the full volume ``(nz, ny, nx)``.

    Attributes
    ----------
    z, y, x : (int, int)
        Start and stop (exclusive) along each axis.
    field_shape : (int, int, int)
        The whole field's ``(nz, ny, nx)``.
    """

    z: tuple[int, int]
    y: tuple[int, int]
    x: tuple[int, int]
    field_shape: tuple[int, int, int]

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """The box as slices of the ``(nz, ny, nx)`` volume."""
        return tuple(slice(a, b) for a, b in (self.z, self.y, self.x))

    @property
    def shape(self) -> tuple[int, int, int]:
        """The box's ``(nz, ny, nx)``."""
        return tuple(b - a for a, b in (self.z, self.y, self.x))

    @property
    def centre_px(self) -> tuple[float, float]:
        """The box's centre (z, x) relative to the tilt axis, pixels (a projector window's ``centre_px``)."""
        nz, _, nx = self.field_shape
        return ((self.z[0] + self.z[1] - 1) / 2 - (nz - 1) / 2, (self.x[0] + self.x[1] - 1) / 2 - (nx - 1) / 2)

    @property
    def fraction(self) -> float:
        """The box's share of the field's voxels."""
        return float(np.prod(self.shape) / np.prod(self.field_shape))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fraction"] = round(self.fraction, 4)
        return d


def find_region(data, tilts_deg, nz: int, noise_sum_sq: float) -> Region | None:
    """The box that holds the sample, from its shadows (module notes).

    Parameters
    ----------
    data : (n_tilts, ny, nx) array_like of float
        Aligned, background-free images; tilt axis along y through the image centre.
    tilts_deg : (n_tilts,) array_like of float, degrees
    nz : int
        The field's thickness along z, voxels.
    noise_sum_sq : float
        E‖n‖² of ``data`` (:class:`~insitu4d.noise.NoiseLevel`), its units squared; a
        pixel's variance is taken as its mean share.

    Returns
    -------
    Region or None
        None when nothing stands out of the noise, when the shadows contradict each other
        (no point projects inside all of them), or when the box would keep more than
        :data:`MAX_FRACTION` of the field.

    Raises
    ------
    InvalidParameter
        Images that are not a ``(n_tilts, ny, nx)`` stack with one angle each.
    """
    images = np.asarray(data, np.float64)
    _check_stack(images, tilts_deg)
    n_tilts, ny, nx = images.shape
    pixel_var = max(float(noise_sum_sq), 0.0) / images.size
    rows = _above_noise(images.sum(axis=(0, 2)), n_tilts * nx * pixel_var)
    if rows is None:
        return None
    shadows = []
    columns = images[:, rows[0]:rows[1] + 1, :].sum(axis=1)
    column_var = (rows[1] + 1 - rows[0]) * pixel_var / SMOOTH_COLUMNS  # of a moving mean over SMOOTH_COLUMNS
    for profile in columns:
        found = _above_noise(ndimage.uniform_filter1d(profile, SMOOTH_COLUMNS, mode="constant"), column_var)
        if found is None:
            return None
        shadows.append(found)
    theta = np.deg2rad(np.asarray(tilts_deg, np.float64))
    u = np.asarray(shadows, np.float64) - (nx - 1) / 2  # (n_tilts, 2): u_lo, u_hi, pixels from the centre
    extent = _hull_extent(np.cos(theta), np.sin(theta), u[:, 0] - 0.5, u[:, 1] + 0.5)
    if extent is None:
        return None
    (z_lo, z_hi), (x_lo, x_hi) = extent
    bounds = []
    for lo, hi, n in ((z_lo, z_hi, nz), (x_lo, x_hi, nx)):
        start = int(np.floor(lo + (n - 1) / 2)) - MARGIN_PX
        stop = int(np.ceil(hi + (n - 1) / 2)) + 1 + MARGIN_PX
        bounds.append((max(0, start), min(n, stop)))
    y = (max(0, rows[0] - MARGIN_PX), min(ny, rows[1] + 1 + MARGIN_PX))
    region = Region(bounds[0], y, bounds[1], field_shape=(int(nz), int(ny), int(nx)))
    return region if region.fraction <= MAX_FRACTION and min(region.shape) > 0 else None


def _check_stack(images: np.ndarray, tilts_deg) -> None:
    n = np.size(tilts_deg)
    if images.ndim != 3 or images.shape[0] != n:
        raise InvalidParameter(f"the images must be a (n_tilts, ny, nx) stack with one tilt angle each; got shape "
                               f"{images.shape} and {n} angles.")


def _above_noise(profile: np.ndarray, variance: float) -> tuple[int, int] | None:
    """First and last index of the sample in ``profile``: where it exceeds :data:`THRESHOLD_SIGMAS` SD of
    noise of ``variance``, widened while it stays above :data:`EDGE_SIGMAS` SD (a particle's rim)."""
    sd = np.sqrt(max(variance, 0.0))
    hit = np.flatnonzero(profile > THRESHOLD_SIGMAS * sd)
    if hit.size == 0:
        return None
    low = profile > EDGE_SIGMAS * sd
    first, last = int(hit[0]), int(hit[-1])
    while first > 0 and low[first - 1]:
        first -= 1
    while last < profile.size - 1 and low[last + 1]:
        last += 1
    return first, last


def _hull_extent(cos_t, sin_t, u_lo, u_hi) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The (z, x) extent of the points with u_lo ≤ x cos θ + z sin θ ≤ u_hi at every tilt, or None if there are none."""
    a = np.concatenate([np.stack([sin_t, cos_t], 1), -np.stack([sin_t, cos_t], 1)])  # variables (z, x)
    b = np.concatenate([u_hi, -u_lo])
    extent = []
    for axis in range(2):
        ends = []
        for sign in (1.0, -1.0):
            c = np.zeros(2)
            c[axis] = sign
            res = linprog(c, A_ub=a, b_ub=b, bounds=[(None, None)] * 2, method="highs")
            if res.status != 0:  # infeasible, or unbounded (one tilt direction only)
                return None
            ends.append(sign * res.fun)
        extent.append((ends[0], ends[1]))
    return extent[0], extent[1]


def outside_signal(data, tilts_deg, region: Region, noise_sum_sq: float) -> float:
    """The data's signal where no ray through the box reaches, in noise standard deviations.

    Parameters
    ----------
    data : (n_tilts, ny, nx) array_like of float
        The images the box was found from.
    tilts_deg : (n_tilts,) array_like of float, degrees
    region : Region
    noise_sum_sq : float
        E‖n‖² of ``data`` (:class:`~insitu4d.noise.NoiseLevel`), its units squared.

    Returns
    -------
    float
        Σ data over those pixels / √(their share of E‖n‖²); 0 when there are none.

    Raises
    ------
    InvalidParameter
        As :func:`find_region`.
    """
    images = np.asarray(data, np.float64)
    _check_stack(images, tilts_deg)
    n_tilts, ny, nx = images.shape
    theta = np.deg2rad(np.asarray(tilts_deg, np.float64))
    u = np.arange(nx) - (nx - 1) / 2
    outside = np.ones(images.shape, bool)
    nz = region.field_shape[0]
    zs = np.array(region.z, float) - np.array([0.5, -0.5]) - (nz - 1) / 2  # the box's outer faces
    xs = np.array(region.x, float) - np.array([0.5, -0.5]) - (nx - 1) / 2
    for t, th in enumerate(theta):
        corners = (xs[:, None] * np.cos(th) + zs[None, :] * np.sin(th)).ravel()
        reached = (u >= corners.min() - 1) & (u <= corners.max() + 1)
        outside[t, region.y[0]:region.y[1], reached] = False
    n_out = int(outside.sum())
    if n_out == 0:
        return 0.0
    sd = np.sqrt(max(noise_sum_sq, 0.0) * n_out / images.size)
    total = float(images[outside].sum())
    return total / sd if sd > 0 else (float("inf") if total > 0 else 0.0)
