"""Vendor holder logs: Protochips, DENSsolutions DigiHeater and DENSsolutions Impulse.

Each reader returns a :class:`~insitu4d.io.holder_log.HolderLog` on the log's own clock:
absolute, timezone-aware start time from the log's date and time fields, every channel with
its unit, and the samples at their recorded times (uneven sampling is kept; RosettaSciIO's
uniform axes are a mean step and are not used for times).

- **Protochips** (Fusion, Atmosphere, Poseidon CSV): read through ``rsciio.protochips``, which
  parses the note rows (date, start time, units) and returns one signal per channel. Times come
  from the raw ``Time`` column it keeps (``original_metadata.Protochips_header.Time axis``),
  in the unit the notes give (milliseconds in every export seen).
- **DENSsolutions Impulse** (``… raw.csv``, ``… Synchronized data.csv``): read through
  ``rsciio.impulse``, which takes the experiment date and start time from the
  ``…_Metadata.log`` beside the file. Times are the ``TimeStamp`` clock times of the rows
  (millisecond precision) on that date. The date is read day first (``06-08-2021`` is
  6 August 2021), the order the Impulse software writes.
- **DENSsolutions DigiHeater** (``.dens``): a preamble (date and software version, calibration,
  nominal sample interval) and a tab-separated table with clock times of the day.
  ``rsciio.dens`` keeps only the measured temperature on a fitted uniform axis and refuses
  DigiHeater versions other than 3.1, so the table is read here by its header names; the tests
  check the result against ``rsciio.dens`` on a 3.1 file. DigiHeater writes a status word
  (``norm``, ``fine``) in a column its header does not name, and some versions leave out the
  tab between two names (``c Tset[C]``); both are handled.

The logs carry local wall-clock time without a zone; ``timezone`` (an IANA name, e.g.
``Europe/Amsterdam``) says where they were written.
"""

from __future__ import annotations

import csv
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from ..errors import InvalidParameter, UnreadableFile
from .holder_log import HolderLog, LogChannel, from_channels, parse_number

__all__ = ["VENDOR_FORMATS", "VendorFormat", "detect_vendor", "read_protochips", "read_dens", "read_impulse",
           "zone"]

#: Protochips "Time units = …" note -> factor to seconds
_PROTOCHIPS_TIME_UNITS = {"milliseconds": 1e-3, "seconds": 1.0}


def zone(timezone: str) -> ZoneInfo:
    """The IANA time zone named ``timezone``.

    Parameters
    ----------
    timezone : str
        An IANA name (``UTC``, ``Europe/Amsterdam``).

    Returns
    -------
    zoneinfo.ZoneInfo

    Raises
    ------
    InvalidParameter
        An unknown name.
    """
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidParameter(f"unknown time zone {timezone!r}; give an IANA name such as 'UTC' or "
                               "'Europe/Amsterdam'.") from None


@contextmanager
def _quiet_rsciio():
    """Silence RosettaSciIO's warning that it replaces an uneven time axis by a mean step: the raw times are used."""
    logger = logging.getLogger("rsciio")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def first_bad_row(path: Path, first_data_line: int, *, delimiter: str, n_fields: int,
                  numeric: tuple[int, ...]) -> str | None:
    """Where a delimited table goes wrong: ``'line N: …'`` for the first data row with the wrong number of
    fields or a non-number in a numeric column, or None when every row reads. Lines count from 1."""
    with open(path, encoding="latin1", newline="") as f:
        for number, row in enumerate(csv.reader(f, delimiter=delimiter), start=1):
            if number < first_data_line or not any(cell.strip() for cell in row):
                continue
            if len(row) != n_fields:
                return f"line {number}: {len(row)} fields where the header has {n_fields}"
            for i in numeric:
                if row[i].strip() and parse_number(row[i]) is None:
                    return f"line {number}: {row[i].strip()!r} is not a number"
    return None


def _corrupt(path: Path, vendor: str, where: str | None, exc: Exception | None = None) -> UnreadableFile:
    if where is not None:
        return UnreadableFile(f"{path.name} is a damaged {vendor} log: {where}. Fix or delete that line.")
    said = f" (the reader said: {type(exc).__name__}: {exc})" if exc is not None else ""
    return UnreadableFile(f"{path.name} is a damaged {vendor} log: it could not be parsed{said}. Export the log "
                          "again.")


