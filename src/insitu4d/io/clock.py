"""The clock model: holder-log conditions at every frame or tilt image.

The microscope and the holder's PC keep separate clocks. An image recorded from ``t0`` for
``exposure_s`` (microscope clock) saw the holder at the log's time

    t_log = t0 + exposure_s / 2 + clock_offset_s,

the middle of its exposure moved onto the log's clock. ``clock_offset_s`` is the log clock
minus the microscope clock: stated (from a synchronisation note, or 0 when both PCs follow
the same time server) or fitted with :func:`fit_clock_offset`. The log's channels are then
interpolated linearly between its samples, which stay where the log took them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ..errors import InvalidParameter
from .holder_log import HolderLog, LogChannel

__all__ = ["FrameConditions", "frame_conditions", "fit_clock_offset", "log_seconds"]


@dataclass(frozen=True)
class FrameConditions:
    """Holder conditions per image.

    Attributes
    ----------
    time_s : (n,) ndarray of float, s
        Mid-exposure times on the log's clock (from the log's start).
    temperature_C, set_point_C, heater_power_mW : (n,) ndarray of float or None
        °C, °C, mW; None where the log has no such channel.
    channels : tuple of LogChannel
        Every channel of the log at the images, in its own unit.
    clock_offset_s : float, s
        Log clock minus microscope clock, as used.
    """

    time_s: np.ndarray
    temperature_C: np.ndarray | None
    set_point_C: np.ndarray | None
    heater_power_mW: np.ndarray | None
    channels: tuple[LogChannel, ...]
    clock_offset_s: float


def log_seconds(log: HolderLog, times) -> np.ndarray:
    """Times as seconds on the log's clock from its start.

    Parameters
    ----------
    log : HolderLog
    times : (n,) sequence of datetime (timezone-aware) or of float, s
        Absolute times, or seconds already counted from the log's start.

    Returns
    -------
    (n,) ndarray of float, s

    Raises
    ------
    InvalidParameter
        Absolute times for a log without a start time, or times without a time zone.
    """
    values = list(np.atleast_1d(np.asarray(times, dtype=object)))
    if values and isinstance(values[0], datetime):
        if log.start is None:
            raise InvalidParameter(f"holder log {log.source} does not state its date and start time, so absolute "
                                   "image times cannot be placed on it; give the images' times in seconds from the "
                                   "log's start.")
        if any(v.tzinfo is None for v in values):
            raise InvalidParameter("image times need a time zone (a datetime with tzinfo) to be compared with the "
                                   "holder log.")
        return np.array([(v - log.start).total_seconds() for v in values])
    return np.asarray(values, dtype=np.float64)


def frame_conditions(log: HolderLog, frame_start, *, exposure_s=0.0, clock_offset_s: float = 0.0) -> FrameConditions:
    """The holder's temperature, set point, heater power and other channels at each image.

    Parameters
    ----------
    log : HolderLog
    frame_start : (n,) sequence of datetime or of float, s
        Start of each image's exposure on the microscope clock: timezone-aware datetimes, or
        seconds from the log's start.
    exposure_s : float or (n,) array of float, s
        Exposure (frame or image acquisition) time.
    clock_offset_s : float, s
        Log clock minus microscope clock.

    Returns
    -------
    FrameConditions

    Raises
    ------
    InvalidParameter
        A negative exposure; an image outside the log's span (the message gives both spans);
        absolute times without a log start.
    """
    start = log_seconds(log, frame_start)
    exposure = np.broadcast_to(np.asarray(exposure_s, dtype=np.float64), start.shape)
    if np.any(exposure < 0) or not np.isfinite(clock_offset_s):
        raise InvalidParameter("exposure_s must be ≥ 0 and clock_offset_s finite.")
    t = start + exposure / 2 + clock_offset_s

    def at(values):
        return None if values is None else log.interpolate(values, t)

    return FrameConditions(t, at(log.temperature_C), at(log.set_point_C), at(log.heater_power_mW),
                           tuple(LogChannel(c.name, at(c.values), c.unit) for c in log.channels),
                           float(clock_offset_s))


def fit_clock_offset(log: HolderLog, frame_time_s, frame_signal, *, max_offset_s: float,
                     values: np.ndarray | None = None) -> float:
    """Fit the clock offset that lines up a per-frame signal with the log's temperature changes.

    Thermal drift and focus changes follow the holder's temperature changes: a frame signal
    such as the drift speed (px/s from :func:`insitu4d.align.movie.movie_drift`) peaks where
    the temperature ramps. The offset maximises the Pearson correlation between the signal and
    ``|dT/dt|`` of the log read at ``frame_time_s + offset``, searched on a grid of half the
    finer sampling interval over ``±max_offset_s`` and refined by a parabola through the best
    three points.

    Parameters
    ----------
    log : HolderLog
    frame_time_s : (n,) array of float, s
        Mid-exposure times on the microscope clock, from the log's start.
    frame_signal : (n,) array of float
        A per-frame quantity that rises when the temperature changes.
    max_offset_s : float, s
        Largest offset searched, either way.
    values : (k,) ndarray, optional
        The log channel to differentiate; the temperature by default.

    Returns
    -------
    float, s
        Log clock minus microscope clock.

    Raises
    ------
    InvalidParameter
        Fewer than 3 frames, signals of different lengths, a log without temperature, a
        search that leaves the log's span, or a flat signal (nothing to line up).
    """
    t = np.asarray(frame_time_s, dtype=np.float64)
    s = np.asarray(frame_signal, dtype=np.float64)
    values = log.temperature_C if values is None else np.asarray(values, dtype=np.float64)
    if values is None:
        raise InvalidParameter(f"holder log {log.source} records no temperature; pass the channel to line up.")
    if t.size < 3 or s.shape != t.shape or not max_offset_s > 0:
        raise InvalidParameter("fit_clock_offset needs ≥ 3 frames, one signal value per frame and max_offset_s > 0.")
    if t[0] - max_offset_s < log.time_s[0] or t[-1] + max_offset_s > log.time_s[-1]:
        raise InvalidParameter(f"the frames ± {max_offset_s:g} s reach outside the holder log {log.source} "
                               f"({log.time_s[0]:g} … {log.time_s[-1]:g} s); search a smaller offset.")
    if np.ptp(s) == 0:
        raise InvalidParameter("the frame signal is flat: there is no temperature change to line up with.")
    rate = np.abs(np.gradient(values, log.time_s))
    step = 0.5 * min(np.median(np.diff(t)), np.median(np.diff(log.time_s)))
    offsets = np.arange(-max_offset_s, max_offset_s + step / 2, step)
    score = np.array([np.corrcoef(s, np.interp(t + o, log.time_s, rate))[0, 1] for o in offsets])
    score = np.nan_to_num(score, nan=-1.0)
    k = int(np.argmax(score))
    if 0 < k < offsets.size - 1:
        a, b, c = score[k - 1: k + 2]
        denom = a - 2 * b + c
        if denom < 0:
            return float(offsets[k] + 0.5 * step * (a - c) / denom)
    return float(offsets[k])
