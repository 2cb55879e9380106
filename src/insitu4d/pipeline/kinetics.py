"""Sintering kinetics of measured pairs: neck-growth laws fitted per pair from a pair time-series table.

Used by the 4D pipeline (``experiment.json``) and by ``insitu4d fit pairs_timeseries.csv``.
The fitting and the mechanism ranking are :func:`insitu4d.physics.sintering.rank_mechanisms`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import UnreadableFile
from ..physics.sintering import rank_mechanisms

__all__ = ["read_pairs_table", "fit_pairs", "REQUIRED_PAIR_COLUMNS"]

REQUIRED_PAIR_COLUMNS = ("time_s", "pair_id", "r_n_nm", "d_nm", "r_p_nm")


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def read_pairs_table(path) -> list[dict]:
    """Rows of a pair time-series CSV (``pairs_timeseries.csv``) with numbers as floats.

    Needs the columns :data:`REQUIRED_PAIR_COLUMNS`; ``r_n_over_r_p`` and ``d_over_2r_p``
    are computed when absent; ``r_n_over_r_p_err`` (error bars) is used when present.

    Raises
    ------
    UnreadableFile
        Missing file, or not a CSV with the needed columns (the message names them).
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
    for r in raw:
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


def fit_pairs(pair_rows: list[dict], *, n_bootstrap: int = 100, seed: int = 0) -> list[dict]:
    """(r_n/r_p)^n = B (t − t₀) per pair with t₀ free and the mechanisms ranked.

    Points with 0 < r_n/r_p ≤ 1 are used; a pair with fewer than 4 is skipped. When every
    used point has a finite, positive ``r_n_over_r_p_err`` the fit is weighted by it.

    Returns
    -------
    list of dict
        Per pair: ``pair_id``, the free fit (:func:`insitu4d.physics.sintering.fit_neck_growth`
        keys), ``weighted_by_error_bars``, ``mechanism`` (named or None), ``verdict`` and
        ``mechanisms`` (ranked).
    """
    fits = []
    ids = list(dict.fromkeys(r["pair_id"] for r in pair_rows))
    for pid in ids:
        rs = sorted((r for r in pair_rows if r["pair_id"] == pid and 0 < r["r_n_over_r_p"] <= 1),
                    key=lambda r: r["time_s"])
        if len(rs) < 4:
            continue
        sigma = np.array([r.get("r_n_over_r_p_err", np.nan) for r in rs], float)
        weighted = bool(np.all(np.isfinite(sigma)) and np.all(sigma > 0))
        ranking = rank_mechanisms([r["time_s"] for r in rs], [r["r_n_over_r_p"] for r in rs],
                                  sigma=sigma if weighted else None, n_bootstrap=n_bootstrap, seed=seed)
        fits.append({"pair_id": pid, **ranking["free_fit"], "weighted_by_error_bars": weighted,
                     "mechanism": ranking["named"], "verdict": ranking["verdict"],
                     "mechanisms": ranking["mechanisms"]})
    return fits
