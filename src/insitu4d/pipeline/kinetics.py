"""Sintering kinetics of measured pairs: neck-growth laws per pair and isothermal segment, and Arrhenius.

Used by the 4D pipeline (``experiment.json``) and by ``insitu4d fit pairs_timeseries.csv``.
The fitting and the mechanism ranking are :func:`insitu4d.physics.sintering.rank_mechanisms`;
a heating programme with several holds is split into isothermal segments (from the holder
log, :func:`insitu4d.io.holder_log.isothermal_segments`, or from the rows' temperatures),
each fitted on its own, and the rates of one pair at a common time exponent give the
activation energy (:func:`insitu4d.physics.sintering.arrhenius_fit`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..data import require_positive, require_whole
from ..errors import InvalidParameter, UnreadableFile
from ..io.holder_log import isothermal_segments, read_holder_log
from ..io.output_folder import check_output_file
from ..io.writers import write_json
from ..physics.sintering import (ArrheniusFit, MechanismRanking, NeckGrowthFit, arrhenius_fit, fit_neck_growth,
                                 rank_mechanisms)

__all__ = ["read_pairs_table", "assign_segments", "fit_pairs", "excluded_points", "arrhenius_pairs",
           "KineticsParameters", "REQUIRED_PAIR_COLUMNS", "fit_pairs_file", "PLOT_SUFFIXES", "PairFit", "RateSegment",
           "PairArrhenius", "KineticsResult"]

#: File endings of the fit plot (matplotlib writes the format of the ending).
PLOT_SUFFIXES = (".png", ".pdf", ".svg")

REQUIRED_PAIR_COLUMNS = ("time_s", "pair_id", "r_n_nm", "d_nm", "r_p_nm")


@dataclass(frozen=True)
class KineticsParameters:
    """Settings of the kinetics analysis (TOML table ``[kinetics]`` of an experiment).

    Attributes
    ----------
    time_exponent : float or None
        n of the law used for the rates of the Arrhenius analysis (a mechanism's); None: no
        Arrhenius analysis.
    hold_tolerance_C : float, °C
        Temperature band of an isothermal hold (:func:`assign_segments`,
        :func:`insitu4d.io.holder_log.isothermal_segments`).
    min_hold_s : float, s
        Shortest hold of the holder log that counts as a segment.
    """

    time_exponent: float | None = None
    hold_tolerance_C: float = 2.0
    min_hold_s: float = 60.0

    def __post_init__(self) -> None:
        if self.time_exponent is not None and (isinstance(self.time_exponent, bool) or not isinstance(
                self.time_exponent, (int, float)) or not 0 < self.time_exponent < float("inf")):
            raise InvalidParameter(f"time_exponent must be a positive number (n of the law); got "
                                   f"{self.time_exponent!r}.")
        require_positive(self.hold_tolerance_C, "hold_tolerance_C", "°C")
        if isinstance(self.min_hold_s, bool) or not isinstance(self.min_hold_s, (int, float)) \
                or not 0 <= self.min_hold_s < float("inf"):
            raise InvalidParameter(f"min_hold_s must be a number of seconds ≥ 0; got {self.min_hold_s!r}.")


@dataclass(frozen=True)
class PairFit:
    """The neck-growth law of one pair in one isothermal segment, with the mechanisms ranked (:func:`fit_pairs`).

    Attributes
    ----------
    pair_id : int or str
        As in the pair table.
    segment : int
        Index of the isothermal segment (:func:`assign_segments`).
    temperature_C : float or None, °C
        Mean temperature of its rows (None: unknown).
    time_range_s : (float, float), s
        First and last time fitted.
    weighted_by_error_bars : bool
        Whether the rows' ``r_n_over_r_p_err`` weighted the fit.
    ranking : MechanismRanking
        The free fit (:attr:`fit`), the mechanisms and the verdict.
    """

    pair_id: int | str
    segment: int
    temperature_C: Optional[float]
    time_range_s: tuple[float, float]
    weighted_by_error_bars: bool
    ranking: MechanismRanking

    @property
    def fit(self) -> NeckGrowthFit:
        """The free fit (n, B, t₀ and their intervals).

        Returns
        -------
        NeckGrowthFit
        """
        return self.ranking.free_fit

    @property
    def unconstrained(self) -> tuple[str, ...]:
        """The parameters whose 95 % interval reaches the fit's search range: the data do not bound them.

        Within 1 % of the range of a bound (n in :data:`~insitu4d.physics.sintering.N_SEARCH_RANGE`,
        ln B in ``LOG_B_SEARCH_RANGE``, t₀ down to ``T0_SEARCH_SPANS`` time spans before the
        first time).

        Returns
        -------
        tuple of str
            Among ``"n"``, ``"B_per_s"``, ``"t0_s"``.
        """
        from ..physics.sintering import LOG_B_SEARCH_RANGE, N_SEARCH_RANGE, T0_SEARCH_SPANS

        fit = self.fit
        first, last = self.time_range_s
        span = max(last - first, 1e-9)
        out = []
        n_tol = 0.01 * (N_SEARCH_RANGE[1] - N_SEARCH_RANGE[0])
        if fit.n_ci[0] <= N_SEARCH_RANGE[0] + n_tol or fit.n_ci[1] >= N_SEARCH_RANGE[1] - n_tol:
            out.append("n")
        b_tol = 0.01 * (LOG_B_SEARCH_RANGE[1] - LOG_B_SEARCH_RANGE[0])
        log_b = np.log(np.maximum(np.asarray(fit.B_per_s_ci, float), 1e-300))
        if log_b[0] <= LOG_B_SEARCH_RANGE[0] + b_tol or log_b[1] >= LOG_B_SEARCH_RANGE[1] - b_tol:
            out.append("B_per_s")
        if fit.t0_s_ci[0] <= first - (1 - 0.01) * T0_SEARCH_SPANS * span:
            out.append("t0_s")
        return tuple(out)

    def to_dict(self) -> dict:
        """One flat JSON record: the pair, the free fit's fields, ``unconstrained``, ``mechanism`` (or None),
        ``verdict``, ``mechanisms``.

        Returns
        -------
        dict
        """
        return {"pair_id": self.pair_id, "segment": self.segment, "temperature_C": self.temperature_C,
                "time_range_s": list(self.time_range_s), **self.fit.to_dict(),
                "unconstrained": list(self.unconstrained),
                "weighted_by_error_bars": self.weighted_by_error_bars, "mechanism": self.ranking.named,
                "verdict": self.ranking.verdict, "mechanisms": [m.to_dict() for m in self.ranking.mechanisms]}


@dataclass(frozen=True)
class RateSegment:
    """The rate B of one pair in one isothermal segment at a fixed time exponent (:func:`arrhenius_pairs`).

    Attributes
    ----------
    temperature_C : float, °C
    time_range_s : (float, float), s
    n_points : int
    B_per_s : float, 1/s
    B_per_s_ci : (float, float), 1/s
        Bootstrap 2.5 and 97.5 percentiles.
    """

    temperature_C: float
    time_range_s: tuple[float, float]
    n_points: int
    B_per_s: float
    B_per_s_ci: tuple[float, float]

    def to_dict(self) -> dict:
        """The record for JSON.

        Returns
        -------
        dict
        """
        return {"temperature_C": self.temperature_C, "time_range_s": list(self.time_range_s),
                "n_points": self.n_points, "B_per_s": self.B_per_s, "B_per_s_ci": list(self.B_per_s_ci)}


@dataclass(frozen=True)
class PairArrhenius:
    """The activation energy of one pair from its rates in several holds (:func:`arrhenius_pairs`).

    Attributes
    ----------
    pair_id : int or str
    time_exponent : float
        The common n of the rates.
    segments : tuple of RateSegment
    arrhenius : ArrheniusFit or None
        None when fewer than 2 temperatures have 3 or more points (:attr:`reason`).
    reason : str or None
        Why there is no fit.
    weighted_by_bootstrap : bool or None
        Whether the rates' bootstrap spreads weighted the fit (None without a fit).
    """

    pair_id: int | str
    time_exponent: float
    segments: tuple[RateSegment, ...]
    arrhenius: Optional[ArrheniusFit] = None
    reason: Optional[str] = None
    weighted_by_bootstrap: Optional[bool] = None

    def to_dict(self) -> dict:
        """The record for JSON (``reason`` only without a fit, ``weighted_by_bootstrap`` only with one).

        Returns
        -------
        dict
        """
        out = {"pair_id": self.pair_id, "time_exponent": self.time_exponent,
               "segments": [s.to_dict() for s in self.segments],
               "arrhenius": None if self.arrhenius is None else self.arrhenius.to_dict()}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.weighted_by_bootstrap is not None:
            out["weighted_by_bootstrap"] = self.weighted_by_bootstrap
        return out


@dataclass(frozen=True)
class KineticsResult:
    """What :func:`fit_pairs_file` produced.

    Attributes
    ----------
    fits : tuple of PairFit
    arrhenius : tuple of PairArrhenius or None
        None without a time exponent.
    plot : Path
        The plot written.
    """

    fits: tuple[PairFit, ...]
    arrhenius: Optional[tuple[PairArrhenius, ...]]
    plot: Path


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def read_pairs_table(path) -> list[dict]:
    """Rows of a pair time-series CSV (``pairs_timeseries.csv``) with numbers as floats.

    Needs the columns :data:`REQUIRED_PAIR_COLUMNS`; ``r_n_over_r_p`` and ``d_over_2r_p``
    are computed when absent; ``r_n_over_r_p_err`` (error bars) is used when present.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    list of dict
        One per row: the numeric columns as float (NaN where empty), ``pair_id`` and
        ``time_point`` as text.

    Raises
    ------
    UnreadableFile
        Missing file, not a CSV with the needed columns (the message names them), or a
        row whose required column is empty or not a number (the message names the line).
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            raw = list(reader)
            columns = reader.fieldnames or []
    except FileNotFoundError:
        raise UnreadableFile(f"{path} does not exist.") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UnreadableFile(f"{path.name} is not a readable CSV table: {exc}.") from None
    missing = [c for c in REQUIRED_PAIR_COLUMNS if c not in columns]
    if missing:
        raise UnreadableFile(f"{path.name} lacks the column(s) {', '.join(missing)}; a pair time series needs "
                             f"{', '.join(REQUIRED_PAIR_COLUMNS)} (as insitu4d run writes in pairs_timeseries.csv).")
    rows = []
    for line, r in enumerate(raw, start=2):
        for column in REQUIRED_PAIR_COLUMNS:
            value = (r.get(column) or "").strip()
            number = _float(value)
            if column == "pair_id" and value:
                continue
            if not value or (np.isnan(number) and value.lower() != "nan") or (column == "time_s"
                                                                              and not np.isfinite(number)):
                raise UnreadableFile(f"{path.name}, line {line}: {column} must be a number"
                                     f"{' (seconds)' if column == 'time_s' else ''}; got {value!r}.")
        row = {k: _float(v) for k, v in r.items() if k is not None}
        row.update(pair_id=r["pair_id"], time_point=r.get("time_point"))
        if not np.isfinite(row.get("r_n_over_r_p", np.nan)):
            row["r_n_over_r_p"] = row["r_n_nm"] / row["r_p_nm"] if row["r_p_nm"] > 0 else float("nan")
        if not np.isfinite(row.get("d_over_2r_p", np.nan)):
            row["d_over_2r_p"] = row["d_nm"] / (2 * row["r_p_nm"]) if row["r_p_nm"] > 0 else float("nan")
        rows.append(row)
    if not rows:
        raise UnreadableFile(f"{path.name} has no rows.")
    return rows


def assign_segments(pair_rows: list[dict], segments: list[dict] | None = None, *,
                    tolerance_C: float = 2.0) -> list[dict]:
    """Give every row the isothermal segment it was measured in (keys ``segment``, ``temperature_C``).

    With ``segments`` (from :func:`insitu4d.io.holder_log.isothermal_segments`) a row belongs
    to the segment whose [start_s, end_s] holds its ``time_s`` and takes its mean
    temperature; a row in none (a ramp) gets ``segment`` None and is left out of the fits.
    Without, the rows' own ``temperature_C`` is used: in time order, a new segment starts
    where it moves by more than ``tolerance_C`` from the segment's first row. Rows without
    a temperature form one segment.

    Parameters
    ----------
    pair_rows : list of dict
        Rows of :func:`read_pairs_table` (or of the 4D pipeline); changed in place.
    segments : list of dict, optional
        Isothermal holds of a holder log.
    tolerance_C : float, °C
        Temperature band of a segment without a holder log.

    Returns
    -------
    list of dict
        The segments used: ``segment``, ``temperature_C`` (None if unknown), ``start_s``, ``end_s``.
    """
    if segments is not None:
        for r in pair_rows:
            hit = [k for k, seg in enumerate(segments) if seg["start_s"] <= r["time_s"] <= seg["end_s"]]
            r["segment"] = hit[0] if hit else None
            r["temperature_C"] = segments[hit[0]]["temperature_C"] if hit else r.get("temperature_C")
        return [{"segment": k, **{key: seg[key] for key in ("temperature_C", "start_s", "end_s")}}
                for k, seg in enumerate(segments)]
    out: list[dict] = []
    for t in sorted({r["time_s"] for r in pair_rows}):
        temps = [r.get("temperature_C") for r in pair_rows if r["time_s"] == t]
        T = temps[0] if temps and temps[0] is not None and np.isfinite(temps[0]) else None
        current = out[-1] if out else None
        same = current is not None and ((T is None and current["temperature_C"] is None) or
                                        (T is not None and current["temperature_C"] is not None and
                                         abs(T - current["temperature_C"]) <= tolerance_C))
        if same:
            current["end_s"] = t
        else:
            out.append({"segment": len(out), "temperature_C": T, "start_s": t, "end_s": t})
        for r in pair_rows:
            if r["time_s"] == t:
                r["segment"] = out[-1]["segment"]
    return out


def _segment_rows(pair_rows: list[dict]) -> dict[tuple, list[dict]]:
    """Rows with 0 < r_n/r_p ≤ 1 grouped by (pair_id, segment), each group in time order."""
    if any("segment" not in r for r in pair_rows):
        assign_segments(pair_rows)
    groups: dict[tuple, list[dict]] = {}
    for r in pair_rows:
        if r["segment"] is not None and 0 < r["r_n_over_r_p"] <= 1:
            groups.setdefault((r["pair_id"], r["segment"]), []).append(r)
    return {k: sorted(v, key=lambda r: r["time_s"]) for k, v in groups.items()}


def _sigma(rows: list[dict]) -> np.ndarray | None:
    """The rows' r_n/r_p error bars when every one is finite and > 0, else None (unweighted)."""
    sigma = np.array([r.get("r_n_over_r_p_err", np.nan) for r in rows], float)
    return sigma if np.all(np.isfinite(sigma)) and np.all(sigma > 0) else None


def _temperature(rows: list[dict]) -> float | None:
    """Mean temperature of rows, None when none has one."""
    T = np.array([r.get("temperature_C") for r in rows], dtype=float)
    return float(np.nanmean(T)) if np.any(np.isfinite(T)) else None


def _time_range(rows: list[dict]) -> tuple[float, float]:
    return float(rows[0]["time_s"]), float(rows[-1]["time_s"])


def excluded_points(pair_rows: list[dict]) -> list[dict]:
    """The pair rows :func:`fit_pairs` leaves out, and why.

    Parameters
    ----------
    pair_rows : list of dict
        Rows with ``pair_id``, ``time_s``, ``r_n_over_r_p`` and ``segment`` (after
        :func:`assign_segments`).

    Returns
    -------
    list of dict
        ``pair_id``, ``time_s``, ``reason``, in the rows' order.
    """
    if any("segment" not in r for r in pair_rows):
        assign_segments(pair_rows)
    groups = _segment_rows(pair_rows)
    out = []
    for r in pair_rows:
        x = r["r_n_over_r_p"]
        if r["segment"] is None:
            reason = "outside the isothermal holds (temperature changing or unknown)"
        elif not 0 < x <= 1:
            reason = f"r_n/r_p = {x:.3g} is outside (0, 1]: no neck, or the pair has merged"
        elif len(groups.get((r["pair_id"], r["segment"]), ())) < 4:
            reason = "fewer than 4 points of this pair in this hold"
        else:
            continue
        out.append({"pair_id": r["pair_id"], "time_s": r["time_s"], "reason": reason})
    return out


def fit_pairs(pair_rows: list[dict], *, n_bootstrap: int = 100, seed: int = 0) -> list[PairFit]:
    """(r_n/r_p)^n = B (t − t₀) per pair and isothermal segment with t₀ free, mechanisms ranked.

    Rows are split into segments by :func:`assign_segments` unless they carry ``segment``.
    Points with 0 < r_n/r_p ≤ 1 are used; a group with fewer than 4 is skipped. When every
    used point has a finite, positive ``r_n_over_r_p_err`` the fit is weighted by it.

    Parameters
    ----------
    pair_rows : list of dict
        Rows with ``pair_id``, ``time_s``, ``r_n_over_r_p`` and (after :func:`assign_segments`)
        ``segment``.
    n_bootstrap : int
        Bootstrap resamples of each fit's intervals.
    seed : int
        Seed of the bootstrap (reproducible).

    Returns
    -------
    list of PairFit
        Per pair and segment.

    Raises
    ------
    InvalidParameter
        As :func:`insitu4d.physics.sintering.fit_neck_growth`.
    """
    fits = []
    for (pid, segment), rs in _segment_rows(pair_rows).items():
        if len(rs) < 4:
            continue
        sigma = _sigma(rs)
        ranking = rank_mechanisms([r["time_s"] for r in rs], [r["r_n_over_r_p"] for r in rs], sigma=sigma,
                                  n_bootstrap=n_bootstrap, seed=seed)
        fits.append(PairFit(pair_id=pid, segment=segment, temperature_C=_temperature(rs),
                            time_range_s=_time_range(rs), weighted_by_error_bars=sigma is not None, ranking=ranking))
    return fits


def arrhenius_pairs(pair_rows: list[dict], time_exponent: float, *, n_bootstrap: int = 100,
                    seed: int = 0) -> list[PairArrhenius]:
    """Activation energy per pair from its rate constants B at a common time exponent n.

    B is fitted in each isothermal segment with n fixed and t₀ free (the neck that earlier
    holds grew is absorbed in t₀), so the B of different temperatures share their unit
    and their size factor r^m; then ln(B T) against 1/T gives Q
    (:func:`insitu4d.physics.sintering.arrhenius_fit`), weighted by the bootstrap spread of
    ln B. n must be chosen (a mechanism's): a free n per segment would change B's unit.

    Parameters
    ----------
    pair_rows : list of dict
        Rows with their ``segment`` and ``temperature_C`` (:func:`assign_segments`).
    time_exponent : float
        n of the law, > 0.
    n_bootstrap : int
    seed : int

    Returns
    -------
    list of PairArrhenius
        Per pair (without a fit, and with the reason, when fewer than 2 temperatures have 3
        or more points).

    Raises
    ------
    InvalidParameter
        A time exponent that is not a positive number.
    """
    if not np.isfinite(time_exponent) or time_exponent <= 0:
        raise InvalidParameter(f"the Arrhenius analysis needs a positive time exponent n; got {time_exponent}.")
    by_pair: dict = {}
    for (pid, _), rs in _segment_rows(pair_rows).items():
        T = _temperature(rs)
        if len(rs) < 3 or T is None:
            continue
        f = fit_neck_growth([r["time_s"] for r in rs], [r["r_n_over_r_p"] for r in rs], sigma=_sigma(rs),
                            time_exponent=time_exponent, n_bootstrap=n_bootstrap, seed=seed)
        by_pair.setdefault(pid, []).append(RateSegment(temperature_C=T, time_range_s=_time_range(rs),
                                                       n_points=len(rs), B_per_s=f.B_per_s, B_per_s_ci=f.B_per_s_ci))
    out = []
    for pid, segs in by_pair.items():
        if len({round(s.temperature_C, 6) for s in segs}) < 2:
            out.append(PairArrhenius(pid, float(time_exponent), tuple(segs),
                                     reason="fewer than 2 temperatures with 3 or more points in (0, 1]"))
            continue
        lo, hi = (np.log([s.B_per_s_ci[k] for s in segs]) for k in (0, 1))
        rel_sd = (hi - lo) / (2 * 1.96)
        usable = bool(np.all(np.isfinite(rel_sd)) and np.all(rel_sd > 0))
        fit = arrhenius_fit([s.temperature_C for s in segs], [s.B_per_s for s in segs], rel_sd if usable else None)
        out.append(PairArrhenius(pid, float(time_exponent), tuple(segs), arrhenius=fit, weighted_by_bootstrap=usable))
    return out


def fit_pairs_file(table, params: KineticsParameters | None = None, *, holder_log=None, n_bootstrap: int = 200,
                   plot=None, json_path=None) -> KineticsResult:
    """The ``fit`` job: neck-growth laws (and with ``params.time_exponent`` Arrhenius) of a pair table, plotted.

    Parameters
    ----------
    table : str or Path
        ``pairs_timeseries.csv`` (:func:`read_pairs_table`).
    params : KineticsParameters, optional
    holder_log : str or Path, optional
        Holder temperature log; its isothermal holds split the rows (:func:`assign_segments`).
    n_bootstrap : int
        Bootstrap resamples of the intervals (≥ 0).
    plot : str or Path, optional
        Plot file (:data:`PLOT_SUFFIXES`); default ``neck_growth_fit.png`` beside the table.
    json_path : str or Path, optional
        Where to write the fits as JSON. Both paths are checked before any work.

    Returns
    -------
    KineticsResult

    Raises
    ------
    UnwritableOutput
        An output path with another ending, or one that cannot be written.
    UnreadableFile
        The table or the holder log cannot be read.
    InvalidParameter
        ``n_bootstrap`` not a whole number ≥ 0, or no pair with 4 or more fittable time points in one hold.
    """
    from ..report.timeseries import save_fit_plot

    params = params or KineticsParameters()
    table = Path(table)
    require_whole(n_bootstrap, "n_bootstrap", minimum=0)
    plot = check_output_file(plot or table.with_name("neck_growth_fit.png"), PLOT_SUFFIXES, "fit plot")
    if json_path is not None:
        check_output_file(json_path, (".json",), "fits")
    rows = read_pairs_table(table)
    holds = None
    if holder_log is not None:
        holds = isothermal_segments(read_holder_log(holder_log), tolerance_C=params.hold_tolerance_C,
                                    min_duration_s=params.min_hold_s)
    assign_segments(rows, holds, tolerance_C=params.hold_tolerance_C)
    fits = fit_pairs(rows, n_bootstrap=n_bootstrap)
    if not fits:
        raise InvalidParameter(f"no pair in {table.name} has 4 or more time points with 0 < r_n/r_p ≤ 1 in one "
                               "hold; nothing to fit.")
    arrhenius = arrhenius_pairs(rows, params.time_exponent, n_bootstrap=n_bootstrap) \
        if params.time_exponent is not None else None
    save_fit_plot(plot, rows, fits)
    if json_path is not None:
        write_json(json_path, {"source": str(table), "fits": [f.to_dict() for f in fits],
                               "arrhenius": None if arrhenius is None else [a.to_dict() for a in arrhenius]})
    return KineticsResult(tuple(fits), None if arrhenius is None else tuple(arrhenius), plot)
