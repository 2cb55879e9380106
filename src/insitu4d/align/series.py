"""Alignment of a tilt series: coarse axis direction, image registration, tilt-axis search and projection
matching, with every correction applied in one resampling."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage

from ..choices import ALIGN_METHODS
from ..data import TiltSeries, require_positive, require_whole
from ..errors import InvalidParameter
from ..preprocess import rotate_and_shift, rotate_images, rotate_to_vertical_axis
from .com import com_shifts
from .direction import decide_direction
from .mi import mi_shifts
from .projection_matching import projection_matching
from .scales import registration_sigma, working_binning
from .tilt_axis import find_tilt_axis
from .xcorr import apply_shifts, xcorr_shifts

__all__ = ["align_tilt_series", "AlignmentParameters", "Alignment", "apply_alignment", "detect_tilt_axis_direction",
           "METHODS", "LOW_DOSE_TV_WEIGHT"]

#: Image registration methods of :func:`align_tilt_series`.
METHODS = ALIGN_METHODS


#: Weight of the TV template of projection matching at low dose (registration σ > 1 px),
#: at a working width of about 128 px. On the twin at 250 e⁻/nm² the across-axis error
#: was lowest for 5–10 at 192 px (0.34–0.37 px; 1: 0.50, SIRT: 0.53) and flat over 1.2–6
#: at 512 and 1024 px (0.15–0.17 px; 0.3: 0.64, the reconstruction absorbs the misalignment).
LOW_DOSE_TV_WEIGHT = 5.0


def _shifts(ts: TiltSeries, method: str, sigma_px: float) -> tuple[np.ndarray, np.ndarray]:
    if method == "xcorr":
        return xcorr_shifts(ts, sigma_px=sigma_px)
    if method == "mi":
        return mi_shifts(ts, sigma_px=sigma_px)
    return com_shifts(ts)  # align_tilt_series has checked the method


@dataclass(frozen=True)
class Alignment:
    """What alignment did to a tilt series (a frozen record; :meth:`to_dict` is its ``run.json`` form).

    Attributes
    ----------
    shifts_px : (n_tilts, 2) ndarray of float, pixels
        (dy, dx) applied to each image in the aligned frame (after the coarse and fine
        rotations), including the axis offset.
    tilt_axis_deg : float, degrees
        Coarse in-plane direction of the tilt axis in the input images (0: along y).
    tilt_axis_offset_px : float, pixels
        x-position of the tilt axis relative to the image centre, after registration.
    tilt_axis_rotation_deg : float, degrees
        Fine in-plane rotation of the tilt axis applied (0 when the estimate was not
        significant, below twice its standard error, or, at high counts, did not make the
        series more consistent).
    tilt_axis_rotation_stderr_deg : float, degrees
        Standard error of the rotation estimate (:func:`~insitu4d.align.tilt_axis.rotation_from_moments`;
        inf when not estimated): at low dose it says how well the rotation is known.
    direction_residuals : list of (float, float)
        (direction, reprojection residual) of each tilt-axis direction tried; with
        ``tilt_axis_deg="auto"`` the direction is decided by how far apart they are.
    direction_rule : str
        How the direction was decided: ``"given"``, ``"residual"`` (the lower residual, by
        at least :data:`MIN_DIRECTION_CONTRAST`), or ``"convention"`` (undecided by the
        data: :data:`CONVENTIONAL_DIRECTION_DEG`).
    quality : (n_tilts,) ndarray of float
        Registration score of each image: normalised cross-correlation with its neighbour
        nearer 0° (xcorr), mutual information (mi), or total intensity over the median (com).
    residual_before, residual_after : float
        Criterion of the tilt-axis search before and after it (reprojection residual).
    refinement_rms_px : list of float
        RMS shift correction of each projection-matching round.
    method : str
        Registration method.
    sigma_px : float, pixels
        Smoothing scale of the registration.
    """

    shifts_px: np.ndarray
    tilt_axis_deg: float
    tilt_axis_offset_px: float
    tilt_axis_rotation_deg: float
    quality: np.ndarray
    residual_before: float
    residual_after: float
    refinement_rms_px: list
    method: str = "xcorr"
    sigma_px: float = 1.0
    tilt_axis_rotation_stderr_deg: float = float("inf")
    direction_residuals: list = field(default_factory=list)
    direction_rule: str = "given"

    def to_dict(self) -> dict:
        """The record for ``run.json`` and ``--json-out``: every field, arrays as lists.

        Returns
        -------
        dict
        """
        d = asdict(self)
        d["shifts_px"] = np.asarray(self.shifts_px).tolist()
        d["quality"] = np.asarray(self.quality).tolist()
        return d


def apply_alignment(data, alignment: Alignment) -> np.ndarray:
    """Resample another stack of the same tilt series exactly as :func:`align_tilt_series` resampled its images.

    For a stack that shares the images' geometry: a thinned difference of the counts
    (:mod:`insitu4d.noise`), a second detector, an element map. The coarse rotation of the
    axis direction, the fine rotation and the shifts (axis offset included) are applied in
    one bilinear interpolation (:func:`insitu4d.preprocess.rotate_and_shift`).

    Parameters
    ----------
    data : (n_tilts, ny, nx) array_like
        In the frame of the images that were aligned.
    alignment : Alignment

    Returns
    -------
    (n_tilts, ny', nx') ndarray of float32
        The tilt axis along ``y`` through the image centre.

    Raises
    ------
    InvalidParameter
        ``data`` holds another number of images than the alignment has shifts.
    """
    data = np.asarray(data, np.float32)
    shifts = np.asarray(alignment.shifts_px, np.float64)
    if data.ndim != 3 or data.shape[0] != len(shifts):
        raise InvalidParameter(f"the stack has shape {data.shape}; the alignment has {len(shifts)} images.")
    coarse = rotate_images(data, alignment.tilt_axis_deg)
    return rotate_and_shift(coarse, alignment.tilt_axis_rotation_deg, 0.0, shifts_px=shifts)


def _smooth(data: np.ndarray, sigma_px: float) -> np.ndarray:
    """Images smoothed in-plane for the tilt-axis search when the registration scale exceeds 1 px (low dose)."""
    return ndimage.gaussian_filter(data, (0, sigma_px, sigma_px)) if sigma_px > 1.0 else data


def _register(ts: TiltSeries, direction_deg: float, method: str = "xcorr", sigma_px: float = 1.0,
              **search) -> dict:
    """Coarse rotation, registration and a tilt-axis search for one axis direction."""
    coarse = rotate_to_vertical_axis(ts.replace(tilt_axis_deg=direction_deg))
    shifts, quality = _shifts(coarse, method, sigma_px)
    found = find_tilt_axis(_smooth(apply_shifts(coarse, shifts).data, sigma_px), ts.tilts_deg,
                           binning=working_binning(coarse.data.shape), **search)
    return {"direction_deg": direction_deg, "coarse": coarse, "shifts": shifts, "quality": quality, "found": found}


def _decide_direction(trials: list[dict]) -> tuple[dict, str]:
    """The trial of :func:`decide_direction`'s direction, and its rule."""
    direction, rule = decide_direction([(t["direction_deg"], t["found"]["residual"]) for t in trials])
    return next(t for t in trials if t["direction_deg"] == direction), rule


