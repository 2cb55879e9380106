"""Tilt-angle files: IMOD ``.rawtlt`` / ``.tlt``, SerialEM ``.mdoc``, CSV."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from ..errors import MissingTiltAngles, UnreadableFile

__all__ = ["read_tilt_file", "find_tilt_sidecar"]

_MDOC_TILT = re.compile(r"^\s*TiltAngle\s*=\s*([-+0-9.eE]+)", re.MULTILINE)
_CSV_COLUMNS = ("tilt_deg", "tilt", "tilt_angle", "angle", "tiltangle", "alpha")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UnreadableFile(f"cannot read tilt file {path}: {exc.strerror or exc}.") from None


def _parse_lines(text: str, path: Path) -> np.ndarray:
    values = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            values.append(float(line.split()[0]))
        except ValueError:
            raise UnreadableFile(
                f"{path}, line {lineno}: expected one tilt angle in degrees per line, got {line!r}."
            ) from None
    return np.asarray(values, dtype=np.float64)


def _parse_mdoc(text: str) -> np.ndarray:
    # One [ZValue = n] section per image, each with a "TiltAngle = a" line.
    sections = re.split(r"^\s*\[ZValue\s*=\s*(\d+)\s*\]", text, flags=re.MULTILINE)
    angles = {}
    for z, body in zip(sections[1::2], sections[2::2]):
        m = _MDOC_TILT.search(body)
        if m:
            angles[int(z)] = float(m.group(1))
    return np.asarray([angles[z] for z in sorted(angles)], dtype=np.float64)


def _parse_csv(text: str, path: Path) -> np.ndarray:
    rows = [r for r in csv.reader(text.splitlines()) if r and not r[0].lstrip().startswith("#")]
    if not rows:
        return np.empty(0)
    header = [c.strip().lower() for c in rows[0]]
    try:
        float(header[0])
        has_header = False
    except ValueError:
        has_header = True
    col = 0
    if has_header:
        matches = [i for i, name in enumerate(header) if name in _CSV_COLUMNS]
        if not matches:
            raise UnreadableFile(
                f"{path}: no tilt-angle column; name one of {', '.join(_CSV_COLUMNS)} (degrees), "
                f"found columns {rows[0]}."
            )
        col = matches[0]
        rows = rows[1:]
    try:
        return np.asarray([float(r[col]) for r in rows], dtype=np.float64)
    except (ValueError, IndexError):
        raise UnreadableFile(f"{path}: column {col + 1} must hold one tilt angle in degrees per row.") from None


def read_tilt_file(path) -> np.ndarray:
    """Read tilt angles from a text file.

    Formats by extension: ``.mdoc`` (SerialEM, ``TiltAngle`` of each ``[ZValue]``
    section), ``.csv`` (a column named ``tilt_deg``/``tilt``/``angle``, or the first
    column if there is no header); anything else (IMOD ``.rawtlt``/``.tlt``, ``.txt``):
    one angle per line.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    (n_tilts,) ndarray of float64, degrees
        In file order; not validated here (see :func:`insitu4d.data.validate_tilts`).

    Raises
    ------
    UnreadableFile
        If the file is missing or a line is not a number.
    MissingTiltAngles
        If the file holds no angle.
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableFile(f"tilt file not found: {path}.")
    text = _read_text(path)
    suffix = path.suffix.lower()
    if suffix == ".mdoc":
        tilts = _parse_mdoc(text)
    elif suffix == ".csv":
        tilts = _parse_csv(text, path)
    else:
        tilts = _parse_lines(text, path)
    if tilts.size == 0:
        raise MissingTiltAngles(f"{path} holds no tilt angle; expected one angle in degrees per image.")
    return tilts


def find_tilt_sidecar(stack_path) -> Path | None:
    """The tilt file written beside a stack by IMOD or SerialEM, if there is one.

    Looks for ``NAME.rawtlt``, ``NAME.tlt``, ``NAME.EXT.mdoc`` and ``NAME.mdoc``.

    Parameters
    ----------
    stack_path : str or Path
        The stack file.

    Returns
    -------
    Path or None
        The first that exists, or None.
    """
    p = Path(stack_path)
    for candidate in (p.with_suffix(".rawtlt"), p.with_suffix(".tlt"), Path(str(p) + ".mdoc"), p.with_suffix(".mdoc")):
        if candidate.is_file():
            return candidate
    return None