def _increasing(times_s: np.ndarray, path: Path, vendor: str, first_data_line: int) -> None:
    back = np.flatnonzero(np.diff(times_s) <= 0)
    if back.size:
        k = int(back[0]) + 1
        raise UnreadableFile(f"{path.name} is a damaged {vendor} log: line {first_data_line + k}: its time does not "
                             f"come after the line before ({times_s[k]:g} s after {times_s[k - 1]:g} s). Fix or "
                             "delete that line.")


# ---------------------------------------------------------------------------------------------- Protochips
def _is_protochips(path: Path, first_line: str) -> bool:
    names = [n.strip() for n in first_line.split(",")]
    return "Time" in names and "Notes" in names


def read_protochips(path, *, timezone: str = "UTC") -> HolderLog:
    """Read a Protochips holder log (thermal, gas cell or electrical biasing) through ``rsciio.protochips``.

    Parameters
    ----------
    path : str or Path
    timezone : str
        IANA zone of the acquisition PC's clock.

    Returns
    -------
    HolderLog
        Every logged channel with the unit its notes give; times from the raw ``Time`` column.

    Raises
    ------
    UnreadableFile
        Not a Protochips log; a damaged row (the message names its line); a time unit other than
        milliseconds or seconds; times that do not increase.
    """
    from rsciio.protochips import file_reader

    path = Path(path)
    tz = zone(timezone)
    try:
        with _quiet_rsciio():
            signals = file_reader(str(path))
    except Exception as exc:  # rsciio raises TypeError/ValueError/IOError on damaged rows; find the line ourselves
        header = path.open(encoding="latin1").readline().split(",")
        n_notes = _protochips_note_rows(path)
        numeric = tuple(i for i in range(len(header)) if i != 1)
        where = first_bad_row(path, n_notes + 2, delimiter=",", n_fields=len(header), numeric=numeric)
        raise _corrupt(path, "Protochips", where, exc) from exc
    head = signals[0]["original_metadata"]["Protochips_header"]
    unit = str(head["Time units"]).strip().lower()
    if unit not in _PROTOCHIPS_TIME_UNITS:
        raise UnreadableFile(f"{path.name}: Protochips time unit {head['Time units']!r} is not one of "
                             f"{sorted(_PROTOCHIPS_TIME_UNITS)}; convert the log's time column to seconds.")
    first_data_line = _protochips_note_rows(path) + 2
    time_s = np.asarray(head["Time axis"]["value"], dtype=np.float64) * _PROTOCHIPS_TIME_UNITS[unit]
    _increasing(time_s, path, "Protochips", first_data_line)
    start = head["Start time"].astype("datetime64[us]").item().replace(tzinfo=tz)
    channels = []
    for s in signals:
        name = s["metadata"]["General"]["title"].rsplit(" (", 1)[0]
        values = np.asarray(s["data"], dtype=np.float64)
        channels.append(LogChannel(name, values, str(head.get(f"{name}_units", ""))))
    return from_channels(time_s, channels, source=path.name, start=start, vendor="Protochips")


def _protochips_note_rows(path: Path) -> int:
    """How many rows after the header carry the notes RosettaSciIO reads (up to the ``User`` note)."""
    with open(path, encoding="latin1") as f:
        f.readline()
        for k, line in enumerate(f, start=1):
            fields = line.split(",")
            if len(fields) > 1 and "User" in fields[1]:
                return k
            if k >= 50:
                break
    return 0


# ---------------------------------------------------------------------------------------------- DENS DigiHeater
def _is_dens(path: Path, first_line: str) -> bool:
    return path.suffix.lower() == ".dens"


def _dens_names(header: str) -> list[str]:
    """Column names of a DigiHeater table header: tab fields, split further at spaces unless the next piece is a
    unit in brackets (``Pheat [mW]`` stays one name, ``c Tset[C]`` becomes two)."""
    names: list[str] = []
    for field in header.rstrip("\r\n").split("\t"):
        for k, piece in enumerate(field.split()):
            if k and piece[0] in "[(":
                names[-1] = f"{names[-1]} {piece}"
            else:
                names.append(piece)
    return names


