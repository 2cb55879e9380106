"""Atomic writers (temporary file in the target folder, then rename) and volume readers.

An interrupted write never leaves a file that looks whole: the target name only ever
points to a complete file.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import NotAStack, UnreadableFile

__all__ = ["atomic_path", "copy_file", "write_array", "read_array", "write_csv", "write_json", "sha256_file",
           "write_tilt_series"]


@contextlib.contextmanager
def atomic_path(target):
    """Yield a temporary path beside ``target``; rename it to ``target`` on success.

    On an exception the temporary file is removed and ``target`` is left as it was.

    Parameters
    ----------
    target : str or Path
        The file to write; its folder is created when missing.

    Yields
    ------
    Path
        The temporary file to write to (same folder, name ``.TARGET.XXXX.part.EXT``).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part" + target.suffix, dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_array(path, data: np.ndarray, *, attrs: dict | None = None) -> Path:
    """Write a 3D array to HDF5 (dataset ``/data``) or TIFF, atomically.

    Parameters
    ----------
    path : str or Path
        ``.h5``/``.hdf5`` or ``.tif``/``.tiff``.
    data : (nz, ny, nx) ndarray
    attrs : dict, optional
        Stored as HDF5 attributes of ``/data`` (JSON-encoded when not scalar), or as the
        TIFF's JSON description.

    Returns
    -------
    Path

    Raises
    ------
    UnreadableFile
        A file name that ends in neither .h5 nor .tif.
    """
    path = Path(path)
    attrs = dict(attrs or {})
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(tmp, "w") as f:
                dset = f.create_dataset("data", data=np.asarray(data), compression="gzip", compression_opts=4)
                for key, value in attrs.items():
                    dset.attrs[key] = value if np.isscalar(value) else json.dumps(value)
        elif suffix in (".tif", ".tiff"):
            import tifffile

            tifffile.imwrite(tmp, np.asarray(data), metadata=None, description=json.dumps(attrs),
                             photometric="minisblack")
        else:
            raise UnreadableFile(f"cannot write {path.name}: use a .h5 or .tif file name.")
    return path


def write_tilt_series(path, tilt_series) -> tuple[Path, Path]:
    """Write a tilt series as an MRC stack with an IMOD ``.rawtlt`` file beside it, atomically.

    The MRC header carries the pixel size (in Å, as MRC wants); the ``.rawtlt`` file one
    tilt angle (degrees) per line, in image order. :func:`insitu4d.io.read_tilt_series`
    reads both back.

    Parameters
    ----------
    path : str or Path
        ``*.mrc``.
    tilt_series : TiltSeries

    Returns
    -------
    (Path, Path)
        The stack and the tilt file.

    Raises
    ------
    UnreadableFile
        A file name that does not end in .mrc.
    """
    import mrcfile

    path = Path(path)
    if path.suffix.lower() != ".mrc":
        raise UnreadableFile(f"cannot write {path.name} as a tilt series: use a .mrc file name.")
    with atomic_path(path) as tmp:
        with mrcfile.new(tmp, overwrite=True) as m:
            m.set_data(np.asarray(tilt_series.data, dtype=np.float32))
            m.voxel_size = float(tilt_series.pixel_size_nm) * 10.0
    tlt = path.with_suffix(".rawtlt")
    with atomic_path(tlt) as tmp:
        tmp.write_text("".join(f"{a:.4f}\n" for a in tilt_series.tilts_deg))
    return path, tlt


