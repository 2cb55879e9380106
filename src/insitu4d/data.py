"""Data types: arrays with their physical metadata, validated on construction.

Array order (DESIGN.md): tilt series ``(tilt, y, x)`` with the tilt axis along ``y`` after
alignment; volume ``(z, y, x)`` with ``z`` along the beam at 0° tilt and ``y`` the tilt axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InvalidParameter, InvalidPixelValues, InvalidTiltAngles, NotAStack, TiltAngleMismatch

__all__ = ["TiltSeries", "Volume", "ProcessingStep", "validate_tilts", "require_positive", "require_whole",
           "require_contrast"]


def _is_dask(array) -> bool:
    return type(array).__module__.startswith("dask")


def _as_float32_stack(data, what: str, ndim: int, axes: str):
    if not hasattr(data, "shape"):
        data = np.asarray(data)
    if data.ndim != ndim:
        hint = " (a single image: a tilt series needs one image per tilt angle)" if data.ndim == 2 else ""
        raise NotAStack(f"{what} must be a {ndim}D array ({axes}); got shape {tuple(data.shape)}{hint}.")
    if min(data.shape) < 1:
        raise NotAStack(f"{what} has an empty axis: shape {tuple(data.shape)}.")
    if _is_dask(data):
        return data.astype(np.float32)  # finiteness is checked when computed (preprocess)
    data = np.asarray(data, dtype=np.float32)
    bad = ~np.isfinite(data)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InvalidPixelValues(
            f"{what} holds {int(bad.sum())} NaN or infinite pixel(s), the first at index {first} "
            f"({axes}); replace or mask them (e.g. numpy.nan_to_num) before processing."
        )
    return data


def validate_tilts(tilts_deg, n_images: int | None = None) -> np.ndarray:
    """Check tilt angles and return them as float64 degrees.

    Parameters
    ----------
    tilts_deg : (n_tilts,) array_like of float, degrees
    n_images : int, optional
        Number of images the angles belong to.

    Returns
    -------
    (n_tilts,) ndarray of float64, degrees

    Raises
    ------
    TiltAngleMismatch
        If ``len(tilts_deg) != n_images``.
    InvalidTiltAngles
        If angles are not finite, outside [-90°, 90°], duplicated or not monotonic.
    """
    tilts = np.asarray(tilts_deg, dtype=np.float64).ravel()
    if n_images is not None and tilts.size != n_images:
        raise TiltAngleMismatch(
            f"{n_images} images but {tilts.size} tilt angles; give one angle per image "
            "(check that the tilt file belongs to this stack)."
        )
    if tilts.size < 2:
        raise InvalidTiltAngles(f"a tilt series needs at least 2 tilt angles; got {tilts.size}.")
    if not np.all(np.isfinite(tilts)):
        raise InvalidTiltAngles(f"tilt angles must be finite numbers; got {tilts.tolist()}.")
    if np.any(np.abs(tilts) > 90.0):
        raise InvalidTiltAngles(
            f"tilt angles must lie in [-90°, 90°]; got {tilts.min():g}° to {tilts.max():g}° "
            "(are they in radians? give degrees)."
        )
    diffs = np.diff(tilts)
    dup = np.flatnonzero(diffs == 0)
    if dup.size:
        i = int(dup[0])
        raise InvalidTiltAngles(
            f"duplicated tilt angle {tilts[i]:g}° at images {i} and {i + 1}; remove the repeated image "
            "or correct the tilt file."
        )
    if not (np.all(diffs > 0) or np.all(diffs < 0)):
        i = int(np.flatnonzero(np.sign(diffs) != np.sign(diffs[0]))[0])
        raise InvalidTiltAngles(
            f"tilt angles are not monotonic: {tilts[i]:g}° -> {tilts[i + 1]:g}° at image {i + 1}; sort the "
            "images by tilt angle (a dose-symmetric scheme must be re-ordered before reconstruction)."
        )
    return tilts


def require_contrast(data, what: str) -> None:
    """Stop when every value of ``data`` is the same: such a stack or volume holds no image.

    Parameters
    ----------
    data : ndarray
        Any shape (dask arrays are not checked: that would compute them).
    what : str
        What the array is, for the message (e.g. "tilt series T01.mrc").

    Returns
    -------
    None

    Raises
    ------
    InvalidPixelValues
        If the array is constant.
    """
    if _is_dask(data) or np.size(data) == 0:
        return
    arr = np.asarray(data)
    first = arr.flat[0]
    if np.all(arr == first):
        raise InvalidPixelValues(f"every value of the {what} is {float(first):g}: it holds no image. Check the "
                                 "acquisition or the export (a blanked beam, a wrong channel, an empty dataset).")


def require_positive(value, name: str, unit: str, optional: bool = False) -> float | None:
    """``value`` as a finite positive float.

    Parameters
    ----------
    value : float or None
    name : str
        The parameter's name, for the message.
    unit : str
        Its unit, for the message.
    optional : bool
        Whether None is allowed (it is returned as None).

    Returns
    -------
    float or None

    Raises
    ------
    InvalidParameter
        If it is not a number or not finite and > 0 (None is allowed when ``optional``).
    """
    if value is None and optional:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InvalidParameter(f"{name} must be a number in {unit}; got {value!r}.") from None
    if not np.isfinite(value) or value <= 0:
        raise InvalidParameter(f"{name} must be a positive number in {unit}; got {value!r}.")
    return value


def require_whole(value, name: str, *, minimum: int, maximum: int | None = None,
                  optional: bool = False) -> int | None:
    """``value`` as an int in ``[minimum, maximum]``.

    Parameters
    ----------
    value : int or None
    name : str
        The parameter's name, for the message.
    minimum, maximum : int
        Inclusive bounds (no upper bound when ``maximum`` is None).
    optional : bool
        Whether None is allowed (it is returned as None).

    Returns
    -------
    int or None

    Raises
    ------
    InvalidParameter
        If it is not a whole number (2.0 is; 2.7, True and "2" are not) or out of bounds.
    """
    if value is None and optional:
        return None
    whole = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) \
        and np.isfinite(value) and float(value) == int(value)
    bounds = f"≥ {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    if not whole or not minimum <= int(value) <= (maximum if maximum is not None else int(value)):
        raise InvalidParameter(f"{name} must be a whole number {bounds}; got {value!r}.")
    return int(value)


@dataclass(frozen=True)
class ProcessingStep:
    """One processing step applied to a tilt series since it was read (:attr:`TiltSeries.history`).

    Attributes
    ----------
    name : str
        ``"remove_background"``, ``"normalise"``, ``"bin"``, ``"rotate_to_vertical_axis"`` …
    parameters : dict
        What the step did, in the data's units: e.g. ``{"offsets": [...]}`` subtracted per
        image, ``{"divisor": 812.0}`` the stack was divided by.
    """

    name: str
    parameters: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The step as a JSON-able record: ``{"name": ..., **parameters}``.

        Returns
        -------
        dict
        """
        return {"name": self.name, **self.parameters}