def detect_tilt_axis_direction(ts: TiltSeries) -> float:
    """Whether the tilt axis runs along image ``y`` (0°) or ``x`` (90°).

    Each direction is tried: images registered (:func:`xcorr_shifts`), axis offset searched
    (:func:`find_tilt_axis`); the direction whose projections a short SIRT fits better
    (lower reprojection residual) is the tilt axis: about the wrong axis the images are not
    projections of one object. When the residuals lie within
    :data:`MIN_DIRECTION_CONTRAST` of each other the data do not decide, and the convention
    (:data:`CONVENTIONAL_DIRECTION_DEG`) is taken: an object nearly symmetric about the
    true axis (a pair along it) fits about either axis, and on 100 random pair scenes at
    250 e⁻/nm² the lower residual chose the wrong axis in 4 such cases.

    Parameters
    ----------
    ts : TiltSeries
        Background-free, unaligned.

    Returns
    -------
    float
        0.0 or 90.0 degrees (``tilt_axis_deg`` convention of :class:`~insitu4d.data.TiltSeries`).
    """
    # a cheaper search (12 slices, 15 iterations) picked the wrong direction on the NIST needle
    trials = [_register(ts, angle, max_rotation_deg=0.0) for angle in (0.0, 90.0)]
    return _decide_direction(trials)[0]["direction_deg"]


