"""Read tilt series from vendor files through RosettaSciIO.

Readers are pure: they return a :class:`~insitu4d.data.TiltSeries` and keep the vendor
metadata. Vendor metadata is mapped through :data:`METADATA_MAP` (HyperSpy/RosettaSciIO
names -> our fields, with the unit conversion in the table).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from ..data import TiltSeries
from ..errors import MissingPixelSize, MissingTiltAngles, NotAStack, UnreadableFile
from .tilts import find_tilt_sidecar, read_tilt_file

__all__ = ["read_tilt_series", "read_signal", "describe_file", "METADATA_MAP", "FORMATS"]

#: file extension -> RosettaSciIO plugin module
FORMATS = {
    ".mrc": "rsciio.mrc",
    ".ali": "rsciio.mrc",
    ".st": "rsciio.mrc",
    ".dm3": "rsciio.digitalmicrograph",
    ".dm4": "rsciio.digitalmicrograph",
    ".emd": "rsciio.emd",
    ".ser": "rsciio.tia",
    ".emi": "rsciio.tia",
    ".tif": "rsciio.tiff",
    ".tiff": "rsciio.tiff",
    ".hspy": "rsciio.hspy",
}

#: HyperSpy metadata path -> (TiltSeries field, factor to our unit)
METADATA_MAP = {
    "Acquisition_instrument.TEM.beam_energy": ("beam_energy_keV", 1.0),  # keV
    "Acquisition_instrument.TEM.beam_current": ("probe_current_pA", 1e3),  # nA -> pA
    "Acquisition_instrument.TEM.probe_current": ("probe_current_pA", 1e3),  # nA -> pA
    "Acquisition_instrument.TEM.dwell_time": ("dwell_time_s", 1.0),  # s
    "Acquisition_instrument.TEM.Detector.dwell_time": ("dwell_time_s", 1.0),
    "Acquisition_instrument.TEM.Stage.temperature": ("holder_temperature_C", 1.0),  # °C
}

#: length unit -> factor to nm
_LENGTH_TO_NM = {"nm": 1.0, "µm": 1e3, "um": 1e3, "μm": 1e3, "Å": 0.1, "A": 0.1, "pm": 1e-3, "m": 1e9, "mm": 1e6}
_ANGLE_UNITS = ("deg", "°", "degree", "degrees")


def _get(tree: dict, dotted: str):
    node = tree
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def read_signal(path) -> dict:
    """Read the first signal of a file with RosettaSciIO.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        RosettaSciIO's signal dictionary (``data``, ``axes``, ``metadata``, ``original_metadata``).

    Raises
    ------
    UnreadableFile
        If the file is missing, its format is unknown, or RosettaSciIO cannot parse it.
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableFile(f"file not found: {path}.")
    module = FORMATS.get(path.suffix.lower())
    if module is None:
        raise UnreadableFile(
            f"unknown file format {path.suffix!r} for {path.name}; supported: {', '.join(sorted(FORMATS))}."
        )
    reader = importlib.import_module(module).file_reader
    try:
        signals = reader(str(path))
    except Exception as exc:  # RosettaSciIO raises many kinds; the user needs the file and the cause
        raise UnreadableFile(f"could not read {path.name} as {module.split('.')[-1]}: {exc}") from exc
    images = [s for s in signals if np.ndim(s.get("data")) >= 2]
    if not images:
        raise UnreadableFile(f"{path.name} holds no image data.")
    return images[0]


def _signal_axes(signal: dict) -> list[dict]:
    axes = sorted(signal.get("axes", []), key=lambda a: a.get("index_in_array", 0))
    return axes


def _pixel_size_from_axes(axes: list[dict], *, mrc: bool = False) -> float | None:
    """Pixel size in nm from the two image axes, or None if uncalibrated.

    A scale of 0 (MRC's "unset") counts as uncalibrated, and so does an MRC pixel of
    exactly 1 Å, the default that IMOD and many writers leave in the header (the needle
    MRC's standard header says 1.0 while its true pixel is 3.36 nm).
    """
    for axis in axes[-2:]:
        unit = axis.get("units")
        scale = axis.get("scale")
        if unit in _LENGTH_TO_NM and scale is not None and float(scale) > 0:
            size = float(f"{float(scale) * _LENGTH_TO_NM[unit]:.7g}")  # drop float32 noise (3.3600001)
            if mrc and size == 0.1:
                return None
            return size
    return None


