"""Read tilt series from vendor files through RosettaSciIO.

Readers are pure: they return a :class:`~insitu4d.data.TiltSeries` and keep the vendor
metadata. Vendor metadata is mapped through :data:`METADATA_MAP` (HyperSpy/RosettaSciIO
names -> our fields, with the unit conversion in the table).
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import numpy as np

from ..choices import TILT_UNITS
from ..data import TiltSeries, require_contrast
from ..errors import (InvalidTiltAngles, MissingPixelSize, MissingTiltAngles, NoSpectrumImage, NotAStack,
                      UnreadableFile)
from .tilt_files import common_pixel_size, is_file_per_tilt, stack_images, tilt_file_in, tilt_series_files
from .tilts import find_tilt_sidecar, read_tilt_file
from .writers import reader_errors

__all__ = ["read_tilt_series", "read_signal", "describe_file", "looks_like_radians", "METADATA_MAP", "FORMATS",
           "TILT_UNITS", "MIN_TILTS"]

#: Units the tilt angles of a file may be given in (``tilts_unit``).
#: Fewest images a tilt series needs: below this the missing information makes any reconstruction meaningless
#: (Crowther et al., Proc. R. Soc. A 317, 319 (1970), doi:10.1098/rspa.1970.0119: n ≈ π D / d projections).
MIN_TILTS = 7

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
    ".bcf": "rsciio.bruker",
    ".png": "rsciio.image",
    ".jpg": "rsciio.image",
    ".jpeg": "rsciio.image",
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


def read_signal(path, *, spectrum_image: bool = False) -> dict:
    """Read the first signal of a file with RosettaSciIO.

    Parameters
    ----------
    path : str or Path
    spectrum_image : bool
        Take the first EDX spectrum image (two spatial axes and an energy axis) instead of
        the first image.

    Returns
    -------
    dict
        RosettaSciIO's signal dictionary (``data``, ``axes``, ``metadata``, ``original_metadata``).

    Raises
    ------
    UnreadableFile
        If the file is missing, its format is unknown, or RosettaSciIO cannot parse it.
    NoSpectrumImage
        ``spectrum_image`` and the file holds none.
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableFile(f"file not found: {path}.")
    module = FORMATS.get(path.suffix.lower())
    if module is None:
        raise UnreadableFile(
            f"unknown file format {path.suffix!r} for {path.name}; supported: {', '.join(sorted(FORMATS))}."
        )
    if path.stat().st_size == 0:
        raise UnreadableFile(f"{path.name} is empty (0 bytes); the copy or the export did not finish.")
    if module == "rsciio.mrc":
        _check_mrc_size(path)
    reader = importlib.import_module(module).file_reader
    kind = module.split('.')[-1].upper()
    options = {"select_type": "spectrum_image" if spectrum_image else "image"} if module == "rsciio.bruker" else {}
    try:
        with reader_errors(path, f"a {kind}"):
            signals = reader(str(path), **options)
    except UnreadableFile:
        raise
    except Exception as exc:  # RosettaSciIO raises many kinds; the user needs the file and the cause
        raise UnreadableFile(f"{path.name} is damaged, truncated or not a {kind} file; "
                             f"it could not be read (the reader said: {type(exc).__name__}: {exc}).") from exc
    if spectrum_image:
        cubes = [s for s in signals if np.ndim(s.get("data")) == 3 and np.size(s.get("data")) > 0]
        if not cubes:
            raise NoSpectrumImage(f"{path.name} holds no spectrum image (no signal with two spatial axes and an "
                                 "energy axis); EDX element maps need one.")
        return cubes[0]
    images = [s for s in signals if np.ndim(s.get("data")) >= 2 and np.size(s.get("data")) > 0]
    if not images:
        raise UnreadableFile(f"{path.name} holds no image data.")
    return images[0]


