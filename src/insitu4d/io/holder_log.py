"""Holder logs: read, interpolate, and split into isothermal segments.

MEMS holders (heating, gas cell, electrical biasing) log their channels against time. The
vendor exports of Protochips and DENSsolutions (DigiHeater, Impulse) are recognised and read
with their date, start time and units (:mod:`insitu4d.io.vendor_logs`); any other delimited
table whose header names a time and a temperature column is read too (see
:func:`read_holder_log`). A :class:`HolderLog` keeps its samples where they were taken (no
resampling) and the absolute start of its clock when the log states it.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from ..errors import InvalidParameter, UnreadableFile

__all__ = ["HolderLog", "LogChannel", "read_holder_log", "isothermal_segments", "from_channels"]

_TIME_UNITS = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "min": 60.0, "h": 3600.0, "hr": 3600.0}

#: temperature unit as logs write it -> offset to °C
_TEMPERATURE_UNITS = {"": 0.0, "c": 0.0, "°c": 0.0, "degc": 0.0, "degrees c": 0.0, "celsius": 0.0,
                      "k": -273.15, "kelvin": -273.15}
#: power unit as logs write it -> factor to mW
_POWER_UNITS = {"mw": 1.0, "w": 1e3, "watts": 1e3, "milliwatts": 1.0, "": 1.0}

#: (role, name patterns in priority order); a log channel whose name matches takes the role
_ROLES = (
    ("temperature", (r"^tmeas$", r"^temperature measured$", r"^(channel \w+ |holder |sample )?temperature$")),
    ("set_point", (r"^tset$", r"set ?point", r"^temperature (set|target)")),
    ("heater_power", (r"^pheat$", r"(heater )?power( measured)?$")),
)


@dataclass(frozen=True)
class LogChannel:
    """One logged quantity: ``values`` (k,) at the log's times, in ``unit`` as the log writes it."""

    name: str
    values: np.ndarray
    unit: str = ""


@dataclass(frozen=True)
class HolderLog:
    """A holder log on its own clock.

    Attributes
    ----------
    time_s : (k,) ndarray of float, s
        Sample times, strictly increasing, counted from ``start``.
    temperature_C : (k,) ndarray of float, °C, or None
        The measured sample temperature; None for a log without one (a biasing or gas-cell log).
    source : str
        File name.
    start : datetime or None
        Timezone-aware absolute time of ``time_s == 0``, when the log states its date and time.
    set_point_C : (k,) ndarray of float, °C, or None
    heater_power_mW : (k,) ndarray of float, mW, or None
    channels : tuple of LogChannel
        Every logged quantity as the log names it and in its unit (the ones above included).
    vendor : str
        The format that was read (``table`` for a plain delimited table).
    """

    time_s: np.ndarray
    temperature_C: np.ndarray | None
    source: str = ""
    start: datetime | None = None
    set_point_C: np.ndarray | None = None
    heater_power_mW: np.ndarray | None = None
    channels: tuple[LogChannel, ...] = field(default=())
    vendor: str = "table"

    def channel(self, name: str) -> LogChannel:
        """The channel called ``name``.

        Raises
        ------
        InvalidParameter
            No such channel (the message lists the log's channels).
        """
        for c in self.channels:
            if c.name == name:
                return c
        raise InvalidParameter(f"holder log {self.source} has no channel {name!r}; it has "
                               f"{[c.name for c in self.channels]}.")

    def temperature_at(self, time_s) -> np.ndarray:
        """Temperature (°C) at the given times, linearly interpolated.

        Raises
        ------
        InvalidParameter
            A time outside the log's span (the log cannot say what the holder did then).
        """
        if self.temperature_C is None:
            raise InvalidParameter(f"holder log {self.source} records no temperature; its channels are "
                                   f"{[c.name for c in self.channels]}.")
        return self.interpolate(self.temperature_C, time_s)

    def interpolate(self, values: np.ndarray, time_s) -> np.ndarray:
        """``values`` (k,) at ``time_s`` (s on the log's clock), linearly interpolated between samples.

        Raises
        ------
        InvalidParameter
            A time outside the log's span (the log cannot say what the holder did then).
        """
        t = np.atleast_1d(np.asarray(time_s, dtype=np.float64))
        outside = (t < self.time_s[0]) | (t > self.time_s[-1])
        if np.any(outside):
            raise InvalidParameter(f"time {t[outside][0]:g} s is outside the holder log {self.source} "
                                   f"({self.time_s[0]:g} … {self.time_s[-1]:g} s); the log and the images must "
                                   "share one clock (state the clock offset).")
        return np.interp(t, self.time_s, values)


def _role(channels: tuple[LogChannel, ...], patterns: tuple[str, ...]) -> LogChannel | None:
    for pattern in patterns:
        for c in channels:
            if re.search(pattern, c.name.strip().lower()):
                return c
    return None