@contextlib.contextmanager
def reader_errors(path: Path, kind: str):
    """Turn the errors a reader library only logs (tifffile: "invalid page offset" of a truncated file, which
    it then reads as fewer pages) into :class:`UnreadableFile`, raised when the block ends."""
    records: list[logging.LogRecord] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = _Collect(level=logging.ERROR)
    loggers = [logging.getLogger(name) for name in ("tifffile", "rsciio")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    if records:
        raise UnreadableFile(f"{path.name} is damaged, truncated or not {kind} file; it could not be read whole "
                             f"(the reader said: {records[0].getMessage()}).")


def read_array(path, *, ndim: int = 3) -> tuple[np.ndarray, dict]:
    """Read an array written by :func:`write_array` (or any TIFF / HDF5 with ``/data``).

    Parameters
    ----------
    path : str or Path
    ndim : int
        Required number of dimensions.

    Returns
    -------
    data : ndarray
    attrs : dict
        Attributes stored with the array (empty when there are none).

    Raises
    ------
    UnreadableFile
        If the file is missing, empty, damaged, not HDF5/TIFF, or has no ``/data`` dataset.
    NotAStack
        If the array does not have ``ndim`` dimensions.
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableFile(f"file not found: {path}.")
    if path.stat().st_size == 0:
        raise UnreadableFile(f"{path.name} is empty (0 bytes); the copy or the export did not finish.")
    suffix = path.suffix.lower()
    attrs: dict = {}
    try:
        if suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                if "data" not in f:
                    raise UnreadableFile(f"{path.name} has no dataset '/data'; store the array there.")
                data = f["data"][()]
                for key, value in f["data"].attrs.items():
                    if isinstance(value, (bytes, str)):
                        with contextlib.suppress(ValueError, TypeError):
                            value = json.loads(value)
                    attrs[key] = value.item() if isinstance(value, np.generic) else value
        elif suffix in (".tif", ".tiff"):
            import tifffile

            with reader_errors(path, "a TIFF"), tifffile.TiffFile(path) as tif:
                data = tif.asarray()
                desc = tif.pages[0].description if tif.pages else ""
            with contextlib.suppress(ValueError, TypeError):
                parsed = json.loads(desc)
                attrs = parsed if isinstance(parsed, dict) else {}
        else:
            raise UnreadableFile(f"cannot read {path.name}: use a .h5 (dataset /data) or .tif file.")
    except UnreadableFile:
        raise
    except Exception as exc:  # h5py and tifffile raise many kinds; the user needs the file and the cause
        kind = "an HDF5" if suffix in (".h5", ".hdf5") else "a TIFF"
        raise UnreadableFile(f"{path.name} is damaged, truncated or not {kind} file; it could not be read (the "
                             f"reader said: {type(exc).__name__}: {exc}).") from exc
    if data.ndim != ndim:
        raise NotAStack(f"{path.name} holds a {data.ndim}D array of shape {data.shape}; expected {ndim}D (z, y, x).")
    return data, attrs


def write_csv(path, rows: list[dict], columns: list[str]) -> Path:
    """Write rows (dicts) as CSV with a fixed column order, atomically.

    Parameters
    ----------
    path : str or Path
    rows : list of dict
        One dict per row; missing keys are written empty, extra keys ignored.
    columns : list of str
        The header, in order.

    Returns
    -------
    Path
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    return path


def _csv_value(value):
    if isinstance(value, (list, tuple, np.ndarray)):
        return " ".join(f"{float(v):.6g}" for v in value)
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return value


def _json_default(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _strict(obj):
    """``obj`` with NaN and ±inf as None, so the file is standard JSON (RFC 8259 has no NaN)."""
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _strict(obj.tolist())
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj


def write_json(path, obj) -> Path:
    """Write an object as indented standard JSON, atomically (NumPy values converted, NaN/inf as null).

    Parameters
    ----------
    path : str or Path
    obj : dict or list
        JSON-able, with NumPy values allowed.

    Returns
    -------
    Path
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_strict(obj), indent=2, default=_json_default, allow_nan=False) + "\n",
                       encoding="utf-8")
    return path


def copy_file(source, target) -> Path:
    """Copy a file's bytes to ``target``, atomically.

    Parameters
    ----------
    source, target : str or Path

    Returns
    -------
    Path
        ``target``.

    Raises
    ------
    OSError
        ``source`` cannot be read or ``target`` written.
    """
    import shutil

    target = Path(target)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return target


def sha256_file(path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file.

    Parameters
    ----------
    path : str or Path
    chunk_bytes : int
        Read size.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_bytes), b""):
            h.update(block)
    return h.hexdigest()