def _check_mrc_size(path: Path) -> None:
    """Stop when an MRC file's size disagrees with its header (images nx × ny × nz of its mode after 1024 + next
    header bytes): a truncated copy, or a header whose nz does not count all the images."""
    import mrcfile

    size = path.stat().st_size
    if size < 1024:
        raise UnreadableFile(f"{path.name} has {size} bytes, less than the 1024 of an MRC header; the file is "
                             "truncated or not an MRC file.")
    try:
        with warnings.catch_warnings():  # permissive mode warns of what the size check below reports
            warnings.simplefilter("ignore", RuntimeWarning)
            with mrcfile.open(path, header_only=True, permissive=True) as m:
                h = m.header
                nx, ny, nz, n_ext = int(h.nx), int(h.ny), int(h.nz), int(h.nsymbt)
                itemsize = mrcfile.utils.dtype_from_mode(h.mode).itemsize
    except Exception as exc:  # an unknown mode or an unparsable header
        raise UnreadableFile(f"{path.name} has no valid MRC header ({type(exc).__name__}: {exc}).") from exc
    image_bytes = nx * ny * itemsize
    if min(nx, ny, nz) < 1 or image_bytes == 0:
        raise UnreadableFile(f"{path.name}: its MRC header gives an empty stack (nx, ny, nz) = ({nx}, {ny}, {nz}).")
    data_bytes = size - 1024 - n_ext
    if data_bytes != nz * image_bytes:
        held = data_bytes / image_bytes
        what = "is truncated" if data_bytes < nz * image_bytes else "holds more data than its header says"
        raise UnreadableFile(
            f"{path.name} {what}: its header says {nz} image(s) of {ny} × {nx} ({nz * image_bytes} bytes of data) "
            f"but the file holds {max(data_bytes, 0)} bytes ({held:.4g} images). Copy the file again, or correct "
            "the header's nz (e.g. IMOD alterheader) if it miscounts the images.")


def looks_like_radians(tilts: np.ndarray) -> bool:
    """Whether tilt angles look like radians: all within ±π/2 and spanning less than 3.2 (a tomographic tilt
    range in degrees spans tens of degrees; ±90° in radians spans 3.14).

    Parameters
    ----------
    tilts : (n_tilts,) array_like of float
        Tilt angles in an unknown unit.

    Returns
    -------
    bool
    """
    tilts = np.asarray(tilts, dtype=np.float64)
    return bool(tilts.size and np.all(np.abs(tilts) <= np.pi / 2) and np.ptp(tilts) < 3.2)


def _tilts_in_degrees(tilts: np.ndarray, unit: str, source: str) -> np.ndarray:
    if unit not in TILT_UNITS:
        raise InvalidTiltAngles(f"tilts_unit must be one of {', '.join(TILT_UNITS)}; got {unit!r}.")
    tilts = np.asarray(tilts, dtype=np.float64)
    if unit == "rad":
        return np.degrees(tilts)
    if looks_like_radians(tilts):
        raise InvalidTiltAngles(
            f"the tilt angles from {source} span only {tilts.min():g} to {tilts.max():g}: they look like radians. "
            "Give degrees, or say they are radians (--tilts-unit rad; tilts_unit = \"rad\" in an experiment "
            "file).")
    return tilts


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
                     tilt_axis_deg: float = 0.0, tilts_unit: str = "deg") -> TiltSeries:
    """Read a tilt series with its tilt angles, pixel size and acquisition metadata.

    Tilt angles, by priority: ``tilts`` (an array or a tilt file), the file's metadata
    (DM tomography axis, FEI MRC extended header, ``Stage.tilt_alpha``), a tilt file
    beside the stack (``.rawtlt``, ``.tlt``, ``.mdoc``). Pixel size: ``pixel_size_nm``,
    else the file's calibrated axes.

    Parameters
    ----------
    path : str or Path
        DM3/DM4, Velox EMD, SER/EMI, MRC, TIFF stack or HSPY file; or a folder or a glob
        pattern of files with one image each (one file per tilt, Bruker BCF too: see
        :mod:`insitu4d.io.tilt_files` for where each file's angle comes from).
    tilts : (n_tilts,) array_like of float, degrees, or str or Path, optional
        Tilt angles, or a tilt file (see :func:`insitu4d.io.tilts.read_tilt_file`).
    pixel_size_nm : float, nm, optional
        Overrides the file's calibration.
    tilt_axis_deg : float, degrees
        In-plane tilt-axis direction, counter-clockwise from image ``y``.
    tilts_unit : {"deg", "rad"}
        Unit of the tilt angles (of the file, the metadata or ``tilts``). With "deg", angles
        that look like radians (:func:`looks_like_radians`) are refused.

    Returns
    -------
    TiltSeries
        With ``raw_metadata`` holding the vendor metadata and where tilts and pixel size came from.

    Raises
    ------
    UnreadableFile
        The file is missing, empty, truncated, of an unknown format, or its MRC header
        disagrees with its size.
    NotAStack
        The file holds one image, not a stack.
    MissingTiltAngles, TiltAngleMismatch
        No tilt angles found, or not one per image.
    InvalidTiltAngles
        Angles that look like radians (with ``tilts_unit="deg"``), fewer than
        :data:`MIN_TILTS` images, or angles :func:`insitu4d.data.validate_tilts` refuses.
    MissingPixelSize
        No calibration in the file and none given.
    InvalidPixelValues
        NaN or infinite pixels, or a constant stack.
    """
    if is_file_per_tilt(path):
        return _read_file_per_tilt(path, tilts=tilts, pixel_size_nm=pixel_size_nm, tilt_axis_deg=tilt_axis_deg,
                                   tilts_unit=tilts_unit)
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
    tilt_values = _tilts_in_degrees(tilt_values, tilts_unit, tilt_source)
    if n < MIN_TILTS:
        raise InvalidTiltAngles(f"{path.name} holds {n} image(s); a tilt series needs at least {MIN_TILTS} tilts "
                                "to be reconstructed (better 20 or more).")
    require_contrast(data, f"tilt series {path.name}")
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