def _in_unit(channel: LogChannel | None, units: dict, *, offset: bool, source: str) -> np.ndarray | None:
    if channel is None:
        return None
    key = channel.unit.strip().lower()
    if key not in units:
        raise UnreadableFile(f"holder log {source}: channel {channel.name!r} is in {channel.unit!r}, which insitu4d "
                             f"does not convert; known units: {sorted(k for k in units if k)}.")
    return channel.values + units[key] if offset else channel.values * units[key]


def from_channels(time_s: np.ndarray, channels, *, source: str, start: datetime | None = None,
                  vendor: str = "table") -> HolderLog:
    """A :class:`HolderLog` from its times and channels; the temperature, set point and heater power are
    found by name (``Tmeas``, ``Channel A Temperature``, ``Temperature Measured``; ``Tset``, ``… set point``;
    ``Pheat``, ``… power``) and converted to °C and mW.

    Parameters
    ----------
    time_s : (k,) array of float, s
        Increasing sample times from ``start``.
    channels : iterable of LogChannel
    source : str
        File name, for messages.
    start : datetime, optional
        Timezone-aware time of ``time_s == 0``.
    vendor : str
        The format read.

    Returns
    -------
    HolderLog

    Raises
    ------
    UnreadableFile
        A temperature or power channel in a unit insitu4d does not convert.
    """
    channels = tuple(channels)
    found = {role: _role(channels, patterns) for role, patterns in _ROLES}
    return HolderLog(np.asarray(time_s, dtype=np.float64),
                     _in_unit(found["temperature"], _TEMPERATURE_UNITS, offset=True, source=source),
                     source, start,
                     _in_unit(found["set_point"], _TEMPERATURE_UNITS, offset=True, source=source),
                     _in_unit(found["heater_power"], _POWER_UNITS, offset=False, source=source),
                     channels, vendor)


def _unit(name: str) -> str:
    m = re.search(r"[\(\[]\s*([^\)\]]+?)\s*[\)\]]", name) or re.search(r"_([a-z°]+)$", name, re.IGNORECASE)
    return m.group(1) if m else ""


def _pick(columns: list[str], stems: tuple[str, ...]) -> str | None:
    """The first column matching a stem, stems in priority order; a one-letter stem must stand alone."""
    for stem in stems:
        pattern = rf"^{stem}" if len(stem) > 1 else rf"^{stem}(?:\b|_)"
        for c in columns:
            if re.match(pattern, c.strip().lower()):
                return c
    return None


def _seconds(values: list[str], unit: str, path: Path, tz) -> tuple[np.ndarray, datetime | None]:
    try:
        return np.array([float(v) for v in values]) * _TIME_UNITS[unit], None
    except ValueError:
        pass
    try:
        stamps = [datetime.fromisoformat(v.strip()) for v in values]
    except ValueError:
        raise UnreadableFile(f"{path.name}: the time column holds neither numbers nor ISO 8601 timestamps "
                             f"(first value {values[0]!r}).") from None
    stamps = [s if s.tzinfo is not None else s.replace(tzinfo=tz) for s in stamps]
    return np.array([(s - stamps[0]).total_seconds() for s in stamps]), stamps[0]


def read_holder_log(path, *, timezone: str = "UTC") -> HolderLog:
    """Read a holder log: a vendor export, or any delimited text table (CSV, TSV, ';').

    Protochips CSV, DENSsolutions DigiHeater ``.dens`` and DENSsolutions Impulse CSV exports
    are recognised by their first line (or suffix) and read by
    :mod:`insitu4d.io.vendor_logs`, with their absolute start time and all their channels.

    Any other table must name a time column (starting with ``time``, ``elapsed`` or ``t``) and
    a temperature column (starting with ``temp`` or ``T``) in its header. Units in brackets or
    a suffix are honoured: time in s (default), ms, min or h, or ISO 8601 timestamps (seconds
    from the first row, which is then the start); temperature in °C (default) or K. Rows with
    an empty temperature are skipped; the other numeric columns are kept as channels.

    Parameters
    ----------
    path : str or Path
    timezone : str
        IANA zone of the clock that wrote the log (vendor logs and timestamps without a zone
        carry local wall-clock time).

    Returns
    -------
    HolderLog
        Sorted by time.

    Raises
    ------
    UnreadableFile
        Missing file; no header naming the two columns (the message lists the header);
        fewer than 2 readable rows; repeated times; a damaged row (the message names its line).
    InvalidParameter
        An unknown time zone.
    """
    from .vendor_logs import detect_vendor, zone

    path = Path(path)
    tz = zone(timezone)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UnreadableFile(f"holder log {path} does not exist.") from None
    except UnicodeDecodeError:
        try:
            text = path.read_text(encoding="latin1")
        except UnicodeDecodeError:
            raise UnreadableFile(f"holder log {path.name} is not a text table (CSV/TSV).") from None
    if "\x00" in text:
        raise UnreadableFile(f"holder log {path.name} is not a text table (CSV/TSV).")
    numbered = [(k, ln) for k, ln in enumerate(text.splitlines(), start=1)
                if ln.strip() and not ln.lstrip().startswith("#")]
    vendor = detect_vendor(path, numbered[0][1] if numbered else "")
    if vendor is not None:
        return vendor.reader(path, timezone=timezone)
    return _read_table(path, numbered, tz)


