"""Quality flags: the checks that tell a user when the numbers of a run do not mean what they seem.

Each check looks at one thing the pipeline made and raises a :class:`QualityFlag` with the
figure it saw, the limit it holds it to, and what to do. Flags are warnings: the run still
finishes (exit code 0) and writes them into ``run.json``, ``experiment.json`` and the
report. The limits, and why:

* ``unexplained_residual``: the part of the reprojection residual ‖Ax − b‖/‖b‖ that the
  noise does not explain, √(r² − ν²) with ν the relative noise (:mod:`insitu4d.noise`),
  above :data:`MAX_UNEXPLAINED_RESIDUAL`. Projections that are not of one rigid object
  turning about one axis (misalignment, a wrong axis, an object larger than the field,
  diffraction contrast) leave such a residual; the NIST needle leaves 0.04.
* ``tilt_axis_undecided``: the two axis directions tried gave reprojection residuals
  within :data:`MIN_DIRECTION_CONTRAST` of each other, relative.
* ``truncated_field_of_view``: bright signal at the image edges across the tilt axis in
  the aligned images (mean of the outer 3 % of columns over the mean of the brightest 1 %
  of pixels, median over the tilts, above :data:`MAX_EDGE_SIGNAL`): the object is larger
  than the field (region-of-interest tomography), so the volume holds truncation
  artefacts.
* ``not_separated_particles``: more than :data:`MAX_FOREGROUND_FRACTION` of the volume is
  foreground, or more than :data:`MAX_BORDER_FOREGROUND` of the foreground belongs to
  objects that touch the volume's sides across the tilt axis (x, or z along the beam):
  a film, a lamella or a matrix, not particles on a support.
* ``few_tilts``: fewer than :data:`MIN_TILTS` tilts, or a step above
  :data:`MAX_TILT_STEP_DEG`.
* ``low_counts``: fewer than :data:`MIN_COUNTS` detected counts per pixel in the brightest
  part of the images for the method (unregularised methods need more).
* ``neck_at_resolution``: a neck radius less than one voxel above the resolution of the
  volume along the neck's normal (:func:`edge_width_vox`, the 10–90 % width of the edge
  of the particles whose surface faces that way).
* ``neck_in_missing_wedge``: a neck whose normal (the pair axis) lies within 90° − α of the
  beam, α the smaller end of the tilt range. A tilt series to ±α measures no surface whose
  normal is that close to the beam (the missing wedge of the Fourier slice theorem: Kak &
  Slaney, *Principles of Computerized Tomographic Imaging*, SIAM 2001,
  doi:10.1137/1.9780898719277; taken over the azimuth as a cone);
  the surfaces beside such a neck face the beam, the gap between them is not seen, and a
  small neck reads wide. On the robustness benchmark (±40°, 250 e⁻/nm², 50 fresh random
  pairs) 12 of the 14 necks read more than 1.5 voxels wide were such necks.
* ``impossible_value``: r_n/r_p > 1 or d/(2r_p) < 0.5, which no pair of touching
  particles has.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from .align import CONVENTIONAL_DIRECTION_DEG, MIN_DIRECTION_CONTRAST, direction_contrast
from .distance import distance_to_background
from .measure.labels import grown_box

__all__ = ["QualityFlag", "check_tilts", "check_counts", "check_alignment", "check_residual",
           "check_field_of_view", "check_particles", "check_pairs", "edge_width_vox", "edge_widths_vox",
           "signed_distance_vox", "signal_counts"]

MAX_UNEXPLAINED_RESIDUAL = 0.15
MAX_EDGE_SIGNAL = 0.15
MAX_FOREGROUND_FRACTION = 0.30
MAX_BORDER_FOREGROUND = 0.50
MIN_TILTS = 20
MAX_TILT_STEP_DEG = 3.0
#: Detected counts per pixel (brightest part of the images) below which a method is starved.
MIN_COUNTS = {"fbp": 20.0, "sirt": 20.0, "sart": 20.0, "cgls": 20.0, "tv": 1.0, "asd-pocs": 1.0}


@dataclass(frozen=True)
class QualityFlag:
    """One warning about a run.

    Attributes
    ----------
    code : str
        Stable name (module notes).
    message : str
        What was seen, with the figure.
    advice : str
        What to do about it.
    value, limit : float or None
        The figure and the limit it broke.
    """

    code: str
    message: str
    advice: str
    value: float | None = None
    limit: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.code}: {self.message} {self.advice}"


def check_tilts(tilts_deg) -> list[QualityFlag]:
    """``few_tilts``: fewer than :data:`MIN_TILTS` tilts or a step above :data:`MAX_TILT_STEP_DEG`.

    Parameters
    ----------
    tilts_deg : (n_tilts,) array_like of float, degrees

    Returns
    -------
    list of QualityFlag
    """
    tilts = np.sort(np.asarray(tilts_deg, float))
    step = float(np.max(np.diff(tilts))) if tilts.size > 1 else float("inf")
    out = []
    if tilts.size < MIN_TILTS:
        out.append(QualityFlag("few_tilts", f"only {tilts.size} tilts.",
                               f"Record at least {MIN_TILTS} tilts; the reconstruction of so few is undersampled "
                               "and its shapes are uncertain.", float(tilts.size), float(MIN_TILTS)))
    if step > MAX_TILT_STEP_DEG:
        out.append(QualityFlag("few_tilts", f"tilt steps up to {step:.1f}°.",
                               f"Use steps of at most {MAX_TILT_STEP_DEG:g}°; coarse steps leave streaks and "
                               "blur edges.", step, MAX_TILT_STEP_DEG))
    return out


def signal_counts(counts) -> float:
    """Detected counts per pixel in the brightest part of the images.

    The mean of the brightest 5 % of pixels after a 2-pixel Gaussian (so that shot-noise
    spikes do not count as signal).

    Parameters
    ----------
    counts : (n_tilts, ny, nx) array_like
        Detected counts (vacuum level removed).

    Returns
    -------
    float
    """
    data = np.asarray(counts, np.float32)
    smooth = ndimage.gaussian_filter(data, (0, 2.0, 2.0))
    return float(np.mean(smooth[smooth >= np.percentile(smooth, 95)]))


def check_counts(counts_per_pixel: float | None, method: str) -> list[QualityFlag]:
    """``low_counts``: fewer counts per pixel than :data:`MIN_COUNTS` of the method.

    Parameters
    ----------
    counts_per_pixel : float or None
        :func:`signal_counts` of the data; None when they are not counts (no check).
    method : str
        The reconstruction method used.

    Returns
    -------
    list of QualityFlag
    """
    limit = MIN_COUNTS.get(method)
    if counts_per_pixel is None or limit is None or counts_per_pixel >= limit:
        return []
    advice = ("Reconstruct with TV (--method tv or auto), which suppresses the shot noise." if limit > 1 else
              "So few counts carry little shape information: bin the images, or raise the dose where the sample "
              "allows it.")
    return [QualityFlag("low_counts", f"{counts_per_pixel:.2g} detected counts per pixel in the brightest part of "
                        f"the images: too few for {method.upper()}.", advice, float(counts_per_pixel), limit)]


def check_residual(residual: float, noise_relative: float) -> list[QualityFlag]:
    """``unexplained_residual``: the reprojection residual the noise does not explain.

    Parameters
    ----------
    residual : float
        ‖Ax − b‖/‖b‖ of the reconstruction.
    noise_relative : float
        √E‖n‖²/‖b‖ (:class:`insitu4d.noise.NoiseLevel`).

    Returns
    -------
    list of QualityFlag
    """
    unexplained = float(np.sqrt(max(residual ** 2 - noise_relative ** 2, 0.0)))
    if unexplained <= MAX_UNEXPLAINED_RESIDUAL:
        return []
    return [QualityFlag("unexplained_residual",
                        f"the reconstruction leaves {100 * unexplained:.0f} % of the data unexplained beyond the noise "
                        f"(residual {residual:.3f}, noise {noise_relative:.3f}).",
                        "The images are not projections of one object about one axis: check the alignment and "
                        "tilt axis (insitu4d align), the tilt angles, and whether the object fits in the field.",
                        unexplained, MAX_UNEXPLAINED_RESIDUAL)]


def check_alignment(direction_residuals) -> list[QualityFlag]:
    """``tilt_axis_undecided``: the axis directions tried fit about equally well.

    Parameters
    ----------
    direction_residuals : sequence of (float, float)
        (direction, residual) of each direction tried (:class:`insitu4d.align.Alignment`);
        nothing is checked when one direction was given.

    Returns
    -------
    list of QualityFlag
    """
    if len(direction_residuals) < 2:
        return []
    contrast = direction_contrast(direction_residuals)
    if contrast >= MIN_DIRECTION_CONTRAST:
        return []
    res = sorted(float(r) for _, r in direction_residuals)
    return [QualityFlag("tilt_axis_undecided",
                        f"the tilt-axis directions tried fit within {100 * contrast:.1f} % of each other "
                        f"(residuals {res[0]:.3f} and {res[1]:.3f}), so the convention was taken: "
                        f"{CONVENTIONAL_DIRECTION_DEG:g}°, the tilt axis along image y.",
                        "Give the direction of the tilt axis (--tilt-axis-deg), from the microscope or a "
                        "calibration series.", contrast, MIN_DIRECTION_CONTRAST)]


def check_field_of_view(aligned, *, margin_px: int = 0) -> list[QualityFlag]:
    """``truncated_field_of_view``: bright signal at the image edges across the tilt axis.

    Parameters
    ----------
    aligned : (n_tilts, ny, nx) array_like
        Aligned, background-free images, tilt axis along y.
    margin_px : int
        Columns at each edge to skip (alignment fills what it shifted in with zeros).

    Returns
    -------
    list of QualityFlag
    """
    data = np.asarray(aligned, np.float32)
    nx = data.shape[2]
    k = max(2, int(round(0.03 * nx)))
    m = min(max(int(margin_px), 0), max(nx // 2 - k, 0))
    ratios = []
    for image in data:
        bright = float(np.mean(image[image >= np.percentile(image, 99)]))
        edge = float(np.mean(np.concatenate([image[:, m:m + k].ravel(), image[:, nx - m - k:nx - m].ravel()])))
        ratios.append(edge / bright if bright > 0 else 0.0)
    ratio = float(np.median(ratios))
    if ratio <= MAX_EDGE_SIGNAL:
        return []
    return [QualityFlag("truncated_field_of_view",
                        f"the images are bright at their edges across the tilt axis ({100 * ratio:.0f} % of the "
                        "brightest signal): the object is larger than the field of view.",
                        "Reconstructions of a truncated object (region-of-interest tomography) carry artefacts at "
                        "its edges; image the whole object, or treat shapes near the edges with care.",
                        ratio, MAX_EDGE_SIGNAL)]


def check_particles(labels) -> list[QualityFlag]:
    """``not_separated_particles``: most of the volume is foreground, or the foreground runs into its sides.

    Parameters
    ----------
    labels : (nz, ny, nx) ndarray of int
        0 background.

    Returns
    -------
    list of QualityFlag
    """
    labels = np.asarray(labels)
    fg = labels > 0
    n_fg = int(fg.sum())
    if n_fg == 0:
        return [QualityFlag("not_separated_particles", "nothing was segmented.",
                            "Check the reconstruction (orthoslices.png): the particles may be lost in noise or "
                            "the threshold may have failed.", 0.0, None)]
    fraction = n_fg / fg.size
    sides = np.unique(np.concatenate([labels[0].ravel(), labels[-1].ravel(), labels[:, :, 0].ravel(),
                                      labels[:, :, -1].ravel()]))
    sides = sides[sides > 0]
    border = float(np.isin(labels, sides).sum()) / n_fg if sides.size else 0.0
    out = []
    if fraction > MAX_FOREGROUND_FRACTION or border > MAX_BORDER_FOREGROUND:
        out.append(QualityFlag("not_separated_particles",
                               f"{100 * fraction:.0f} % of the volume is foreground and {100 * border:.0f} % of it "
                               "touches the volume's sides: this is not a set of separated particles.",
                               "Particle and neck measurements assume particles on a thin support; for a film, a "
                               "lamella or a matrix they do not mean anything.",
                               max(fraction / MAX_FOREGROUND_FRACTION, border / MAX_BORDER_FOREGROUND), 1.0))
    return out


def signed_distance_vox(mask) -> np.ndarray:
    """Signed distance (voxels) of every voxel to the surface of a mask: positive inside.

    The surface is taken half a voxel outside the outermost inside voxels.

    Parameters
    ----------
    mask : (nz, ny, nx) array_like of bool

    Returns
    -------
    (nz, ny, nx) ndarray of float
    """
    m = np.asarray(mask, bool)
    signed = distance_to_background(m) - distance_to_background(~m)
    return np.where(m, signed - 0.5, signed + 0.5)


#: σ of the Gaussian that smooths the distance map before its gradient gives the surface normals, voxels.
_NORMAL_SMOOTHING_VOX = 1.0


def edge_width_vox(volume, mask, *, direction=None, signed=None, max_distance_vox: float = 5.0) -> float:
    """The 10–90 % width of the particles' edge in a reconstruction: its resolution, in voxels.

    The grey values are averaged over shells of equal signed distance to the segmented
    surface (0.5-voxel bins, ± ``max_distance_vox``); the width is the distance over which
    that profile rises from 10 % to 90 % of the way from the background level to the
    particles'. For a Gaussian blur of σ it is 2.56 σ. With ``direction`` only the voxels
    whose surface normal lies within 30° of it count: the resolution along that direction
    (the missing wedge blurs along the beam, z, more than across it).

    Parameters
    ----------
    volume : (nz, ny, nx) array_like
    mask : (nz, ny, nx) array_like of bool
        The segmented particles.
    direction : (3,) array_like of float, optional
        (z, y, x).
    signed : (nz, ny, nx) ndarray, optional
        :func:`signed_distance_vox` of ``mask``, if already computed.
    max_distance_vox : float

    Returns
    -------
    float
        Voxels; NaN when the mask is empty or full, or no surface faces ``direction``.
    """
    return edge_widths_vox(volume, mask, [direction], signed=signed, max_distance_vox=max_distance_vox)[0]


def edge_widths_vox(volume, mask, directions, *, signed=None, max_distance_vox: float = 5.0) -> list[float]:
    """:func:`edge_width_vox` along several directions, the surface normals computed once.

    Only the voxels within ``max_distance_vox`` of the surface enter, so the normals are
    computed there alone (a full-resolution volume has tens of millions of voxels), and
    the distance map is computed in the particles' bounding box, grown by the shell and
    the smoothing's reach: beyond it no voxel enters, and inside it the distances are
    those of the whole field (the nearest surface of a voxel in the box lies in the box).
    On the full-resolution twin (576 × 448 × 576) that is 105 s less.

    Parameters
    ----------
    volume : (nz, ny, nx) array_like
    mask : (nz, ny, nx) array_like of bool
    directions : sequence of (3,) array_like of float or None
        (z, y, x); None for all voxels of the shell.
    signed : (nz, ny, nx) ndarray, optional
    max_distance_vox : float

    Returns
    -------
    list of float
        One width per direction, voxels (NaN as in :func:`edge_width_vox`).
    """
    m = np.asarray(mask, bool)
    if not m.any() or m.all():
        return [float("nan")] * len(directions)
    # the shell, the smoothing's reach (4 σ) and the normals' central difference
    reach = int(np.ceil(max_distance_vox + 0.5)) + int(4.0 * _NORMAL_SMOOTHING_VOX + 0.5) + 2
    box = grown_box(ndimage.find_objects(m.view(np.uint8))[0], reach, m.shape)
    m, volume = m[box], np.asarray(volume)[box]
    signed = signed_distance_vox(m) if signed is None else np.asarray(signed)[box]
    near = np.abs(signed) <= max_distance_vox + 0.5
    values = np.asarray(volume, np.float64)[near]
    distances = signed[near]
    normals = None
    if any(d is not None for d in directions):  # the gradient of the smoothed distance, at the shell's voxels
        index = np.nonzero(near)
        smooth = ndimage.gaussian_filter(np.asarray(signed, np.float64), _NORMAL_SMOOTHING_VOX)
        normals = np.empty((3, distances.size))
        for axis in range(3):
            up = tuple(np.minimum(i + 1, n - 1) if a == axis else i for a, (i, n) in enumerate(zip(index, m.shape)))
            down = tuple(np.maximum(i - 1, 0) if a == axis else i for a, i in enumerate(index))
            span = np.where((index[axis] > 0) & (index[axis] < m.shape[axis] - 1), 2.0, 1.0)  # np.gradient's
            normals[axis] = (smooth[up] - smooth[down]) / span
        normals /= np.linalg.norm(normals, axis=0) + 1e-12
    widths = []
    for direction in directions:
        select = slice(None)
        if direction is not None:
            u = np.asarray(direction, float)
            u = u / max(np.linalg.norm(u), 1e-12)
            select = np.abs(u @ normals) >= np.cos(np.deg2rad(30.0))
            if not select.any():
                widths.append(float("nan"))
                continue
        widths.append(_profile_width(distances[select], values[select], max_distance_vox))
    return widths


def _profile_width(distances: np.ndarray, values: np.ndarray, max_distance_vox: float) -> float:
    """The 10–90 % rise of the mean value over 0.5-voxel bins of signed distance (:func:`edge_width_vox`)."""
    bins = np.arange(-max_distance_vox, max_distance_vox + 0.25, 0.5)
    idx = np.digitize(distances, bins)
    sums = np.bincount(idx, weights=values, minlength=bins.size + 1)
    counts = np.bincount(idx, minlength=bins.size + 1)
    centres = (bins[:-1] + bins[1:]) / 2
    profile = sums[1:bins.size] / np.maximum(counts[1:bins.size], 1)
    valid = counts[1:bins.size] > 0
    centres, profile = centres[valid], profile[valid]
    outer, inner = profile[centres < -max_distance_vox + 1.5], profile[centres > max_distance_vox - 1.5]
    if not (outer.size and inner.size):
        return float("nan")
    lo, hi = outer.mean(), inner.mean()
    if not hi > lo:
        return float("nan")
    rise = np.maximum.accumulate((profile - lo) / (hi - lo))
    return float(np.interp(0.9, rise, centres) - np.interp(0.1, rise, centres))


def check_pairs(pairs, voxel_size_nm: float, resolution_vox, *, tilts_deg=None, fitted=()) -> list[QualityFlag]:
    """``neck_at_resolution``, ``neck_in_missing_wedge`` and ``impossible_value`` for the measured pairs.

    Parameters
    ----------
    pairs : sequence of Pair
        :func:`insitu4d.measure.measure_pairs` records.
    voxel_size_nm : float
    resolution_vox : float or sequence of float
        :func:`edge_width_vox` of the volume, one for all pairs or one per pair (along its
        neck normal); NaN: no resolution check.
    tilts_deg : (n_tilts,) array_like of float, degrees, optional
        The tilt angles; None: no missing-wedge check.
    fitted : collection of (int, int)
        Labels of the pairs whose r_n was fitted to the tilt series
        (:func:`insitu4d.neck_fit.refine_necks`): their neck is not read from the volume, so
        the two neck flags, which say the volume reads it wide, do not apply to them.

    Returns
    -------
    list of QualityFlag
        At most one flag of each kind, naming every pair concerned.
    """
    out = []
    widths = np.broadcast_to(np.asarray(resolution_vox, float), (len(pairs),))
    fitted = {frozenset(labels) for labels in fitted}
    from_volume = [frozenset(p.labels) not in fitted for p in pairs]
    low = [(p, w) for p, w, v in zip(pairs, widths, from_volume)
           if v and np.isfinite(w) and p.r_n_nm < (w + 1.0) * voxel_size_nm]
    if low:
        names = ", ".join(f"{p.labels[0]}–{p.labels[1]} ({p.r_n_nm:.1f} nm, resolution {w:.1f} voxels)"
                          for p, w in low)
        out.append(QualityFlag("neck_at_resolution",
                               f"neck radius within one voxel ({voxel_size_nm:.3g} nm) of the resolution along its "
                               f"normal for pair(s) {names}.",
                               "Such necks are read too wide (the blur fills the gap beside the neck); treat "
                               "them as upper bounds, or image at a finer pixel.",
                               float(min(p.r_n_nm for p, _ in low)),
                               float(min((w + 1.0) * voxel_size_nm for _, w in low))))
    if tilts_deg is not None and len(tilts_deg):
        alpha = min(abs(float(np.min(tilts_deg))), abs(float(np.max(tilts_deg))))
        cone = 90.0 - alpha
        angles = [(p, float(np.degrees(np.arccos(min(abs(p.neck_normal[0]), 1.0))))) for p, v in zip(pairs, from_volume)
                  if v]
        facing = [(p, a) for p, a in angles if a < cone]
        if facing:
            names = ", ".join(f"{p.labels[0]}–{p.labels[1]} ({a:.0f}°)" for p, a in facing)
            out.append(QualityFlag("neck_in_missing_wedge",
                                   f"the neck normal of pair(s) {names} lies within {cone:.0f}° of the beam: tilts "
                                   f"to ±{alpha:.0f}° do not see the surfaces beside these necks.",
                                   "A small neck there reads too wide (the unseen gap beside it is filled): treat "
                                   "its r_n as an upper bound. A wider tilt range narrows the cone.",
                                   float(min(a for _, a in facing)), cone))
    bad = [p for p in pairs if p.r_n_over_r_p > 1 or p.d_over_2r_p < 0.5]
    if bad:
        names = ", ".join(f"{p.labels[0]}–{p.labels[1]} (r_n/r_p {p.r_n_over_r_p:.2f}, d/2r_p "
                          f"{p.d_over_2r_p:.2f})" for p in bad)
        out.append(QualityFlag("impossible_value", f"values no pair of touching particles has: {names}.",
                               "The segmentation has not split these particles as they are; inspect labels.h5 "
                               "and orthoslices.png.", None, None))
    return out