@dataclass(frozen=True)
class AlignmentParameters:
    """The settings of :func:`align_tilt_series` that a run chooses, checked once on creation.

    Attributes
    ----------
    tilt_axis_deg : float or "auto", degrees
    search_tilt_axis : bool
    max_rotation_deg : float, degrees
        In [0, 45].
    method : {"xcorr", "mi", "com"}
    sigma_px : float or "auto", pixels
    refine_rounds : int
        ≥ 0.

    Raises
    ------
    InvalidParameter
        Any of them out of its range or of the wrong type; the message names it.
    """

    tilt_axis_deg: float | str = "auto"
    search_tilt_axis: bool = True
    max_rotation_deg: float = 3.0
    method: str = "xcorr"
    sigma_px: float | str = "auto"
    refine_rounds: int = 3

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InvalidParameter(f"unknown alignment method {self.method!r}; choose one of {', '.join(METHODS)}.")
        if self.tilt_axis_deg != "auto":
            try:
                object.__setattr__(self, "tilt_axis_deg", float(self.tilt_axis_deg))
            except (TypeError, ValueError):
                raise InvalidParameter(f"tilt_axis_deg must be 'auto' or a number of degrees; got "
                                       f"{self.tilt_axis_deg!r}.") from None
        if not isinstance(self.search_tilt_axis, bool):
            raise InvalidParameter(f"search_tilt_axis must be true or false; got {self.search_tilt_axis!r}.")
        if isinstance(self.max_rotation_deg, bool) or not isinstance(self.max_rotation_deg, (int, float)) \
                or not 0 <= self.max_rotation_deg <= 45:
            raise InvalidParameter(f"max_rotation_deg must be a number of degrees in [0, 45]; got "
                                   f"{self.max_rotation_deg!r}.")
        if self.sigma_px != "auto":
            require_positive(self.sigma_px, "sigma_px (align_sigma_px)", "pixels")
        require_whole(self.refine_rounds, "refine_rounds", minimum=0)

    def kwargs(self) -> dict:
        """The keyword arguments of :func:`align_tilt_series`.

        Returns
        -------
        dict
        """
        return asdict(self)


