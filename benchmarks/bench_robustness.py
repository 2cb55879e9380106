"""Robustness of the default pipeline on random scenes nobody tuned it to.

Every scene is new (random seeds from ``--seed`` on), imaged by the digital twin as a
low-dose HAADF tilt series with drift and a tilt-axis offset, written as an MRC file, and
run through ``insitu4d run`` with its defaults only (``RunParameters()``: automatic method,
TV weight, tilt-axis direction). Scenes (:mod:`insitu4d.simulate.scenes`):

* ``pair``: a model-C sintering pair, larger radius 8–25 voxels, size ratio 1–1.5, neck
  0.2–0.95 of the smaller radius, pair axis uniform on the sphere, larger radius 25–75 nm;
* ``lone``: the same with a lone sphere of 6–10 voxels beside the pair;
* ``4d``: a pair whose neck grows through r_n/r_s = 0.3 … 0.95 to a full neck (1.0), then
  relaxes through spheroids to one sphere; run as a 4D experiment (tracking, seeded
  segmentation) with defaults;
* ``prior``: a pair whose neck grows through r_n/r_s = 0.3 … 0.8 in six time points, imaged
  once and run twice as a 4D experiment: with defaults (each time point reconstructed on its
  own) and with ``temporal_prior = true`` (the previous volume as a PICCS prior);
* ``errbars``: the same sintering sequence run with defaults and the twin's error bars
  (``[uncertainty]`` repeats = 3 at 3 time points, interpolated between): how often the
  truth lies within 1 and 2 error bars.

Per condition it prints the split rate (exactly the true number of particles, the pair
found), the neck error |r_n − true| (and that of the volume's own reading, ``r_n_volume_nm``,
beside the neck fitted to the tilt series) and the centre-distance errors (centroids against the
halves' centroids; inscribed-sphere centres against the sphere centres) in voxels, median
and 95th percentile, and the time per scene; for the lone scenes whether the small particle
is kept with its equal-volume radius within 1 voxel; for 4D whether identities survive to
r_n/r_s = 0.95 and whether the merge is one event within ±1 time point of the first
time point without a neck; for the prior comparison the share of time points whose pair is
found and the neck error of both runs. Rows go to a JSONL file as they finish.

Usage::

    python benchmarks/bench_robustness.py                 # all conditions, default counts
    python benchmarks/bench_robustness.py --only pair-40-250 --scenes 100
    python benchmarks/bench_robustness.py --list
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from insitu4d.measure import Measurements
from insitu4d.pipeline import RunParameters, read_experiment, run_experiment, run_tilt_series
from insitu4d.io import write_tilt_series
from insitu4d.measure import measure_particles
from insitu4d.measure.tracking import match_particles
from insitu4d.simulate import simulate_scene
from insitu4d.simulate.compare import score_pairs
from insitu4d.simulate.scenes import coalescence_sequence, random_pair_scene, write_scene_experiment

#: name -> (kind, half tilt range in degrees, dose e⁻/nm², default number of scenes)
CONDITIONS = {
    "pair-40-250": ("pair", 40, 250.0, 100),
    "pair-60-250": ("pair", 60, 250.0, 30),
    "pair-70-250": ("pair", 70, 250.0, 30),
    "pair-40-100": ("pair", 40, 100.0, 30),
    "pair-40-1000": ("pair", 40, 1000.0, 30),
    "lone-40-250": ("lone", 40, 250.0, 40),
    "4d-40-250": ("4d", 40, 250.0, 20),
    "prior-40-100": ("prior", 40, 100.0, 10),
    "prior-40-250": ("prior", 40, 250.0, 10),
    "errbars-40-250": ("errbars", 40, 250.0, 10),
}
NECK_RATIOS_4D = (0.3, 0.5, 0.65, 0.8, 0.9, 0.95, 1.0)
NECK_RATIOS_PRIOR = tuple(np.linspace(0.3, 0.8, 6))
DRIFT_PX, AXIS_OFFSET_PX = 3.0, 2.0


def tilts(half_range: float, step: float = 2.0) -> np.ndarray:
    return np.arange(-half_range, half_range + step / 2, step)


def _image(scene, half_range, dose, rng, path: Path):
    ts, truth, labels, _ = simulate_scene(scene.shape_px, scene.voxel_size_nm, tilts(half_range), dose,
                                          spheres=scene.spheres, pairs=scene.pairs, rng=rng,
                                          drift_max_px=DRIFT_PX, tilt_axis_offset_px=AXIS_OFFSET_PX)
    mrc, tlt = write_tilt_series(path, ts)
    return mrc, tlt, truth, labels


def run_scene(kind: str, half_range: float, dose: float, seed: int, workdir: Path) -> dict:
    """One pair or lone scene through ``run_tilt_series`` with defaults; its errors in voxels."""
    rng = np.random.default_rng([seed, 8191])
    scene = random_pair_scene(rng, lone_radius_vox=(6.0, 10.0) if kind == "lone" else None)
    h = scene.voxel_size_nm
    mrc, tlt, truth, labels = _image(scene, half_range, dose, rng, workdir / f"s{seed}.mrc")
    t0 = time.perf_counter()
    run = run_tilt_series(mrc, workdir / f"s{seed}", tilts=tlt, params=RunParameters(), figures=False)
    elapsed = time.perf_counter() - t0
    meas = Measurements.load(workdir / f"s{seed}" / "measurements.json")
    pair = scene.pairs[0]
    row = {"seed": seed, "kind": kind, "half_range_deg": half_range, "dose": dose, "voxel_nm": h,
           "radii_vox": [r / h for r in pair.radii_nm], "neck_ratio": pair.r_n_nm / min(pair.radii_nm),
           "axis_z": abs(pair.axis[0]), "n_true": len(scene.spheres) + 2, "n_particles": run.n_particles,
           "n_pairs": run.n_pairs, "method": run.reconstruction["method"],
           "tv_weight": run.reconstruction.get("tv_weight"), "noise": run.noise.relative,
           "flags": [f.code for f in run.quality_flags], "time_s": elapsed}
    sc = score_pairs(truth, labels, meas, h)[0]
    row["found"] = bool(sc["found"])
    if sc["found"]:
        m, t = sc["measured"], sc["true"]
        row.update(r_n_error_vox=(m["r_n_nm"] - t["r_n_nm"]) / h, d_error_vox=(m["d_nm"] - t["d_nm"]) / h,
                   d_centre_error_vox=(m["d_centre_nm"] - t["d_centre_nm"]) / h)
        measured = next(p for p in meas.pairs if set(p.labels) == set(sc["labels"]))
        fit = next(f for f in run.neck_fits if set(f["labels"]) == set(sc["labels"]))
        row.update(r_n_volume_error_vox=(measured.r_n_volume_nm - t["r_n_nm"]) / h, neck_fit_accepted=fit["accepted"],
                   neck_fit_residual_ratio=fit["residual_model"] / fit["residual_volume"],
                   neck_fit_evaluations=fit["evaluations"],
                   neck_fit_noise_ratio=fit["residual_model"] / fit["residual_noise"],
                   volume_noise_ratio=fit["residual_volume"] / fit["residual_noise"])
    if kind == "lone":  # the lone sphere is label 1 of the truth; matched as the tracker matches frames
        true_particles = measure_particles(labels, h)
        matched, _ = match_particles(true_particles, list(meas.particles), gate=1.0)
        lone = next(i for i, p in enumerate(true_particles) if p.label == 1)
        row["lone_radius_vox"] = scene.spheres[0].semi_axes_nm[0] / h
        row["lone_kept"] = lone in matched
        if lone in matched:
            row["lone_radius_error_vox"] = (meas.particles[matched[lone]].r_p_nm
                                            - true_particles[lone].r_p_nm) / h
    return row


def run_sequence(half_range: float, dose: float, seed: int, workdir: Path) -> dict:
    """A coalescence sequence through ``run_experiment`` with defaults: identities and the merge event."""
    rng = np.random.default_rng([seed, 131071])
    scenes, merge_index = coalescence_sequence(rng, NECK_RATIOS_4D)
    folder = workdir / f"q{seed}"
    toml, _ = write_scene_experiment(scenes, folder, tilts(half_range), dose, rng, drift_max_px=DRIFT_PX,
                                     tilt_axis_offset_px=AXIS_OFFSET_PX)
    t0 = time.perf_counter()
    summary = run_experiment(read_experiment(toml), folder / "out")
    elapsed = time.perf_counter() - t0
    with open(folder / "out" / "pairs_timeseries.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    n_pairs_before = int(np.sum(np.asarray(NECK_RATIOS_4D) < 1.0))
    ids = {}
    for r in rows:
        ids.setdefault(int(r["time_point"][1:]) - 1, set()).add(r["pair_id"])
    first_ids = ids.get(0, set())
    kept = bool(first_ids) and all(ids.get(i) == first_ids for i in range(n_pairs_before))
    merges = [e for e in summary["events"] if e["kind"] == "merge"]
    return {"seed": seed, "kind": "4d", "half_range_deg": half_range, "dose": dose,
            "identities_kept": kept, "n_merges": len(merges),
            "merge_index": [e["time_index"] for e in merges], "true_merge_index": merge_index,
            "merge_ok": len(merges) == 1 and abs(merges[0]["time_index"] - merge_index) <= 1,
            "pair_time_points": sorted(ids), "time_s": elapsed}


def _neck_errors(outdir: Path, truth: list[list[dict]], h: float) -> list[float | None]:
    """Per time point, the measured neck radius minus the true one in voxels (None: no pair found)."""
    with open(outdir / "pairs_timeseries.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    errors = []
    for i, true_rows in enumerate(truth):
        mine = [float(r["r_n_nm"]) for r in rows if int(r["time_point"][1:]) == i + 1]
        errors.append((mine[0] - true_rows[0]["r_n_nm"]) / h if len(mine) == 1 else None)
    return errors


def _sintering_experiment(half_range: float, dose: float, seed: int, folder: Path):
    """A pair whose neck grows through NECK_RATIOS_PRIOR, imaged into ``folder``: (experiment, truth, voxel nm)."""
    rng = np.random.default_rng([seed, 524287])
    scenes, _ = coalescence_sequence(rng, NECK_RATIOS_PRIOR, relax_aspect=())
    toml, truth = write_scene_experiment(scenes, folder, tilts(half_range), dose, rng, drift_max_px=DRIFT_PX,
                                         tilt_axis_offset_px=AXIS_OFFSET_PX)
    return read_experiment(toml), truth, scenes[0].voxel_size_nm


def run_prior_comparison(half_range: float, dose: float, seed: int, workdir: Path) -> dict:
    """One sintering sequence, run independently and with the temporal prior: neck errors per time point."""
    folder = workdir / f"p{seed}"
    experiment, truth, h = _sintering_experiment(half_range, dose, seed, folder)
    row = {"seed": seed, "kind": "prior", "half_range_deg": half_range, "dose": dose, "voxel_nm": h,
           "true_r_n_vox": [t[0]["r_n_nm"] / h for t in truth]}
    for mode, params in (("independent", experiment.params),
                         ("prior", dataclasses.replace(experiment.params, temporal_prior=True))):
        t0 = time.perf_counter()
        run_experiment(dataclasses.replace(experiment, params=params), folder / mode)
        row[f"{mode}_time_s"] = time.perf_counter() - t0
        row[f"{mode}_r_n_error_vox"] = _neck_errors(folder / mode, truth, h)
    return row


def run_error_bars(half_range: float, dose: float, seed: int, workdir: Path) -> dict:
    """One sintering sequence with the twin's error bars: |measured − true| / error bar per value."""
    folder = workdir / f"e{seed}"
    experiment, truth, _ = _sintering_experiment(half_range, dose, seed, folder)
    experiment = dataclasses.replace(experiment, uncertainty=dataclasses.replace(experiment.uncertainty, repeats=3))
    t0 = time.perf_counter()
    run_experiment(experiment, folder / "out")
    elapsed = time.perf_counter() - t0
    with open(folder / "out" / "pairs_timeseries.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    z = []
    for r in rows:
        true = truth[int(r["time_point"][1:]) - 1][0]
        for quantity, true_value in (("r_n", true["r_n_nm"]), ("d", true["d_com_nm"])):
            err = float(r[f"{quantity}_err_nm"])
            z.append({"quantity": quantity, "evaluated": r["err_evaluated"] == "True",
                      "z": abs(float(r[f"{quantity}_nm"]) - true_value) / err if err > 0 else float("inf")})
    with open(folder / "out" / "uncertainty.csv", newline="") as f:
        twin_rows = list(csv.DictReader(f))  # the twin's raw figures, to study other error-bar rules offline
    values = []
    for r in rows:
        true = truth[int(r["time_point"][1:]) - 1][0]
        values.append({"time_point": r["time_point"], "time_s": r["time_s"], "pair_id": r["pair_id"],
                       "r_n_true_nm": true["r_n_nm"], "d_true_nm": true["d_com_nm"],
                       **{k: r[k] for k in ("r_n_nm", "d_nm", "r_n_err_nm", "d_err_nm")}})
    return {"seed": seed, "kind": "errbars", "half_range_deg": half_range, "dose": dose, "z": z,
            "n_time_points_with_pair": len(rows), "time_s": elapsed, "twin_rows": twin_rows, "values": values}


def summarise(name: str, rows: list[dict]) -> str:
    kind = rows[0]["kind"]
    if kind == "errbars":
        parts = []
        for quantity in ("r_n", "d"):
            for label, keep in (("all", lambda e: True), ("evaluated", lambda e: e["evaluated"])):
                z = np.array([e["z"] for r in rows for e in r["z"] if e["quantity"] == quantity and keep(e)])
                parts.append(f"{quantity} {label} ({len(z)}): within 1 σ {100 * np.mean(z <= 1):.0f} %, "
                             f"2 σ {100 * np.mean(z <= 2):.0f} %")
        return f"{name:>14}: {len(rows)} sequences; " + "; ".join(parts)
    if kind == "prior":
        parts = []
        for mode in ("independent", "prior"):  # from the second time point, the first with a prior
            errors = [e for r in rows for e in r[f"{mode}_r_n_error_vox"][1:]]
            found = np.abs([e for e in errors if e is not None])
            parts.append(f"{mode}: pair found at {100 * len(found) / len(errors):.0f} % of time points, |r_n error| "
                         f"median / 95th pct {np.median(found):.2f} / {np.percentile(found, 95):.2f} voxels, "
                         f"{np.mean([r[f'{mode}_time_s'] for r in rows]):.0f} s per sequence")
        return f"{name:>14}: {len(rows)} sequences, time points 2–6; " + "; ".join(parts)
    if kind == "4d":
        kept = np.mean([r["identities_kept"] for r in rows])
        merged = np.mean([r["merge_ok"] for r in rows])
        return (f"{name:>14}: {len(rows)} sequences; identities kept to r_n/r_s = 0.95: {100 * kept:.0f} %; "
                f"one merge event within ±1 time point: {100 * merged:.0f} %; "
                f"{np.mean([r['time_s'] for r in rows]):.0f} s per sequence")
    split = np.mean([r["n_particles"] == r["n_true"] and r["found"] for r in rows])
    found = [r for r in rows if r["found"]]

    def stats(key):
        v = np.abs([r[key] for r in found])
        return f"{np.median(v):.2f} / {np.percentile(v, 95):.2f}" if len(v) else "n/a"

    text = (f"{name:>14}: {len(rows)} scenes; split into exactly the true particles {100 * split:.0f} %; "
            f"|error| median / 95th pct (voxels): r_n {stats('r_n_error_vox')} (the volume's reading "
            f"{stats('r_n_volume_error_vox')}; fitted to the tilt series in "
            f"{sum(r['neck_fit_accepted'] for r in found)} of {len(found)}), d (centroids) "
            f"{stats('d_error_vox')}, d (sphere centres) {stats('d_centre_error_vox')}; "
            f"{np.mean([r['time_s'] for r in rows]):.0f} s per scene")
    if kind == "pair" and found:  # the necks the missing wedge hides, as the run flags them
        facing = np.array(["neck_in_missing_wedge" in r["flags"] for r in found])
        error = np.abs([r["r_n_error_vox"] for r in found])
        text += (f"; neck_in_missing_wedge on {facing.sum()} of {len(found)} pairs and on {facing[error > 1.5].sum()} "
                 f"of the {(error > 1.5).sum()} necks off by > 1.5 voxels; |r_n error| of the others median / 95th pct "
                 + (f"{np.median(error[~facing]):.2f} / {np.percentile(error[~facing], 95):.2f}" if (~facing).any()
                    else "n/a"))
    if kind == "lone":
        kept = [r for r in rows if r.get("lone_kept")]
        within = np.mean([abs(r.get("lone_radius_error_vox", np.inf)) <= 1.0 for r in rows])
        text += f"; lone particle kept {100 * len(kept) / len(rows):.0f} %, radius within 1 voxel {100 * within:.0f} %"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", help="Condition(s) to run (default all).")
    parser.add_argument("--scenes", type=int, help="Scenes per condition (default: each condition's own).")
    parser.add_argument("--seed", type=int, default=1000, help="First seed.")
    parser.add_argument("--out", type=Path, default=Path("bench_robustness.jsonl"), help="Rows, one JSON per line.")
    parser.add_argument("--list", action="store_true", help="List the conditions.")
    args = parser.parse_args()
    if args.list:
        for name, (kind, rng_deg, dose, n) in CONDITIONS.items():
            print(f"{name}: {kind}, ±{rng_deg}°, {dose:g} e⁻/nm², {n} scenes")
        return
    names = args.only or list(CONDITIONS)
    summaries = []
    with tempfile.TemporaryDirectory() as tmp, open(args.out, "a") as out:
        for name in names:
            kind, half_range, dose, n = CONDITIONS[name]
            rows = []
            for k in range(args.scenes or n):
                seed = args.seed + k
                work = Path(tmp) / name
                work.mkdir(exist_ok=True)
                runner = {"4d": run_sequence, "prior": run_prior_comparison, "errbars": run_error_bars}.get(kind)
                row = runner(half_range, dose, seed, work) if runner else run_scene(kind, half_range, dose, seed, work)
                row["condition"] = name
                rows.append(row)
                out.write(json.dumps(row) + "\n")
                out.flush()
            summaries.append(summarise(name, rows))
            print(summaries[-1], flush=True)
    print("\n".join(summaries))


if __name__ == "__main__":
    main()