def _dens_unit(name: str) -> dict:
    m = re.match(r"^(.*?)\s*\[(.+)\]$", name)
    return {"name": m.group(1), "unit": m.group(2)} if m else {"name": name, "unit": ""}


def _clock(text: str) -> float:
    """Seconds of the day of a clock time ``HH:MM:SS(.fff)``."""
    t = time.fromisoformat(text.strip())
    return t.hour * 3600.0 + t.minute * 60.0 + t.second + t.microsecond * 1e-6


def _days_rolled(clock_s: np.ndarray) -> np.ndarray:
    """Clock times of the day made continuous across midnight (+1 day at each backward step)."""
    return clock_s + 86400.0 * np.concatenate([[0], np.cumsum(np.diff(clock_s) < -43200.0)])


def read_dens(path, *, timezone: str = "UTC") -> HolderLog:
    """Read a DENSsolutions DigiHeater ``.dens`` log.

    Parameters
    ----------
    path : str or Path
    timezone : str
        IANA zone of the acquisition PC's clock.

    Returns
    -------
    HolderLog
        Measured temperature, set point, heater power and the other columns; time from the
        date in the preamble and the clock time of each sample, continued across midnight.

    Raises
    ------
    UnreadableFile
        No date line ``dd/mm/'yy HH:MM<TAB>Digiheater …``; no table header with ``time`` and
        ``Tmeas``; a damaged row (the message names its line).
    """
    path = Path(path)
    tz = zone(timezone)
    lines = path.read_text(encoding="latin1").splitlines()
    numbered = [(k, ln) for k, ln in enumerate(lines, start=1) if ln.strip()]
    try:
        stamp, version = numbered[0][1].split("\t")[:2]
        day = datetime.strptime(stamp.strip(), "%d/%m/'%y %H:%M")
    except (IndexError, ValueError):
        raise UnreadableFile(f"{path.name} is not a DENSsolutions DigiHeater log: its first line should be the date "
                             "and version, like \"16/04/'15 13:53<TAB>Digiheater 3.1\".") from None
    header_at = next((k for k, ln in numbered if ln.split("\t")[0].strip() == "sample"), None)
    if header_at is None:
        raise UnreadableFile(f"{path.name}: no table header starting with 'sample' in this DigiHeater log.")
    names = _dens_names(lines[header_at - 1])
    if "time" not in names or "Tmeas[C]" not in names:
        raise UnreadableFile(f"{path.name}: the DigiHeater table needs 'time' and 'Tmeas[C]' columns; its header "
                             f"is {names}.")
    rows: list[list[str]] = []
    for k, ln in enumerate(lines[header_at:], start=header_at + 1):
        if not ln.strip():
            continue
        fields = [f.strip() for f in ln.split("\t") if f.strip()]
        kept = [f for i, f in enumerate(fields) if i == 1 or parse_number(f) is not None]  # drop the status word
        if len(kept) != len(names):
            raise UnreadableFile(f"{path.name} is a damaged DigiHeater log: line {k}: {len(kept)} values where the "
                                 f"header names {len(names)} columns. Fix or delete that line.")
        try:
            kept[1] = str(_clock(kept[1]))
        except ValueError:
            raise UnreadableFile(f"{path.name} is a damaged DigiHeater log: line {k}: {kept[1]!r} is not a clock "
                                 "time HH:MM:SS. Fix or delete that line.") from None
        rows.append(kept)
    if len(rows) < 2:
        raise UnreadableFile(f"{path.name}: the DigiHeater table has fewer than 2 rows.")
    table = np.array(rows, dtype=np.float64)
    clock = _days_rolled(table[:, names.index("time")])
    start_clock = day.hour * 3600.0 + day.minute * 60.0
    if clock[0] < start_clock - 60:  # the first sample came after midnight of the header's day
        clock = clock + 86400.0
    time_s = clock - start_clock
    _increasing(time_s, path, "DigiHeater", header_at + 1)
    channels = [LogChannel(values=table[:, i], **_dens_unit(n))
                for i, n in enumerate(names) if n not in ("sample", "time")]
    return from_channels(time_s, channels, source=path.name, start=day.replace(tzinfo=tz),
                         vendor=f"DENSsolutions {version.strip()}")


# ---------------------------------------------------------------------------------------------- DENS Impulse
def _is_impulse(path: Path, first_line: str) -> bool:
    return first_line.split(",")[0].strip() == "TimeStamp"