def align_tilt_series(ts: TiltSeries, *, tilt_axis_deg: float | str = "auto", search_tilt_axis: bool = True,
                      max_rotation_deg: float = 3.0, refine_rounds: int = 3, method: str = "xcorr",
                      sigma_px: float | str = "auto") -> tuple[TiltSeries, Alignment]:
    """Align a background-free tilt series: coarse axis direction, registration, axis search.

    1. Rotate so the tilt axis runs along ``y`` (``tilt_axis_deg``; with ``"auto"`` both
       image axes are tried through steps 2–3 and the more consistent one is kept, or the
       convention when neither is clearly so, as in :func:`detect_tilt_axis_direction`).
    2. Register the images: ``method="xcorr"``, neighbours chained from 0° with cosine
       stretching (:func:`xcorr_shifts`); ``"mi"``, the same chain by mutual information
       (:func:`mi_shifts`); ``"com"``, every image's centre of mass to the centre
       (:func:`com_shifts`).
    3. Find the axis offset and fine rotation by the reprojection residual
       (:func:`find_tilt_axis`); if the axis is rotated, register again in the rotated
       frame and find the offset once more.
    4. Refine the shifts by projection matching (:func:`projection_matching`); at low dose
       (registration scale σ > 1 px) against the re-projection of a TV reconstruction
       (weight :data:`LOW_DOSE_TV_WEIGHT`, about 128 px wide: :func:`working_binning`).

    Every image is resampled once with all corrections
    (:func:`insitu4d.preprocess.rotate_and_shift`).

    Parameters
    ----------
    ts : TiltSeries
    tilt_axis_deg : float or "auto", degrees
    search_tilt_axis : bool
        Step 3; without it the axis is assumed through the image centre.
    max_rotation_deg : float, degrees
        Range of the fine rotation search (0 disables it).
    refine_rounds : int
        Projection-matching rounds (0 disables step 4).
    method : {"xcorr", "mi", "com"}
    sigma_px : float or "auto", pixels
        Smoothing scale of the registration (and of projection matching); "auto":
        :func:`registration_sigma` of the data taken as counts (times the divisor of
        :func:`~insitu4d.preprocess.normalise` when it was applied), larger at low counts.

    Returns
    -------
    aligned : TiltSeries
        Tilt axis along ``y`` through the image centre; ``shifts_px`` set.
    alignment : Alignment

    Raises
    ------
    InvalidParameter
        Unknown registration method.
    """
    checked = AlignmentParameters(tilt_axis_deg, search_tilt_axis, max_rotation_deg, method, sigma_px, refine_rounds)
    tilt_axis_deg = checked.tilt_axis_deg
    counts = ts.data * ts.intensity_scale  # undo normalise(): detector counts
    sigma = registration_sigma(counts) if sigma_px == "auto" else float(sigma_px)
    low_dose = sigma > 1.0  # smoothed registration: the counts are too few for a pixel-sharp one
    directions = (0.0, 90.0) if tilt_axis_deg == "auto" else (float(tilt_axis_deg),)
    trials = [_register(ts, d, method, sigma, max_rotation_deg=max_rotation_deg if search_tilt_axis else 0.0)
              for d in directions]
    best, direction_rule = _decide_direction(trials)
    coarse, shifts, quality, found = best["coarse"], best["shifts"], best["quality"], best["found"]
    if not search_tilt_axis:
        found = dict(found, offset_px=0.0, residual=found["residual_at_zero"], fitted_rotation_deg=0.0)
    axis = {"offset_px": found["offset_px"], "rotation_deg": 0.0, "residual": found["residual"],
            "residual_at_zero": found["residual_at_zero"]}
    rotation = found["fitted_rotation_deg"]
    if abs(rotation) >= 0.1:
        # register again in the rotated frame (cosine stretching acts across the true
        # axis), find the offset again, and keep whichever alignment is more consistent;
        # at low dose the residual cannot see a 1° rotation (0.1478 either way on the
        # 1024² twin), so the significant moment estimate is kept
        rotated = coarse.replace(data=rotate_and_shift(coarse.data, rotation))
        shifts_r, quality_r = _shifts(rotated, method, sigma)
        registered = rotate_and_shift(coarse.data, rotation, shifts_px=shifts_r)
        refined = find_tilt_axis(_smooth(registered, sigma), ts.tilts_deg, max_rotation_deg=0.0,
                                 binning=working_binning(registered.shape))
        if refined["residual"] < found["residual"] or low_dose:
            shifts, quality = shifts_r, quality_r
            axis.update(offset_px=refined["offset_px"], rotation_deg=rotation, residual=refined["residual"])

    def resample(s):
        return rotate_and_shift(coarse.data, axis["rotation_deg"], axis["offset_px"], shifts_px=s)

    rms: list[float] = []
    if refine_rounds > 0:
        # at low dose a TV template, at ~128 px (the cost of TV grows as the width cubed)
        binning = working_binning(coarse.data.shape, 128 if low_dose else 256)
        tv_weight = LOW_DOSE_TV_WEIGHT if low_dose else 0.0
        shifts, rms = projection_matching(resample, shifts, ts.tilts_deg, rounds=refine_rounds, sigma_px=sigma,
                                          binning=binning, tv_weight=tv_weight)
    data = resample(shifts)
    total = shifts - np.array([0.0, axis["offset_px"]])
    aligned = coarse.replace(data=data, shifts_px=total)
    return aligned, Alignment(
        shifts_px=total, tilt_axis_deg=best["direction_deg"], tilt_axis_offset_px=axis["offset_px"],
        tilt_axis_rotation_deg=axis["rotation_deg"], quality=quality,
        residual_before=axis["residual_at_zero"], residual_after=axis["residual"], refinement_rms_px=rms,
        method=method, sigma_px=sigma, tilt_axis_rotation_stderr_deg=found.get("rotation_stderr_deg", float("inf")),
        direction_residuals=[[t["direction_deg"], float(t["found"]["residual"])] for t in trials],
        direction_rule=direction_rule,
    )
