"""Score a 4D run of the digital twin against its ground truth.

The twin's truth lives in the simulation frame; every reconstructed time point lives in
its own aligned frame. Per time point, the truth particles (measured on the twin's own
label volume with the same code) are matched to the measured ones with the tracker's
matcher (frame translation removed, Hungarian assignment), so each true pair finds its
measured pair, if it was found at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..measure import measure_particles
from ..measure import Measurements
from ..measure.tracking import match_particles
from .twin import TwinSpec, simulate_time_point

__all__ = ["compare_with_truth", "score_pairs", "PAIR_QUANTITIES"]


#: Pair quantities scored against the truth: the measured key, and how its true value is made
#: from a truth row of :func:`insitu4d.simulate.simulate_scene` (hw_a/hw_b: measured on the
#: true labels with the same code, since a neck-joined half has no closed-form aspect ratio).
PAIR_QUANTITIES = ("r_n_nm", "d_nm", "d_centre_nm", "r_p_nm", "r_n_over_r_p", "d_over_2r_p", "hw_a", "hw_b")


def score_pairs(truth: list[dict], true_labels: np.ndarray, measurements: dict, voxel_size_nm: float) -> list[dict]:
    """Match the true pairs of one tilt series to the measured pairs and give every error.

    Parameters
    ----------
    truth : list of dict
        Truth rows (``pair_id``, ``label_a``, ``label_b``, ``r_n_nm``, ``d_nm``, ``d_com_nm``, ``r_p_nm``).
    true_labels : (nz, ny, nx) ndarray of int
        The ground-truth label volume the truth rows refer to.
    measurements : Measurements
        Of the reconstructed tilt series.
    voxel_size_nm : float

    Returns
    -------
    list of dict
        One per truth row: ``pair_id``, ``found``, ``measured`` and ``true`` (dicts over
        :data:`PAIR_QUANTITIES`; ``measured`` is empty when the pair was not found), and
        ``labels`` (the measured labels of halves a and b, or None).
    """
    true_particles = measure_particles(true_labels, voxel_size_nm)
    true_by_label = {p.label: p for p in true_particles}
    pairs, _ = match_particles(true_particles, list(measurements.particles), gate=1.0)
    to_measured = {true_particles[a].label: measurements.particles[b].label for a, b in pairs.items()}
    by_labels = {frozenset(p.labels): p for p in measurements.pairs}
    rows = []
    for tr in truth:
        la, lb = to_measured.get(tr["label_a"]), to_measured.get(tr["label_b"])
        true_hw = [true_by_label[tr[k]].aspect_ratio_hw if tr[k] in true_by_label else np.nan
                   for k in ("label_a", "label_b")]
        true = {"r_n_nm": tr["r_n_nm"], "d_nm": tr["d_com_nm"], "d_centre_nm": tr["d_nm"], "r_p_nm": tr["r_p_nm"],
                "r_n_over_r_p": tr["r_n_nm"] / tr["r_p_nm"], "d_over_2r_p": tr["d_com_nm"] / (2 * tr["r_p_nm"]),
                "hw_a": true_hw[0], "hw_b": true_hw[1]}
        m = by_labels.get(frozenset((la, lb)))
        measured = {}
        if m is not None:
            measured = {k: getattr(m, k) for k in ("r_n_nm", "d_nm", "d_centre_nm", "r_p_nm", "r_n_over_r_p",
                                                   "d_over_2r_p")}
            measured.update(hw_a=measurements.particle(la).aspect_ratio_hw,
                            hw_b=measurements.particle(lb).aspect_ratio_hw)
        rows.append({"pair_id": tr["pair_id"], "found": m is not None, "measured": measured, "true": true,
                     "labels": (la, lb) if m is not None else None})
    return rows


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
        meas = Measurements.load(outdir / name / "measurements.json")
        _, truth, labels, _ = simulate_time_point(spec, i)
        for sc in score_pairs(truth, labels, meas, h):
            tr, m = sc["true"], sc["measured"]
            row = {"time_s": t, "pair_id": sc["pair_id"], "r_n_true_nm": tr["r_n_nm"], "d_com_true_nm": tr["d_nm"],
                   "d_true_nm": tr["d_centre_nm"], "found": sc["found"]}
            if sc["found"]:
                row.update(r_n_nm=m["r_n_nm"], d_nm=m["d_nm"], d_centre_nm=m["d_centre_nm"],
                           r_n_error_vox=(m["r_n_nm"] - tr["r_n_nm"]) / h,
                           d_error_vox=(m["d_nm"] - tr["d_nm"]) / h,
                           d_centre_error_vox=(m["d_centre_nm"] - tr["d_centre_nm"]) / h)
            rows.append(row)
    found = [r for r in rows if r["found"]]

    def mae(key):
        return float(np.mean([abs(r[key]) for r in found])) if found else float("nan")

    return {"rows": rows, "mae_r_n_vox": mae("r_n_error_vox"), "mae_d_vox": mae("d_error_vox"),
            "mae_d_centre_vox": mae("d_centre_error_vox"), "found_fraction": len(found) / max(len(rows), 1)}
