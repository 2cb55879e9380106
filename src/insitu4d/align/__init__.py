"""Tilt-series alignment: registration of the images and the tilt axis.

The face of the package; the work is in its modules: :mod:`~insitu4d.align.series` (the
whole alignment), :mod:`~insitu4d.align.xcorr`, :mod:`~insitu4d.align.mi`,
:mod:`~insitu4d.align.com` (registration), :mod:`~insitu4d.align.tilt_axis` (axis offset and
rotation), :mod:`~insitu4d.align.direction` (axis direction),
:mod:`~insitu4d.align.projection_matching`, :mod:`~insitu4d.align.scales` and
:mod:`~insitu4d.align.movie` (drift of 2D movies).
"""

from .com import com_shifts
from .direction import CONVENTIONAL_DIRECTION_DEG, MIN_DIRECTION_CONTRAST, decide_direction, direction_contrast
from .mi import mi_shifts
from .projection_matching import projection_matching
from .scales import registration_sigma, working_binning
from .series import LOW_DOSE_TV_WEIGHT, METHODS, Alignment, AlignmentParameters, align_tilt_series, \
    apply_alignment, detect_tilt_axis_direction
from .tilt_axis import find_tilt_axis
from .xcorr import apply_shifts, xcorr_shifts

__all__ = ["align_tilt_series", "AlignmentParameters", "Alignment", "xcorr_shifts", "mi_shifts", "com_shifts",
           "apply_shifts", "find_tilt_axis", "detect_tilt_axis_direction", "decide_direction", "direction_contrast",
           "MIN_DIRECTION_CONTRAST", "CONVENTIONAL_DIRECTION_DEG", "projection_matching", "registration_sigma",
           "METHODS", "working_binning", "LOW_DOSE_TV_WEIGHT", "apply_alignment"]