def _tilts_from_metadata(signal: dict, n_images: int) -> np.ndarray | None:
    axes = _signal_axes(signal)
    if len(axes) == 3 and axes[0].get("units") in _ANGLE_UNITS:
        a = axes[0]
        return float(a.get("offset", 0.0)) + float(a.get("scale", 1.0)) * np.arange(n_images)
    fei = _get(signal.get("original_metadata", {}), "fei_header.a_tilt")
    if fei is not None:
        tilts = np.asarray(fei, dtype=np.float64)[:n_images]
        if tilts.size == n_images and np.ptp(tilts) > 0:
            return tilts
    alpha = _get(signal.get("metadata", {}), "Acquisition_instrument.TEM.Stage.tilt_alpha")
    if alpha is not None and np.size(alpha) == n_images:
        return np.asarray(alpha, dtype=np.float64).ravel()
    return None


def _mapped_metadata(signal: dict) -> dict:
    out = {}
    meta = signal.get("metadata", {})
    for dotted, (name, factor) in METADATA_MAP.items():
        value = _get(meta, dotted)
        if value is not None and name not in out:
            try:
                out[name] = float(np.ravel(value)[0]) * factor
            except (TypeError, ValueError, IndexError):
                pass
    exp_time = _get(signal.get("original_metadata", {}), "fei_header.exp_time")
    if exp_time is not None and "frame_time_s" not in out and float(np.ravel(exp_time)[0]) > 0:
        out["frame_time_s"] = float(np.ravel(exp_time)[0])
    return out


def read_tilt_series(path, *, tilts=None, pixel_size_nm: float | None = None,
                     tilt_axis_deg: float = 0.0) -> TiltSeries:
    """Read a tilt series with its tilt angles, pixel size and acquisition metadata.

    Tilt angles, by priority: ``tilts`` (an array or a tilt file), the file's metadata
    (DM tomography axis, FEI MRC extended header, ``Stage.tilt_alpha``), a tilt file
    beside the stack (``.rawtlt``, ``.tlt``, ``.mdoc``). Pixel size: ``pixel_size_nm``,
    else the file's calibrated axes.

    Parameters
    ----------
    path : str or Path
        DM3/DM4, Velox EMD, SER/EMI, MRC, TIFF stack or HSPY file.
    tilts : (n_tilts,) array_like of float, degrees, or str or Path, optional
        Tilt angles, or a tilt file (see :func:`insitu4d.io.tilts.read_tilt_file`).
    pixel_size_nm : float, nm, optional
        Overrides the file's calibration.
    tilt_axis_deg : float, degrees
        In-plane tilt-axis direction, counter-clockwise from image ``y``.

    Returns
    -------
    TiltSeries
        With ``raw_metadata`` holding the vendor metadata and where tilts and pixel size came from.

    Raises
    ------
    UnreadableFile, NotAStack, MissingTiltAngles, TiltAngleMismatch, InvalidTiltAngles,
    MissingPixelSize, InvalidPixelValues
    """
    path = Path(path)
    signal = read_signal(path)
    data = signal["data"]
    if data.ndim != 3:
        raise NotAStack(
            f"{path.name} holds a {data.ndim}D array of shape {tuple(data.shape)}; a tilt series needs a "
            "stack of images (tilt, y, x)."
        )
    n = data.shape[0]
    if tilts is not None and not isinstance(tilts, (str, Path)):
        tilt_values, tilt_source = np.asarray(tilts, dtype=np.float64), "given"
    elif tilts is not None:
        tilt_values, tilt_source = read_tilt_file(tilts), str(tilts)
    else:
        tilt_values, tilt_source = _tilts_from_metadata(signal, n), f"{path.name} metadata"
        if tilt_values is None:
            sidecar = find_tilt_sidecar(path)
            if sidecar is None:
                raise MissingTiltAngles(
                    f"{path.name} has no tilt angles in its metadata and no .rawtlt/.tlt/.mdoc beside it; "
                    "give a tilt file with --tilts (one angle in degrees per line)."
                )
            tilt_values, tilt_source = read_tilt_file(sidecar), str(sidecar)
    axes = _signal_axes(signal)
    if pixel_size_nm is None:
        pixel_size_nm = _pixel_size_from_axes(axes, mrc=FORMATS.get(path.suffix.lower()) == "rsciio.mrc")
        size_source = f"{path.name} metadata"
        if pixel_size_nm is None:
            raise MissingPixelSize(
                f"{path.name} has no calibrated pixel size; give it with --pixel-size NM "
                "(pixel_size_nm=... in Python)."
            )
    else:
        size_source = "given"
    raw = {
        "metadata": signal.get("metadata", {}),
        "original_metadata": signal.get("original_metadata", {}),
        "tilts_source": tilt_source,
        "pixel_size_source": size_source,
        "dtype": str(data.dtype),
    }
    return TiltSeries(
        data=data, tilts_deg=tilt_values, pixel_size_nm=pixel_size_nm, tilt_axis_deg=tilt_axis_deg,
        source=str(path), raw_metadata=raw, **_mapped_metadata(signal),
    )