def _read_table(path: Path, numbered: list[tuple[int, str]], tz) -> HolderLog:
    """A plain delimited table with a header naming a time and a temperature column."""
    try:
        dialect = csv.Sniffer().sniff(numbered[0][1], delimiters=",;\t")
    except (csv.Error, IndexError):
        raise UnreadableFile(f"holder log {path.name} is not a delimited table with a header line.") from None
    rows = list(csv.reader([ln for _, ln in numbered], dialect))
    header = [h.strip() for h in rows[0]]
    t_col = _pick(header, ("time", "elapsed", "t"))
    T_col = _pick([h for h in header if h != t_col], ("temp", "t"))
    if t_col is None or T_col is None:
        raise UnreadableFile(f"holder log {path.name} needs a time and a temperature column; its header is "
                             f"{header}. Name them e.g. 'time_s' and 'temperature_C'.")
    ti, Ti = header.index(t_col), header.index(T_col)
    kept = []
    for (number, _), r in zip(numbered[1:], rows[1:]):
        if len(r) != len(header):
            raise UnreadableFile(f"holder log {path.name} is damaged: line {number}: {len(r)} fields where the "
                                 f"header has {len(header)}. Fix or delete that line.")
        if not r[Ti].strip():
            continue
        try:
            float(r[Ti])
        except ValueError:
            raise UnreadableFile(f"holder log {path.name} is damaged: line {number}: temperature {r[Ti]!r} is not "
                                 "a number. Fix or delete that line.") from None
        kept.append(r)
    if len(kept) < 2:
        raise UnreadableFile(f"holder log {path.name} has fewer than 2 rows with a temperature.")
    t_unit = _unit(t_col).lower() or "s"
    if t_unit not in _TIME_UNITS:
        t_unit = "s"
    t, start = _seconds([r[ti] for r in kept], t_unit, path, tz)
    order = np.argsort(t, kind="stable")
    t = t[order]
    if np.any(np.diff(t) == 0):
        raise UnreadableFile(f"holder log {path.name} repeats a time ({t[1:][np.diff(t) == 0][0]:g} s).")
    channels = []
    for i, name in enumerate(header):
        column = [parse_number(r[i]) for r in kept]
        if i != ti and all(v is not None for v in column):
            unit = _unit(name)
            channels.append(LogChannel(name, np.array(column)[order], "K" if unit.upper() == "K" and i == Ti else unit))
    T = np.array([float(r[Ti]) for r in kept])[order]
    if _unit(T_col).upper() == "K":
        T = T - 273.15
    return HolderLog(t, T, path.name, start, channels=tuple(channels))


def parse_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def isothermal_segments(log: HolderLog, *, tolerance_C: float = 2.0, min_duration_s: float = 30.0) -> list[dict]:
    """The stretches of a log where the temperature holds steady.

    A segment grows sample by sample while every sample stays within ``tolerance_C`` of the
    segment's running mean; ramps break into short pieces, which are dropped when shorter
    than ``min_duration_s``.

    Parameters
    ----------
    log : HolderLog
    tolerance_C : float, °C
        Band around the running mean.
    min_duration_s : float, s
        Shortest segment kept.

    Returns
    -------
    list of dict
        ``start_s``, ``end_s``, ``temperature_C`` (mean), ``sd_C``, ``n_samples``, in time order.

    Raises
    ------
    InvalidParameter
        Non-positive tolerance or negative duration.
    """
    if not tolerance_C > 0 or not min_duration_s >= 0:
        raise InvalidParameter("isothermal segments need tolerance_C > 0 and min_duration_s ≥ 0.")
    t, T = log.time_s, log.temperature_C
    segments, start, total = [], 0, T[0]
    for k in range(1, T.size + 1):
        if k < T.size and abs(T[k] - total / (k - start)) <= tolerance_C:
            total += T[k]
            continue
        if t[k - 1] - t[start] >= min_duration_s and k - start >= 2:
            seg = T[start:k]
            segments.append({"start_s": float(t[start]), "end_s": float(t[k - 1]),
                             "temperature_C": float(seg.mean()), "sd_C": float(seg.std()),
                             "n_samples": int(seg.size)})
        if k < T.size:
            start, total = k, T[k]
    return segments
