"""Read 2D in situ movies: one stack file, or a folder of one image per frame.

Formats (through RosettaSciIO, as the tilt-series readers): DM3/DM4 and Velox EMD stacks
(in situ "movies" saved as one file), SER series, TIFF stacks, and folders of single
frames in any of these or PNG/JPEG, sorted naturally (``frame_2`` before ``frame_10``, by
``natsort``). HDF5 files with a ``/data`` dataset (insitu4d's own output) are read too.

What the metadata says is kept: the pixel size of the image axes, the frame times of a
time axis (``s`` or ``ms``) of a stack, the acquisition date and time (``General.date``,
``General.time``, ``General.time_zone``) of each file, and the exposure
(``Acquisition_instrument.TEM.Camera.exposure``, or the dwell time × pixels of a scan).
What is missing is taken from the arguments, and a frame time that is neither found nor
given leaves the times unknown (plots are then against frame number).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from ..errors import InvalidParameter, MissingPixelSize, NotAStack, UnreadableFile
from .readers import FORMATS, _get, _pixel_size_from_axes, _signal_axes, read_signal
from .vendor_logs import zone
from .writers import read_array

__all__ = ["Movie", "read_movie", "FRAME_SUFFIXES"]

#: suffixes of single-frame files a movie folder may hold
FRAME_SUFFIXES = tuple(sorted(FORMATS))
_TIME_UNITS_S = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "min": 60.0}


@dataclass(frozen=True)
class Movie:
    """A 2D in situ movie.

    Attributes
    ----------
    frames : (n_frames, ny, nx) ndarray of float32
    pixel_size_nm : float, nm
    frame_start_s : (n_frames,) ndarray of float, s, or None
        Start of each frame from the start of the first; None when unknown.
    exposure_s : float, s, or None
        Exposure (or scan time) of one frame.
    start : datetime or None
        Timezone-aware start of the first frame, when the metadata dates it.
    source : str
    frame_files : tuple of str
        The files of a folder movie, in frame order (empty for a stack file).
    metadata : dict
        Where each value came from, and the first frame's vendor metadata.
    """

    frames: np.ndarray
    pixel_size_nm: float
    frame_start_s: np.ndarray | None
    exposure_s: float | None
    start: datetime | None
    source: str
    frame_files: tuple[str, ...] = ()
    metadata: dict = field(default_factory=dict)


def _natural(paths: list[Path]) -> list[Path]:
    from natsort import natsorted

    return natsorted(paths, key=lambda p: p.name)


def _stamp(signal: dict, tz) -> datetime | None:
    """The acquisition time of a signal from ``General.date`` and ``General.time`` (and ``time_zone``)."""
    general = signal.get("metadata", {}).get("General", {})
    date, clock = general.get("date"), general.get("time")
    if not date or not clock:
        return None
    try:
        when = datetime.fromisoformat(f"{date}T{clock}")
    except ValueError:
        return None
    if when.tzinfo is None:
        named = general.get("time_zone")
        try:
            when = when.replace(tzinfo=zone(named) if named else tz)
        except InvalidParameter:
            when = when.replace(tzinfo=tz)
    return when


def _exposure(signal: dict, shape) -> float | None:
    meta = signal.get("metadata", {})
    exposure = _get(meta, "Acquisition_instrument.TEM.Camera.exposure")
    if exposure is not None and float(np.ravel(exposure)[0]) > 0:
        return float(np.ravel(exposure)[0])
    dwell = _get(meta, "Acquisition_instrument.TEM.dwell_time") or _get(meta, "Acquisition_instrument.TEM.Detector."
                                                                               "dwell_time")
    if dwell is not None and float(np.ravel(dwell)[0]) > 0:
        return float(np.ravel(dwell)[0]) * int(shape[-1]) * int(shape[-2])
    return None


def _time_axis(signal: dict, n: int) -> np.ndarray | None:
    axes = _signal_axes(signal)
    if len(axes) != 3:
        return None
    unit = str(axes[0].get("units") or "").strip()
    if unit not in _TIME_UNITS_S or not float(axes[0].get("scale") or 0) > 0:
        return None
    return float(axes[0]["scale"]) * _TIME_UNITS_S[unit] * np.arange(n)


def _grey(data: np.ndarray) -> np.ndarray:
    data = np.asarray(data)
    if data.dtype.names:  # RGB(A) as a structured dtype
        data = np.mean([data[c].astype(np.float32) for c in data.dtype.names[:3]], axis=0)
    return data.astype(np.float32)


def read_movie(path, *, pixel_size_nm: float | None = None, frame_time_s: float | None = None,
               timezone: str = "UTC") -> Movie:
    """Read a movie file or a folder of frames.

    Parameters
    ----------
    path : str or Path
        A stack (DM3/DM4, EMD, SER, TIFF, HSPY, MRC, HDF5 with ``/data``) or a folder of
        single frames (those formats and PNG/JPEG), naturally sorted.
    pixel_size_nm : float, nm, optional
        Overrides the metadata.
    frame_time_s : float, s, optional
        Time from one frame to the next, when the metadata has none (or to override it).
    timezone : str
        IANA zone of the acquisition PC, for dates without one.

    Returns
    -------
    Movie

    Raises
    ------
    UnreadableFile
        A missing or damaged file, an empty folder, frames of different sizes.
    NotAStack
        A single image where a stack is needed (a lone file holding one frame).
    MissingPixelSize
        No calibration found and none given.
    InvalidParameter
        A non-positive frame time or pixel size, an unknown time zone.
    """
    path = Path(path)
    tz = zone(timezone)
    for name, value in (("pixel_size_nm", pixel_size_nm), ("frame_time_s", frame_time_s)):
        if value is not None and not value > 0:
            raise InvalidParameter(f"{name} must be > 0; got {value}.")
    metadata: dict = {"pixel_size_source": "given" if pixel_size_nm is not None else None}
    files: tuple[str, ...] = ()
    if path.is_dir():
        candidates = _natural([p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and p.is_file()])
        if not candidates:
            raise UnreadableFile(f"folder {path} holds no frames ({', '.join(FRAME_SUFFIXES)}).")
        signals = [read_signal(p) for p in candidates]
        shapes = {np.shape(s["data"])[-2:] for s in signals}
        if len(shapes) > 1 or any(np.ndim(s["data"]) != 2 for s in signals):
            raise UnreadableFile(f"the frames in {path} differ in size or are not single images ({sorted(shapes)}); "
                                 "a movie folder holds one 2D image per file, all the same size.")
        frames = np.stack([_grey(s["data"]) for s, p in zip(signals, candidates)])
        first = signals[0]
        stamps = [_stamp(s, tz) for s in signals]
        start = stamps[0]
        times = (np.array([(t - stamps[0]).total_seconds() for t in stamps])
                 if all(t is not None for t in stamps) and len(set(stamps)) == len(stamps) else None)
        files = tuple(p.name for p in candidates)
        metadata["frame_times_source"] = "file dates" if times is not None else None
    elif path.suffix.lower() in (".h5", ".hdf5"):
        data, attrs = read_array(path)
        frames, first, start, times = data.astype(np.float32), {"metadata": {}, "axes": []}, None, None
        if pixel_size_nm is None and attrs.get("pixel_size_nm"):
            pixel_size_nm = float(attrs["pixel_size_nm"])
            metadata["pixel_size_source"] = f"{path.name} attributes"
    else:
        first = read_signal(path)
        frames = _grey(first["data"])
        if frames.ndim != 3:
            raise NotAStack(f"{path.name} holds one image of shape {frames.shape}; a movie is a stack of frames, "
                            "or a folder of single frames.")
        start = _stamp(first, tz)
        times = _time_axis(first, frames.shape[0])
        metadata["frame_times_source"] = f"{path.name} time axis" if times is not None else None
    if frames.shape[0] < 2:
        raise NotAStack(f"{path.name} holds a single frame; a movie needs at least two.")
    if frame_time_s is not None:
        times = frame_time_s * np.arange(frames.shape[0])
        metadata["frame_times_source"] = "given"
    if pixel_size_nm is None:
        pixel_size_nm = _pixel_size_from_axes(_signal_axes(first))
        metadata["pixel_size_source"] = "metadata"
        if pixel_size_nm is None:
            raise MissingPixelSize(f"{path.name} has no calibrated pixel size; give it with --pixel-size NM "
                                   "(pixel_size_nm=... in Python).")
    metadata["vendor"] = {"metadata": first.get("metadata", {})}
    return Movie(frames=frames, pixel_size_nm=float(pixel_size_nm), frame_start_s=times,
                 exposure_s=_exposure(first, frames.shape), start=start, source=str(path), frame_files=files,
                 metadata=metadata)
