"""A tilt series recorded as one file per tilt: a folder, or a glob pattern, of DM/EMD/BCF/SER/TIFF/MRC images.

Each file gives one image (the first image signal of the file: for a Bruker ``.bcf`` the
HAADF image, not the spectrum image). The tilt angle of each file comes, by priority, from a
tilt file given by the user (one angle per file, in the files' natural order), from the
file's metadata (``Acquisition_instrument.TEM.Stage.tilt_alpha``), or from its name:

* a name that is a number: ``-40.bcf``, ``12.5.dm4``;
* ``p``/``n`` (or ``m``) before a number: ``tilt_p5.tif`` is +5°, ``tilt_n5.tif`` and ``m5`` are −5°;
* a number after ``tilt``, ``angle`` or ``deg``: ``series_tilt-30.emd`` (a ``-`` before the digits
  is the sign: −30°), ``img_angle_+12.tif``.

A folder that mixes named and unnamed angles, or holds a tilt file when some files have no
angle, is resolved by the tilt file. The images are ordered by tilt angle. All images must
have the same shape and the same pixel size.
"""

from __future__ import annotations

import glob as _glob
import hashlib
import re
from pathlib import Path

import numpy as np

from ..errors import InvalidTiltAngles, MissingPixelSize, MissingTiltAngles, NotAStack, TiltAngleMismatch
from .writers import sha256_file

__all__ = ["tilt_from_file_name", "tilt_series_files", "is_glob", "is_file_per_tilt", "sha256_files"]

#: Extensions of tilt files, never read as images.
TILT_FILE_SUFFIXES = (".rawtlt", ".tlt", ".mdoc", ".csv", ".txt", ".json")

_WHOLE = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_SIGN_LETTER = re.compile(r"(?<![A-Za-z0-9])([pPnNmM])(\d+(?:\.\d+)?)(?![0-9A-Za-z])")
_AFTER_WORD = re.compile(r"(?:tilt|angle|deg)[_\s]?([+-]?\d+(?:\.\d+)?)", re.IGNORECASE)


def tilt_from_file_name(name: str) -> float | None:
    """The tilt angle a file name states, in degrees, or None.

    Parameters
    ----------
    name : str
        A file name (its folder and extension are ignored).

    Returns
    -------
    float or None
    """
    stem = Path(name).name
    for suffix in Path(stem).suffixes[-1:]:
        stem = stem[: -len(suffix)]
    if _WHOLE.match(stem):
        return float(stem)
    found = _SIGN_LETTER.findall(stem)
    if found:
        letter, value = found[-1]
        return float(value) * (1.0 if letter in "pP" else -1.0)
    found = _AFTER_WORD.findall(stem)
    if found:
        return float(found[-1])
    return None


def is_glob(path) -> bool:
    """Whether ``path`` is a glob pattern (holds ``*``, ``?`` or ``[``).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    bool
    """
    return any(c in str(path) for c in "*?[")


def is_file_per_tilt(path) -> bool:
    """Whether ``path`` names a folder or a glob pattern (a tilt series of one file per tilt).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    bool
    """
    return Path(str(path)).is_dir() or is_glob(path)


def tilt_series_files(path, formats) -> list[Path]:
    """The image files of a folder or a glob pattern, in natural order, tilt files left out.

    Parameters
    ----------
    path : str or Path
        A folder, or a pattern such as ``data/*.bcf``.
    formats : collection of str
        The image extensions to take (lower case, with the dot).

    Returns
    -------
    list of Path

    Raises
    ------
    NotAStack
        No image file matched (the message lists what the folder holds).
    """
    from natsort import natsorted

    text = str(path)
    candidates = [Path(p) for p in (Path(text).iterdir() if Path(text).is_dir() else map(Path, _glob.glob(text)))]
    files = [p for p in candidates if p.is_file() and p.suffix.lower() in formats and not p.name.startswith(".")]
    if not files:
        held = sorted({p.suffix.lower() or p.name for p in candidates})[:8]
        raise NotAStack(f"{text} holds no image file of a known format (it holds: {', '.join(held) or 'nothing'}); "
                        f"one file per tilt of: {', '.join(sorted(formats))}.")
    return natsorted(files, key=lambda p: p.name)


def tilt_file_in(path) -> Path | None:
    """The one tilt file (``.rawtlt``, ``.tlt``) inside a folder, None when there is none or more than one.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Path or None
    """
    folder = Path(path) if Path(path).is_dir() else Path(str(path)).parent
    found = [p for p in folder.glob("*") if p.suffix.lower() in (".rawtlt", ".tlt")]
    return found[0] if len(found) == 1 else None