@dataclass
class TiltSeries:
    """A tilt series with its physical metadata.

    Parameters
    ----------
    data : (n_tilts, ny, nx) ndarray or dask array, float32
        Images in tilt order. Converted to float32.
    tilts_deg : (n_tilts,) ndarray of float, degrees
        Tilt angle of each image; strictly monotonic.
    pixel_size_nm : float, nm
        Pixel size in the specimen plane.
    tilt_axis_deg : float, degrees
        In-plane direction of the tilt axis, counter-clockwise from the image ``y`` axis
        (0: the tilt axis runs along ``y``, as DESIGN.md requires after alignment).
    beam_energy_keV, probe_current_pA, dwell_time_s, frame_time_s : float, optional
        Acquisition settings, when known.
    timestamps_s : (n_tilts,) ndarray of float, s, optional
        Acquisition time of each image.
    holder_temperature_C : float, °C, optional
        Holder temperature during acquisition.
    shifts_px : (n_tilts, 2) ndarray of float, pixels, optional
        (dy, dx) shifts already applied to each image by alignment.
    source : str, optional
        Where the data came from (file path).
    raw_metadata : dict
        The vendor metadata as read, and where the reader found the tilts and the pixel
        size. Processing never writes here.
    history : tuple of ProcessingStep
        The processing steps applied since the data were read, in order (:meth:`with_step`).

    Raises
    ------
    NotAStack, InvalidPixelValues, TiltAngleMismatch, InvalidTiltAngles, InvalidParameter
    """

    data: Any
    tilts_deg: np.ndarray
    pixel_size_nm: float
    tilt_axis_deg: float = 0.0
    beam_energy_keV: float | None = None
    probe_current_pA: float | None = None
    dwell_time_s: float | None = None
    frame_time_s: float | None = None
    timestamps_s: np.ndarray | None = None
    holder_temperature_C: float | None = None
    shifts_px: np.ndarray | None = None
    source: str | None = None
    raw_metadata: dict = field(default_factory=dict, repr=False)
    history: tuple = ()

    def __post_init__(self) -> None:
        self.data = _as_float32_stack(self.data, "tilt series", 3, "tilt, y, x")
        self.history = tuple(self.history)
        self.tilts_deg = validate_tilts(self.tilts_deg, self.data.shape[0])
        self.pixel_size_nm = require_positive(self.pixel_size_nm, "pixel_size_nm", "nm")
        self.tilt_axis_deg = float(self.tilt_axis_deg)
        for name, unit in (("beam_energy_keV", "keV"), ("probe_current_pA", "pA"),
                           ("dwell_time_s", "s"), ("frame_time_s", "s")):
            setattr(self, name, require_positive(getattr(self, name), name, unit, optional=True))
        if self.timestamps_s is not None:
            self.timestamps_s = np.asarray(self.timestamps_s, dtype=np.float64)
            if self.timestamps_s.shape != (self.n_tilts,):
                raise TiltAngleMismatch(
                    f"{self.n_tilts} images but {self.timestamps_s.size} timestamps; give one per image."
                )
        if self.shifts_px is not None:
            self.shifts_px = np.asarray(self.shifts_px, dtype=np.float64)
            if self.shifts_px.shape != (self.n_tilts, 2):
                raise InvalidParameter(
                    f"shifts_px must have shape ({self.n_tilts}, 2) (dy, dx per image); got {self.shifts_px.shape}."
                )

    @property
    def n_tilts(self) -> int:
        return int(self.data.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)

    def missing_metadata(self) -> list[str]:
        """Names of the dose-relevant acquisition settings that are not known."""
        names = ["beam_energy_keV", "probe_current_pA", "dwell_time_s", "frame_time_s",
                 "timestamps_s", "holder_temperature_C"]
        return [n for n in names if getattr(self, n) is None]

    def replace(self, **changes) -> "TiltSeries":
        """A copy with some fields replaced (validated again).

        Parameters
        ----------
        **changes
            Field names and their new values.

        Returns
        -------
        TiltSeries

        Raises
        ------
        NotAStack, InvalidPixelValues, TiltAngleMismatch, InvalidTiltAngles, InvalidParameter
            As the constructor.
        """
        fields = {k: getattr(self, k) for k in self.__dataclass_fields__}
        fields.update(changes)
        return TiltSeries(**fields)

    def with_step(self, step: ProcessingStep, **changes) -> "TiltSeries":
        """A copy with ``changes`` applied and ``step`` appended to :attr:`history`.

        Parameters
        ----------
        step : ProcessingStep
        **changes
            As :meth:`replace`.

        Returns
        -------
        TiltSeries
        """
        return self.replace(history=(*self.history, step), **changes)

    def steps(self, name: str) -> list[ProcessingStep]:
        """The steps of :attr:`history` with this name, in order.

        Parameters
        ----------
        name : str

        Returns
        -------
        list of ProcessingStep
        """
        return [s for s in self.history if s.name == name]

    @property
    def intensity_scale(self) -> float:
        """What the data were divided by since they were read (the product of the ``normalise`` divisors):
        ``data × intensity_scale`` is back in the file's units (detector counts once the background is
        removed)."""
        return float(np.prod([s.parameters["divisor"] for s in self.steps("normalise")]))


@dataclass
class Volume:
    """A reconstructed volume.

    Parameters
    ----------
    data : (nz, ny, nx) ndarray or dask array, float32
        ``z`` along the beam at 0° tilt, ``y`` the tilt axis.
    voxel_size_nm : float, nm
        Edge length of the (cubic) voxels.
    provenance : dict
        How the volume was made: method, parameters, software version.

    Raises
    ------
    NotAStack, InvalidPixelValues, InvalidParameter
    """

    data: Any
    voxel_size_nm: float
    provenance: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = _as_float32_stack(self.data, "volume", 3, "z, y, x")
        self.voxel_size_nm = require_positive(self.voxel_size_nm, "voxel_size_nm", "nm")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)