def _read_file_per_tilt(path, *, tilts, pixel_size_nm, tilt_axis_deg: float, tilts_unit: str) -> TiltSeries:
    """:func:`read_tilt_series` of a folder or glob pattern of files, one image each."""
    files = tilt_series_files(path, set(FORMATS))
    if len(files) < MIN_TILTS:
        raise InvalidTiltAngles(f"{path} holds {len(files)} image file(s); a tilt series needs at least {MIN_TILTS} "
                                "tilts to be reconstructed (better 20 or more).")
    signals = [read_signal(f) for f in files]
    given, tilt_file = None, tilt_file_in(path)
    if tilts is not None and not isinstance(tilts, (str, Path)):
        given = np.asarray(tilts, dtype=np.float64)
    elif tilts is not None:
        given, tilt_file = read_tilt_file(tilts), Path(tilts)
    data, tilt_values, ordered, source = stack_images(signals, files, given, tilt_file)
    if given is not None and isinstance(tilts, (str, Path)):
        source = str(tilts)
    tilt_values = _tilts_in_degrees(tilt_values, tilts_unit, source)
    require_contrast(data, f"tilt series {path}")
    by_file = {f: s for f, s in zip(files, signals)}
    if pixel_size_nm is None:
        sizes = [_pixel_size_from_axes(_signal_axes(by_file[f]), mrc=FORMATS.get(f.suffix.lower()) == "rsciio.mrc")
                 for f in ordered]
        pixel_size_nm, size_source = common_pixel_size(sizes, ordered), "the files' metadata"
    else:
        size_source = "given"
    first = by_file[ordered[0]]
    raw = {"metadata": first.get("metadata", {}), "original_metadata": first.get("original_metadata", {}),
           "tilts_source": source, "pixel_size_source": size_source, "dtype": str(data.dtype),
           "files": [str(f) for f in ordered]}
    return TiltSeries(data=data, tilts_deg=tilt_values, pixel_size_nm=pixel_size_nm, tilt_axis_deg=tilt_axis_deg,
                      source=str(path), raw_metadata=raw, **_mapped_metadata(first))


def describe_file(path, *, tilts=None, pixel_size_nm: float | None = None, tilts_unit: str = "deg") -> dict:
    """What a tilt-series file holds and what is missing to process it.

    Parameters
    ----------
    path : str or Path
    tilts : str, Path or array_like, optional
    pixel_size_nm : float, nm, optional
    tilts_unit : {"deg", "rad"}
        As in :func:`read_tilt_series`.

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
    InvalidTiltAngles, TiltAngleMismatch, InvalidPixelValues
        As :func:`read_tilt_series`.
    """
    missing: dict[str, str] = {}
    try:
        ts = read_tilt_series(path, tilts=tilts, pixel_size_nm=pixel_size_nm, tilts_unit=tilts_unit)
    except MissingPixelSize:
        ts = read_tilt_series(path, tilts=tilts, pixel_size_nm=1.0, tilts_unit=tilts_unit)
        ts.raw_metadata["pixel_size_source"] = None
        missing["pixel_size_nm"] = "give --pixel-size NM"
    except MissingTiltAngles as exc:
        if tilts is not None:  # the tilt file given is empty: that is an error, not a gap to report
            raise
        signal = read_signal(path)
        data = signal["data"]
        if data.ndim != 3:
            raise NotAStack(f"{Path(path).name} holds a {data.ndim}D array; a tilt series needs (tilt, y, x).") from exc
        size = pixel_size_nm or _pixel_size_from_axes(_signal_axes(signal),
                                                      mrc=FORMATS.get(Path(path).suffix.lower()) == "rsciio.mrc")
        source = None if size is None else ("given" if pixel_size_nm else f"{Path(path).name} metadata")
        return {"path": str(path), "shape": list(data.shape), "dtype": str(data.dtype), "tilts_deg": None,
                "pixel_size_nm": size, "pixel_size_source": source,
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
