"""Heating-holder temperature logs: read, interpolate, and split into isothermal segments.

MEMS heating holders (DENSsolutions, Protochips, Hummingbird) export their log as a
delimited text table with a time column and a temperature column. The reader takes any
such table whose header names them (see :func:`read_holder_log`); the time axis is the
one the experiment's ``time_s`` uses (seconds from the same origin).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from ..errors import InvalidParameter, UnreadableFile

__all__ = ["HolderLog", "read_holder_log", "isothermal_segments"]

_TIME_UNITS = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "min": 60.0, "h": 3600.0, "hr": 3600.0}


@dataclass(frozen=True)
class HolderLog:
    """A holder temperature log: ``time_s`` (k,) increasing, s; ``temperature_C`` (k,), °C."""

    time_s: np.ndarray
    temperature_C: np.ndarray
    source: str = ""

    def temperature_at(self, time_s) -> np.ndarray:
        """Temperature (°C) at the given times, linearly interpolated.

        Raises
        ------
        InvalidParameter
            A time outside the log's span (the log cannot say what the holder did then).
        """
        t = np.atleast_1d(np.asarray(time_s, dtype=np.float64))
        outside = (t < self.time_s[0]) | (t > self.time_s[-1])
        if np.any(outside):
            raise InvalidParameter(f"time {t[outside][0]:g} s is outside the holder log {self.source} "
                                   f"({self.time_s[0]:g} … {self.time_s[-1]:g} s); the log and time_s must share "
                                   "one clock.")
        return np.interp(t, self.time_s, self.temperature_C)


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


def _seconds(values: list[str], unit: str, path: Path) -> np.ndarray:
    try:
        return np.array([float(v) for v in values]) * _TIME_UNITS[unit]
    except ValueError:
        pass
    try:
        stamps = [datetime.fromisoformat(v.strip()) for v in values]
    except ValueError:
        raise UnreadableFile(f"{path.name}: the time column holds neither numbers nor ISO 8601 timestamps "
                             f"(first value {values[0]!r}).") from None
    return np.array([(s - stamps[0]).total_seconds() for s in stamps])


def read_holder_log(path) -> HolderLog:
    """Read a holder temperature log from a delimited text file (CSV, TSV, ';').

    The header must name a time column (starting with ``time``, ``elapsed`` or ``t``) and a
    temperature column (starting with ``temp`` or ``T``). Units in brackets or a suffix are
    honoured: time in s (default), ms, min or h, or ISO 8601 timestamps (seconds from the
    first row); temperature in °C (default) or K. Rows whose temperature is empty or not a
    number are skipped.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    HolderLog
        Sorted by time.

    Raises
    ------
    UnreadableFile
        Missing file; no header naming the two columns (the message lists the header);
        fewer than 2 readable rows; repeated times.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UnreadableFile(f"holder log {path} does not exist.") from None
    except UnicodeDecodeError:
        raise UnreadableFile(f"holder log {path.name} is not a text table (CSV/TSV).") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    try:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
    except (csv.Error, IndexError):
        raise UnreadableFile(f"holder log {path.name} is not a delimited table with a header line.") from None
    rows = list(csv.reader(lines, dialect))
    header = [h.strip() for h in rows[0]]
    t_col = _pick(header, ("time", "elapsed", "t"))
    T_col = _pick([h for h in header if h != t_col], ("temp", "t"))
    if t_col is None or T_col is None:
        raise UnreadableFile(f"holder log {path.name} needs a time and a temperature column; its header is "
                             f"{header}. Name them e.g. 'time_s' and 'temperature_C'.")
    ti, Ti = header.index(t_col), header.index(T_col)
    times, temps = [], []
    for r in rows[1:]:
        try:
            temp = float(r[Ti])
        except (ValueError, IndexError):
            continue
        times.append(r[ti])
        temps.append(temp)
    if len(temps) < 2:
        raise UnreadableFile(f"holder log {path.name} has fewer than 2 rows with a temperature.")
    t_unit = _unit(t_col).lower() or "s"
    if t_unit not in _TIME_UNITS:
        t_unit = "s"
    t = _seconds(times, t_unit, path)
    T = np.array(temps)
    if _unit(T_col).upper() == "K":
        T = T - 273.15
    order = np.argsort(t, kind="stable")
    t, T = t[order], T[order]
    if np.any(np.diff(t) == 0):
        raise UnreadableFile(f"holder log {path.name} repeats a time ({t[1:][np.diff(t) == 0][0]:g} s).")
    return HolderLog(t, T, path.name)


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
