"""Score a 4D run of the digital twin against its ground truth.

The twin's truth lives in the simulation frame; every reconstructed time point lives in
its own aligned frame. Per time point, the truth particles (measured on the twin's own
label volume with the same code) are matched to the measured ones with the tracker's
matcher (frame translation removed, Hungarian assignment), so each true pair finds its
measured pair, if it was found at all.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from ..measure import measure_particles
from ..measure.tracking import match_particles
from .twin import TwinSpec, simulate_time_point

__all__ = ["compare_with_truth"]


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def compare_with_truth(spec: TwinSpec, outdir, *, time_points: list[str] | None = None) -> dict:
    """Errors of the measured pairs of a finished 4D run against the twin's truth.

    Parameters
    ----------
    spec : TwinSpec
        The twin the run was made from.
    outdir : str or Path
        The run's output folder (``T01/measurements.json`` …).
    time_points : list of str, optional
        Folder names per time index; default ``T01``, ``T02`` ….

    Returns
    -------
    dict
        ``rows``: one per true pair and time point (truth, measured, errors; ``found``
        False when the pair was not measured); ``mae_r_n_vox``, ``mae_d_vox`` (measured
        centroid distance against the true centroid distance of the halves),
        ``mae_d_centre_vox`` (inscribed-sphere centres against the sphere centres),
        ``found_fraction``.
    """
    outdir = Path(outdir)
    h = spec.pixel_size_nm
    rows = []
    for i, t in enumerate(spec.times_s):
        name = time_points[i] if time_points else f"T{i + 1:02d}"
        meas = json.loads((outdir / name / "measurements.json").read_text())
        _, truth, labels, _ = simulate_time_point(spec, i)
        true_particles = measure_particles(labels, h)
        pairs, _ = match_particles(true_particles, meas["particles"], gate=1.0)
        to_measured = {true_particles[a]["label"]: meas["particles"][b]["label"] for a, b in pairs.items()}
        by_labels = {frozenset(p["labels"]): p for p in meas["pairs"]}
        for tr in truth:
            key = frozenset((to_measured.get(tr["label_a"]), to_measured.get(tr["label_b"])))
            m = by_labels.get(key)
            row = {"time_s": t, "pair_id": tr["pair_id"], "r_n_true_nm": tr["r_n_nm"], "d_com_true_nm": tr["d_com_nm"],
                   "d_true_nm": tr["d_nm"], "found": m is not None}
            if m is not None:
                row.update(r_n_nm=m["r_n_nm"], d_nm=m["d_nm"], d_centre_nm=m["d_centre_nm"],
                           r_n_error_vox=(m["r_n_nm"] - tr["r_n_nm"]) / h,
                           d_error_vox=(m["d_nm"] - tr["d_com_nm"]) / h,
                           d_centre_error_vox=(m["d_centre_nm"] - tr["d_nm"]) / h)
            rows.append(row)
    found = [r for r in rows if r["found"]]

    def mae(key):
        return float(np.mean([abs(r[key]) for r in found])) if found else float("nan")

    return {"rows": rows, "mae_r_n_vox": mae("r_n_error_vox"), "mae_d_vox": mae("d_error_vox"),
            "mae_d_centre_vox": mae("d_centre_error_vox"), "found_fraction": len(found) / max(len(rows), 1)}