def describe_file(path, *, tilts=None, pixel_size_nm: float | None = None) -> dict:
    """What a tilt-series file holds and what is missing to process it.

    Parameters
    ----------
    path : str or Path
    tilts : str, Path or array_like, optional
    pixel_size_nm : float, nm, optional

    Returns
    -------
    dict
        ``shape``, ``dtype``, ``tilts_deg`` (or None), ``tilts_source``, ``pixel_size_nm``
        (or None), ``pixel_size_source``, acquisition settings, and ``missing``: the names
        of what is unknown, each with how to supply it.

    Raises
    ------
    UnreadableFile, NotAStack
        If the file cannot be read as an image stack at all.
    """
    missing: dict[str, str] = {}
    try:
        ts = read_tilt_series(path, tilts=tilts, pixel_size_nm=pixel_size_nm)
    except MissingPixelSize:
        ts = read_tilt_series(path, tilts=tilts, pixel_size_nm=1.0)
        ts.raw_metadata["pixel_size_source"] = None
        missing["pixel_size_nm"] = "give --pixel-size NM"
    except MissingTiltAngles as exc:
        signal = read_signal(path)
        data = signal["data"]
        if data.ndim != 3:
            raise NotAStack(f"{Path(path).name} holds a {data.ndim}D array; a tilt series needs (tilt, y, x).") from exc
        return {"path": str(path), "shape": list(data.shape), "dtype": str(data.dtype), "tilts_deg": None,
                "pixel_size_nm": _pixel_size_from_axes(_signal_axes(signal),
                                                       mrc=FORMATS.get(Path(path).suffix.lower()) == "rsciio.mrc"),
                "missing": {"tilts_deg": "give --tilts FILE (.rawtlt/.tlt/.mdoc/.csv)"}}
    for name in ts.missing_metadata():
        missing[name] = "not in the file's metadata"
    return {
        "path": str(path), "shape": list(ts.shape), "dtype": ts.raw_metadata.get("dtype"),
        "tilts_deg": ts.tilts_deg.tolist(), "tilts_source": ts.raw_metadata.get("tilts_source"),
        "tilt_range_deg": [float(ts.tilts_deg.min()), float(ts.tilts_deg.max())],
        "pixel_size_nm": None if "pixel_size_nm" in missing else ts.pixel_size_nm,
        "pixel_size_source": ts.raw_metadata.get("pixel_size_source"),
        "beam_energy_keV": ts.beam_energy_keV, "probe_current_pA": ts.probe_current_pA,
        "dwell_time_s": ts.dwell_time_s, "frame_time_s": ts.frame_time_s,
        "holder_temperature_C": ts.holder_temperature_C, "missing": missing,
    }