def sha256_files(files) -> str:
    """One SHA-256 for a set of files: of their names and contents, in the given order.

    Parameters
    ----------
    files : sequence of str or Path

    Returns
    -------
    str
    """
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).name.encode())
        h.update(bytes.fromhex(sha256_file(f)))
    return h.hexdigest()


def stack_images(images: list[dict], files: list[Path], given_tilts, tilt_file: Path | None
                 ) -> tuple[np.ndarray, np.ndarray, list[Path], str]:
    """Order one image per file by tilt, and say where the angles came from.

    Parameters
    ----------
    images : list of dict
        RosettaSciIO signal dictionaries, one per file (a 2D ``data`` each).
    files : list of Path
        The files, in natural order.
    given_tilts : (n,) array_like or None
        Angles given by the user, in the files' natural order.
    tilt_file : Path or None
        A tilt file (given or found in the folder): used when not every file states its angle.

    Returns
    -------
    data : (n, ny, nx) ndarray
    tilts : (n,) ndarray of float
    files : list of Path
        In the stack's order.
    source : str

    Raises
    ------
    NotAStack
        A file holds no 2D image, or the images differ in shape.
    MissingTiltAngles
        Some files state no angle and there is no tilt file.
    TiltAngleMismatch
        The tilt file lists another number of angles than there are files.
    InvalidTiltAngles
        Two files state the same angle.
    """
    from .tilts import read_tilt_file

    shapes = {f.name: np.shape(s["data"]) for f, s in zip(files, images)}
    if any(len(s) != 2 for s in shapes.values()):
        bad = next(n for n, s in shapes.items() if len(s) != 2)
        raise NotAStack(f"{bad} holds an array of shape {shapes[bad]}; one 2D image per file is needed.")
    if len(set(shapes.values())) > 1:
        first = files[0].name
        bad = next(n for n, s in shapes.items() if s != shapes[first])
        raise NotAStack(f"the images differ in size: {first} is {shapes[first]}, {bad} is {shapes[bad]}; "
                        "one tilt series needs one image size.")
    if given_tilts is not None:
        tilts, source = np.asarray(given_tilts, float).ravel(), "given"
    else:
        stated = [_metadata_tilt(s) for s in images]
        stated = [t if t is not None else tilt_from_file_name(f.name) for t, f in zip(stated, files)]
        if all(t is not None for t in stated):
            tilts, source = np.array(stated, float), "file metadata or names"
        elif tilt_file is not None:
            tilts, source = read_tilt_file(tilt_file), str(tilt_file)
        else:
            missing = [f.name for f, t in zip(files, stated) if t is None][:3]
            raise MissingTiltAngles(f"no tilt angle for {', '.join(missing)}: neither the metadata nor the file name "
                                    "states it (names like -40.bcf or tilt_p5.tif do). Give a tilt file with --tilts "
                                    "(one angle per file, in the files' natural order).")
    if tilts.size != len(files):
        raise TiltAngleMismatch(f"{len(files)} files but {tilts.size} tilt angles ({source}).")
    if np.unique(tilts).size != tilts.size:
        same = [f.name for f, t in zip(files, tilts) if np.sum(tilts == t) > 1][:2]
        raise InvalidTiltAngles(f"{' and '.join(same)} have the same tilt angle; each file must be one tilt.")
    order = np.argsort(tilts, kind="stable")
    data = np.stack([np.asarray(images[i]["data"]) for i in order])
    return data, tilts[order], [files[i] for i in order], source


def common_pixel_size(pixel_sizes: list[float | None], files: list[Path]) -> float:
    """The one pixel size of the files' calibrations.

    Parameters
    ----------
    pixel_sizes : list of float or None, nm
        Each file's calibration (None: none).
    files : list of Path

    Returns
    -------
    float, nm

    Raises
    ------
    MissingPixelSize
        No file is calibrated, or they disagree by more than 0.1 %.
    """
    known = [(p, f) for p, f in zip(pixel_sizes, files) if p is not None]
    if not known:
        raise MissingPixelSize(f"none of the {len(files)} files has a calibrated pixel size; give it with "
                               "--pixel-size NM.")
    values = np.array([p for p, _ in known])
    if np.ptp(values) > 1e-3 * values.min():
        lo, hi = known[int(np.argmin(values))], known[int(np.argmax(values))]
        raise MissingPixelSize(f"the files' pixel sizes differ ({lo[1].name}: {lo[0]:.4g} nm, {hi[1].name}: "
                               f"{hi[0]:.4g} nm); give the right one with --pixel-size NM.")
    return float(values[0])


def _metadata_tilt(signal: dict) -> float | None:
    stage = signal.get("metadata", {}).get("Acquisition_instrument", {}).get("TEM", {}).get("Stage", {})
    alpha = stage.get("tilt_alpha")
    return float(np.ravel(alpha)[0]) if alpha is not None and np.size(alpha) == 1 else None