def _impulse_metadata(path: Path) -> Path:
    return path.with_name(path.name.rsplit("_", 1)[0] + "_Metadata.log")


def read_impulse(path, *, timezone: str = "UTC") -> HolderLog:
    """Read a DENSsolutions Impulse log (``… raw.csv`` or ``… Synchronized data.csv``) through ``rsciio.impulse``.

    Parameters
    ----------
    path : str or Path
    timezone : str
        IANA zone of the acquisition PC's clock.

    Returns
    -------
    HolderLog
        Every logged channel; times from the ``TimeStamp`` clock times on the experiment date,
        counted from the experiment start time of the metadata log.

    Raises
    ------
    UnreadableFile
        The ``…_Metadata.log`` is missing (the message names the file it looked for) or lacks the
        date; a damaged row (the message names its line).
    """
    from rsciio.impulse import file_reader

    path = Path(path)
    tz = zone(timezone)
    meta = _impulse_metadata(path)
    if not meta.is_file() or not re.search(r"(_Synchronized data|raw)\.csv$", path.name):
        raise UnreadableFile(f"{path.name} is a DENSsolutions Impulse log; its date and start time are in "
                             f"{meta.name}, which is not beside it. Keep the exported file names unchanged "
                             "('<experiment>_Synchronized data.csv' or '<experiment>_Heat raw.csv' and "
                             "'<experiment>_Metadata.log').")
    header = path.open(encoding="latin1").readline().rstrip("\r\n").split(",")
    where = first_bad_row(path, 2, delimiter=",", n_fields=len(header),
                          numeric=tuple(i for i, n in enumerate(header) if n not in ("TimeStamp", "MixValve")))
    if where is not None:
        raise _corrupt(path, "Impulse", where)
    try:
        signals = file_reader(str(path))
    except Exception as exc:
        raise _corrupt(path, "Impulse", None, exc) from exc
    general = signals[0]["metadata"]["General"]
    try:
        start = datetime.strptime(f"{general['date']} {general['time']}", "%d-%m-%Y %H:%M:%S").replace(tzinfo=tz)
    except (KeyError, ValueError):
        raise UnreadableFile(f"{meta.name} needs 'Experiment date, DD-MM-YYYY' and 'Experiment time, HH:MM:SS' "
                             "lines.") from None
    with open(path, encoding="latin1", newline="") as f:
        stamps = [row[0] for row in csv.reader(f) if row][1:]
    clock = _days_rolled(np.array([_clock(s) for s in stamps]))
    start_clock = start.hour * 3600.0 + start.minute * 60.0 + start.second
    time_s = clock - start_clock + (86400.0 if clock[0] < start_clock - 60 else 0.0)
    _increasing(time_s, path, "Impulse", 2)
    channels = []
    for s in signals:
        title = s["metadata"]["General"]["title"]
        unit = s["metadata"]["Signal"].get("quantity", "")
        name = title[: -len(f" ({unit})")] if unit and title.endswith(f" ({unit})") else title
        channels.append(LogChannel(name, np.asarray(s["data"], dtype=np.float64), unit))
    return from_channels(time_s, channels, source=path.name, start=start, vendor="DENSsolutions Impulse")


@dataclass(frozen=True)
class VendorFormat:
    """A holder-log format: its name, a test on the path and first line, and its reader."""

    name: str
    detects: Callable[[Path, str], bool]
    reader: Callable[..., HolderLog]


#: the vendor formats :func:`~insitu4d.io.holder_log.read_holder_log` recognises, tried in order
VENDOR_FORMATS = (
    VendorFormat("Protochips", _is_protochips, read_protochips),
    VendorFormat("DENSsolutions DigiHeater", _is_dens, read_dens),
    VendorFormat("DENSsolutions Impulse", _is_impulse, read_impulse),
)


def detect_vendor(path: Path, first_line: str) -> VendorFormat | None:
    """The vendor format of a log, from its suffix and first line.

    Parameters
    ----------
    path : Path
    first_line : str
        The log's first non-empty line.

    Returns
    -------
    VendorFormat or None
        None for a plain table.
    """
    return next((v for v in VENDOR_FORMATS if v.detects(path, first_line)), None)

