"""The 4D pipeline: every time point of an experiment, then identities and pair time series.

``run_experiment`` (``insitu4d run EXPERIMENT.toml``): simulate the time points that the
twin makes (``twin/``), run :func:`~insitu4d.pipeline.run.run_tilt_series` on each time
point into ``T01/``, ``T02/`` …, track particles through time, and write
``pairs_timeseries.csv``, ``particles_timeseries.csv``, ``events.json``, the plots, a
neck-growth fit per pair with its time origin free, ``twin_accuracy.csv`` when the twin
made every time point, error bars from the twin (``uncertainty.csv`` and the ``*_err``
columns, :mod:`insitu4d.pipeline.uncertainty`), ``composition_timeseries.csv`` when time
points carry EDX series (each particle's line fractions with its track id),
``report.html``, and ``experiment.json`` (written last). A time point whose ``run.json``
records the same input checksum and parameters is not run again, so an interrupted run
resumes at the first unfinished time point; so are the twin's repeats.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from ..provenance import current_environment
from ..io.holder_log import isothermal_segments
from ..io.output_folder import output_folder
from ..io.writers import copy_file, sha256_file, write_csv, write_json
from ..measure.protocol import PROTOCOL_2D_COLUMNS
from ..measure.composition import COMPOSITION_COLUMNS
from ..measure import Measurements, Pair, Particle
from ..measure.tracking import track_particles
from ..simulate.compare import PAIR_QUANTITIES
from ..simulate import write_twin
from .experiment import Experiment, read_experiment
from .kinetics import arrhenius_pairs, assign_segments, excluded_points, fit_pairs
from .cluster import ClusterSettings, Runner, RunJob
from .result import TimePointResult
from .run import THINNING_SEED, RunParameters
from .uncertainty import UNCERTAINTY_COLUMNS, error_bars, error_column, twin_uncertainty

__all__ = ["run_experiment", "run_experiment_file", "resolve_automatic", "PAIR_TIMESERIES_COLUMNS"]

#: Columns of composition_timeseries.csv: the time point, then composition.csv's (insitu4d.measure.composition).
COMPOSITION_TIMESERIES_COLUMNS = ["time_point", "time_s", "temperature_C", "track_id", *COMPOSITION_COLUMNS]
#: Columns of pairs_timeseries.csv: time, hold and track ids, the pair's quantities with their error bars, then
#: any other quantity of :class:`~insitu4d.measure.records.Pair` the time series keep (``timeseries=True``).
_PAIR_TIMESERIES_FIXED = ["time_s", "temperature_C", "segment", "pair_id", "label_a", "label_b", "r_n_nm",
                          "r_n_err_nm", "d_nm", "d_err_nm", "d_centre_nm", "d_centre_err_nm", "r_p_nm", "r_p_err_nm",
                          "r_p_a_nm", "r_p_b_nm", "hw_a", "hw_a_err", "hw_b", "hw_b_err", "r_n_over_r_p",
                          "r_n_over_r_p_err", "d_over_2r_p", "d_over_2r_p_err", "r_n_inscribed_nm", "time_point",
                          "err_evaluated", *PROTOCOL_2D_COLUMNS]
PAIR_TIMESERIES_COLUMNS = _PAIR_TIMESERIES_FIXED + [c for c in Pair.columns(timeseries_only=True)
                                                    if c not in _PAIR_TIMESERIES_FIXED]
#: Resamples of the bootstrap intervals of the neck-growth and Arrhenius fits, and their seed.
N_BOOTSTRAP = 100
BOOTSTRAP_SEED = 0
TWIN_COLUMNS = ["time_s", "pair_id", "found", "r_n_true_nm", "r_n_nm", "r_n_error_vox", "d_com_true_nm", "d_nm",
                "d_error_vox", "d_true_nm", "d_centre_nm", "d_centre_error_vox"]
_PARTICLE_TIMESERIES_FIXED = ["time_s", "track_id", "label", "time_point", "volume_nm3", "r_p_nm", "aspect_ratio_hw",
                              "centroid_z_nm", "centroid_y_nm", "centroid_x_nm"]
PARTICLE_TIMESERIES_COLUMNS = _PARTICLE_TIMESERIES_FIXED + [c for c in Particle.columns(timeseries_only=True)
                                                            if c not in _PARTICLE_TIMESERIES_FIXED]


def run_experiment(experiment: Experiment, outdir, *, progress: Callable[[str, int, int], None] | None = None,
                   cluster: ClusterSettings | None = None) -> dict:
    """Run the 4D pipeline on every time point and follow the particles through time.

    Parameters
    ----------
    experiment : Experiment
        From :func:`insitu4d.pipeline.read_experiment`.
    outdir : str or Path
    progress : callable(stage, done, total), optional
        Stage names are the time points' (``T01`` …) plus ``track``.
    cluster : ClusterSettings, optional
        Where the time points and the twin's repeats run (:mod:`insitu4d.pipeline.cluster`);
        default: the experiment's ``[pipeline]`` table, else inline. The results are the same.

    Returns
    -------
    dict
        The content of ``experiment.json``.

    Raises
    ------
    UnwritableOutput, OutputInUse
        The output folder cannot be written, or another run holds it
        (:func:`insitu4d.io.output_folder.output_folder`).
    SchedulerUnreachable, WorkerEnvironmentMismatch, WorkerLost
        The cluster's scheduler does not answer, a worker of it lacks this insitu4d version, or a
        worker died on every try of a run (:class:`~insitu4d.pipeline.cluster.Runner`).
    Insitu4dError
        What a time point's :func:`~insitu4d.pipeline.run.run_tilt_series` raises.
    """
    with Runner(cluster or experiment.cluster, progress) as runner, \
            output_folder(outdir, "experiment.json") as folder:
        return _run_experiment(experiment, folder, progress, runner)


def run_experiment_file(path, outdir, *, progress: Callable[[str, int, int], None] | None = None,
                        cluster: ClusterSettings | None = None) -> dict:
    """The ``run EXPERIMENT.toml`` job: read the experiment file, then :func:`run_experiment`.

    Parameters
    ----------
    path : str or Path
        Experiment file (:func:`~insitu4d.pipeline.experiment.read_experiment`).
    outdir : str or Path
    progress : callable(stage, done, total), optional
    cluster : ClusterSettings, optional
        Overrides the file's ``[pipeline]`` table.

    Returns
    -------
    dict
        The content of ``experiment.json``.

    Raises
    ------
    UnreadableFile, InvalidParameter
        The experiment file cannot be read or holds a wrong setting (the message names it).
    UnwritableOutput, OutputInUse, SchedulerUnreachable, WorkerEnvironmentMismatch, WorkerLost, Insitu4dError
        As :func:`run_experiment`.
    """
    return run_experiment(read_experiment(path), outdir, progress=progress, cluster=cluster)


def _date_confirmed_merges(tracks: dict, segmentations: list[dict]) -> None:
    """Date each merge that the seeded segmentation confirmed at the time point that first read it.

    Two seeded particles are joined when two time points in a row read no neck between them
    (:func:`insitu4d.segment.split_particles`); the tracker sees the merge at the second.
    The coalescence happened by the first: such an event gets ``time_index`` t − 1 and
    ``confirmed_time_index`` t.

    Parameters
    ----------
    tracks : dict
        Of :func:`insitu4d.measure.track_particles`; its ``events`` are changed in place.
    segmentations : list of dict
        Per time point, the segmentation record of its ``run.json`` (``coalesced``: pairs of
        the previous time point's labels joined).
    """
    for event in tracks["events"]:
        t = event["time_index"]
        if event["kind"] != "merge" or t == 0:
            continue
        label_of = {track: label for label, track in tracks["track_of"][t - 1].items()}
        joined = {label for pair in segmentations[t].get("coalesced", []) for label in pair}
        if label_of.get(event["tracks"][0]) in joined:
            event["time_index"], event["confirmed_time_index"] = t - 1, t


def _run_time_points(experiment: Experiment, outdir: Path, stacks: dict,
                     runner: Runner) -> tuple[dict, RunParameters, dict | None]:
    """Run (or resume) every time point; return whether each was resumed, and the parameters with the
    automatic choices fixed, and those choices.

    The first time point runs alone: its automatic choices (:func:`resolve_automatic`) hold
    for the rest. Each later one is seeded by the previous one's labels (and, with the
    temporal prior, reconstructed from its volume), so they run in order; on a cluster their
    reconstructions, which need nothing of the previous time point unless the temporal prior
    is on, run first and at the same time (``until="reconstruct"``), and the ordered runs
    then reuse the volumes. Without seeds and prior, they all run at the same time.
    """
    params = experiment.params
    points = experiment.timepoints

    def job(tp, use, previous, until=None) -> RunJob:
        stack, tilts = stacks[tp.index]
        before = outdir / previous.name if previous is not None else None
        return RunJob(tp.name, Path(stack), outdir / tp.name, use, tilts=tilts,
                      previous_labels=before / "labels.h5" if before is not None and params.seed_from_previous
                      else None,
                      previous_volume=before / "volume.h5" if before is not None and params.temporal_prior else None,
                      edx=tp.edx, until=until)

    resumed = {points[0].name: runner.run([job(points[0], params, None)])[0]}
    first = TimePointResult.load(outdir / points[0].name / "run.json")
    use, choices = resolve_automatic(params, first, points[0].name)
    later = list(zip(points, points[1:]))
    if later and runner.parallel:
        if not (params.seed_from_previous or params.temporal_prior):
            resumed.update(zip([tp.name for _, tp in later], runner.run([job(tp, use, prev) for prev, tp in later])))
        elif not params.temporal_prior:
            runner.run([job(tp, use, prev, until="reconstruct") for prev, tp in later])
    for prev, tp in later:
        if tp.name not in resumed:
            resumed[tp.name] = runner.run([job(tp, use, prev)])[0]
    return resumed, use, choices


def _run_experiment(experiment: Experiment, outdir: Path, progress, runner: Runner) -> dict:
    """:func:`run_experiment` in a folder it holds."""
    report = progress or (lambda stage, done, total: None)
    environment = current_environment()
    copy_file(experiment.path, outdir / "experiment.toml")
    stacks = {tp.index: (tp.tiltseries, tp.tilts) for tp in experiment.timepoints}
    simulated = [tp for tp in experiment.timepoints if tp.tiltseries is None]
    twin_info = None
    if simulated:
        twin_dir = outdir / "twin"
        wanted = [twin_dir / f"{tp.name}.mrc" for tp in simulated]
        if not all(p.is_file() for p in wanted) or not (twin_dir / "truth.csv").is_file():
            report("simulate", 0, 1)
            write_twin(experiment.twin, twin_dir)
            report("simulate", 1, 1)
        twin_info = {"folder": "twin", "truth": "twin/truth.csv"}
        for tp in simulated:
            stacks[tp.index] = (twin_dir / f"{tp.name}.mrc", twin_dir / f"{tp.name}.rawtlt")
    frames, pair_frames, runs, segmentations = [], [], [], []
    with_edx: set[str] = set()
    params = experiment.params
    resumed, resolved, choices = _run_time_points(experiment, outdir, stacks, runner)
    for tp in experiment.timepoints:
        stack, _ = stacks[tp.index]
        tp_dir = outdir / tp.name
        measurements = Measurements.load(tp_dir / "measurements.json")
        run = TimePointResult.load(tp_dir / "run.json")
        if run.edx is not None:
            with_edx.add(tp.name)
        segmentations.append(run.segmentation)
        frames.append(list(measurements.particles))
        pair_frames.append(list(measurements.pairs))
        runs.append({"time_point": tp.name, "time_s": tp.time_s, "temperature_C": tp.temperature_C,
                     "tilt_series": str(stack), "resumed": resumed[tp.name],
                     "quality_flags": [f.to_dict() for f in run.quality_flags]})
    report("track", 0, 1)
    tracks = track_particles(frames)
    _date_confirmed_merges(tracks, segmentations)
    pair_rows, particle_rows = _timeseries(experiment, frames, pair_frames, tracks)
    uncertainty = _uncertainty(experiment, resolved, outdir, pair_frames, tracks, pair_rows, report, runner)
    kinetics = _kinetics(experiment, pair_rows)
    write_csv(outdir / "pairs_timeseries.csv", pair_rows, PAIR_TIMESERIES_COLUMNS)
    write_csv(outdir / "particles_timeseries.csv", particle_rows, PARTICLE_TIMESERIES_COLUMNS)
    composition_rows = composition_timeseries(experiment, outdir, tracks["track_of"], with_edx)
    if composition_rows:
        write_csv(outdir / "composition_timeseries.csv", composition_rows, COMPOSITION_TIMESERIES_COLUMNS)
    write_json(outdir / "events.json", {"events": tracks["events"], "frame_shifts_nm": tracks["shifts_nm"]})
    pair_fits = fit_pairs(pair_rows, n_bootstrap=N_BOOTSTRAP, seed=BOOTSTRAP_SEED)
    fits = [f.to_dict() for f in pair_fits]
    kinetics["excluded_points"] = excluded_points(pair_rows)
    if experiment.kinetics.time_exponent is not None:
        kinetics["arrhenius"] = [a.to_dict() for a in arrhenius_pairs(pair_rows, experiment.kinetics.time_exponent,
                                                                      n_bootstrap=N_BOOTSTRAP, seed=BOOTSTRAP_SEED)]
    report("track", 1, 1)
    accuracy, truth, extra = None, None, []
    if experiment.twin is not None and len(simulated) == len(experiment.timepoints):
        from ..simulate.compare import compare_with_truth

        result = compare_with_truth(experiment.twin, outdir, time_points=[tp.name for tp in experiment.timepoints])
        write_csv(outdir / "twin_accuracy.csv", result["rows"], TWIN_COLUMNS)
        accuracy = {k: v for k, v in result.items() if k != "rows"}
        truth = _truth_curves(result["rows"], pair_rows)
        extra.append("twin_accuracy.csv")
    from ..report.timeseries import save_pair_plots

    plots = save_pair_plots(outdir, pair_rows, fits=pair_fits, truth=truth,
                            temperatures=[(tp.time_s, tp.temperature_C) for tp in experiment.timepoints],
                            holds=kinetics.get("segments"))
    plots += [_particles_3d(experiment, outdir, tracks).name, *extra]
    if composition_rows:
        from ..report.timeseries import save_composition_plot

        plots.append(save_composition_plot(outdir / "composition_vs_time.png", composition_rows).name)
    if pair_rows:
        plots.append(_neck_slices(experiment, outdir, pair_rows, particle_rows, tracks).name)
    summary = {
        "software": {"name": "insitu4d", "version": __version__},
        "experiment": {"name": experiment.name, "file": str(experiment.path),
                       "sha256": sha256_file(experiment.path)},
        "acquisition": experiment.acquisition,
        "parameters": params.to_dict(),
        "automatic_choices": choices,
        "cluster": runner.describe(),
        "time_points": runs,
        "quality_flags": _flag_summary(runs),
        "twin": twin_info,
        "n_tracks": len({tid for ids in tracks["track_of"] for tid in ids.values()}),
        "n_pairs": len({r["pair_id"] for r in pair_rows}),
        "events": [dict(e, time_s=experiment.timepoints[e["time_index"]].time_s) for e in tracks["events"]],
        "neck_growth_fits": fits,
        "kinetics": kinetics,
        "uncertainty": uncertainty,
        "twin_accuracy": accuracy,
        "provenance": environment.finished(
            bootstrap_resamples=N_BOOTSTRAP, kinetics_bootstrap=BOOTSTRAP_SEED, noise_thinning=THINNING_SEED,
            **({"twin": experiment.twin.seed} if experiment.twin is not None else {}),
            **({"uncertainty": experiment.uncertainty.seed} if experiment.uncertainty.repeats else {})).to_dict(),
        "outputs": sorted(["experiment.toml", "pairs_timeseries.csv", "particles_timeseries.csv", "events.json",
                           "experiment.json",
                           *plots, *(["uncertainty.csv"] if uncertainty.get("file") else []),
                           *(["composition_timeseries.csv"] if composition_rows else [])]),
    }
    from ..report.html import write_report
    from ..io.nexus import export_nexus, nexus_available

    nexus = nexus_available()
    summary["outputs"] = sorted([*summary["outputs"], "report.html", *(["experiment.nxs"] if nexus else [])])
    write_report(outdir, summary, pair_rows)
    write_json(outdir / "experiment.json", summary)
    if nexus:  # NXem files of every time point and of the experiment, from the files just written
        report("nexus", 0, 1)
        export_nexus(outdir)
        report("nexus", 1, 1)
    return summary


def composition_timeseries(experiment: Experiment, outdir: Path, track_of, with_edx) -> list[dict]:
    """The rows of every time point's ``composition.csv`` with its time, temperature and the particles' track ids.

    Parameters
    ----------
    experiment : Experiment
    outdir : Path
    track_of : list of dict
        Per time point, label -> track id (:func:`insitu4d.measure.tracking.track_particles`).
    with_edx : collection of str
        The time points whose ``run.json`` of this run records an EDX stage: a
        ``composition.csv`` left in another time point's folder by an earlier run is stale.

    Returns
    -------
    list of dict
        Columns :data:`COMPOSITION_TIMESERIES_COLUMNS`; empty when no time point has EDX.
    """
    import csv

    rows = []
    for tp, ids in zip(experiment.timepoints, track_of):
        path = outdir / tp.name / "composition.csv"
        if tp.name not in with_edx or not path.is_file():
            continue
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                label = int(row["particle"])
                rows.append({"time_point": tp.name, "time_s": tp.time_s, "temperature_C": tp.temperature_C,
                             "track_id": ids.get(label), **row})
    return rows


def _truth_curves(accuracy_rows: list[dict], pair_rows: list[dict]) -> list[dict]:
    """The twin's true r_n and d of each found pair, under the measured pair's id (matched by its reading)."""
    measured = {(r["time_s"], round(float(r["r_n_nm"]), 6)): r["pair_id"] for r in pair_rows}
    out = []
    for row in accuracy_rows:
        pid = measured.get((row["time_s"], round(float(row["r_n_nm"]), 6))) if row["found"] else None
        if pid is not None:
            out.append({"time_s": row["time_s"], "pair_id": pid, "r_n_nm": row["r_n_true_nm"],
                        "d_nm": row["d_com_true_nm"]})
    return out


def _neck_slices(experiment: Experiment, outdir: Path, pair_rows: list[dict], particle_rows: list[dict],
                 tracks: dict) -> Path:
    """``neck_slices.png``: each pair's slice at the first, middle and last time point, the same plane throughout."""
    from ..io.writers import read_array
    from ..report.neck_slices import neck_view, save_neck_slices

    names = [tp.name for tp in experiment.timepoints]
    # a pair row names its particles by track id (label_a, label_b: see _timeseries)
    centroid = {(r["time_point"], r["track_id"]): [r[f"centroid_{a}_nm"] for a in "zyx"] for r in particle_rows}
    first_rows = {}
    for r in sorted(pair_rows, key=lambda r: names.index(r["time_point"])):
        first_rows.setdefault(r["pair_id"], r)
    voxel = None
    frames = []
    for index in dict.fromkeys((0, len(names) // 2, len(names) - 1)):
        tp = experiment.timepoints[index]
        volume, attrs = read_array(outdir / tp.name / "volume.h5")
        labels, _ = read_array(outdir / tp.name / "labels.h5")
        voxel = float(attrs["voxel_size_nm"])
        frames.append((f"{tp.name} (t = {tp.time_s:g} s)", volume, labels, tracks["track_of"][index]))
    views = [neck_view(pid, centroid[(r["time_point"], r["label_a"])], centroid[(r["time_point"], r["label_b"])],
                       r["r_p_nm"], voxel) for pid, r in sorted(first_rows.items(), key=lambda kv: str(kv[0]))]
    return save_neck_slices(outdir / "neck_slices.png", views, frames, voxel)


def _particles_3d(experiment: Experiment, outdir: Path, tracks: dict) -> Path:
    """``particles_3d.png``: the labels' isosurfaces at the first and last time point, coloured by track."""
    from ..io.writers import read_array
    from ..report.render3d import save_particles_3d

    ends = dict.fromkeys((0, len(experiment.timepoints) - 1))
    frames, voxel = [], 1.0
    for index in ends:
        tp = experiment.timepoints[index]
        labels, attrs = read_array(outdir / tp.name / "labels.h5")
        voxel = float(attrs.get("voxel_size_nm", voxel))
        frames.append((f"{tp.name}, t = {tp.time_s:g} s (numbers: track ids)", labels, tracks["track_of"][index]))
    return save_particles_3d(outdir / "particles_3d.png", frames, voxel)


def resolve_automatic(params: RunParameters, run: TimePointResult, name: str) -> tuple[RunParameters, dict | None]:
    """The parameters of an experiment with the automatic choices of its first time point fixed.

    The method, the TV weight, the iteration count and the tilt-axis direction that
    ``"auto"`` / None chose at the first time point (its ``run.json``) are used for every
    later time point and for the twin's repeats: one dose, one detector and one tilt scheme
    make one noise level, the holder does not turn the axis between time points, and the
    search is then paid once.

    Parameters
    ----------
    params : RunParameters
    run : TimePointResult
        The first time point's result (its ``run.json``).
    name : str
        Its name, for the record.

    Returns
    -------
    params : RunParameters
    choices : dict or None
        What was fixed and why (None when nothing was automatic).
    """
    recon = run.reconstruction
    changes = {}
    if params.method == "auto":
        changes["method"] = recon["method"]
    if params.tv_weight == "auto" and recon["method"] == "tv":
        changes["tv_weight"] = float(recon["tv_weight"])
    if params.iterations is None and "iterations" in recon:
        changes["iterations"] = int(recon["iterations"])
    if params.tilt_axis_deg == "auto":
        changes["tilt_axis_deg"] = run.tilt_axis_deg  # one direction for the whole series
    if not changes:
        return params, None
    record = {"from_time_point": name, **changes,
              "method_choice": recon.get("method_choice"), "tv_weight_choice": recon.get("tv_weight_choice")}
    return dataclasses.replace(params, **changes), record


def _flag_summary(runs: list[dict]) -> dict:
    """Quality flags of the time points: for each code, the time points that raised it."""
    summary: dict[str, list[str]] = {}
    for r in runs:
        for f in r["quality_flags"]:
            summary.setdefault(f["code"], [])
            if r["time_point"] not in summary[f["code"]]:
                summary[f["code"]].append(r["time_point"])
    return summary


def _uncertainty(experiment: Experiment, params: RunParameters, outdir: Path, pair_frames, tracks,
                 pair_rows: list[dict], report, runner: Runner) -> dict:
    """Error bars from the twin (:mod:`insitu4d.pipeline.uncertainty`) into ``pair_rows`` and ``uncertainty.csv``."""
    settings = experiment.uncertainty
    info = {"method": "twin of the measured state, re-imaged with new noise (insitu4d.pipeline.uncertainty); "
                      "error bar = RMS error over the repeats (bias and scatter), the bias carried to the true "
                      "state by the response of the measurement to the truth (for the neck: the secant to a probe "
                      "scene with every neck halved; uncertainty.csv: probe_true, probe_measured, response, "
                      "error_bar), interpolated in time between the evaluated time points (err_evaluated = False "
                      "in pairs_timeseries.csv)",
            **dataclasses.asdict(settings)}
    if settings.repeats == 0:
        return dict(info, skipped="[uncertainty] repeats = 0" if experiment.dose_e_per_nm2 else
                    "no [acquisition] dose_e_per_nm2 to image the twin at")
    pair_of = {(r["label_a"], r["label_b"]): r["pair_id"] for r in pair_rows}
    time_points = []
    for tp, pairs, ids in zip(experiment.timepoints, pair_frames, tracks["track_of"]):
        pair_ids = {}
        for pair in pairs:
            la, lb = pair.labels
            pair_ids[(la, lb)] = pair_of[tuple(sorted((ids[la], ids[lb])))]
        time_points.append({"name": tp.name, "time_s": tp.time_s, "pair_ids": pair_ids})
    rows = twin_uncertainty(outdir, time_points, params, experiment.dose_e_per_nm2, settings, progress=report,
                            runner=runner)
    write_csv(outdir / "uncertainty.csv", rows, UNCERTAINTY_COLUMNS)
    for pid in {r["pair_id"] for r in pair_rows}:
        mine = [r for r in pair_rows if r["pair_id"] == pid]
        for q in PAIR_QUANTITIES:
            for r, err in zip(mine, error_bars(rows, pid, q, [r["time_s"] for r in mine])):
                r[error_column(q)] = float(err)
    evaluated = sorted({r["time_point"] for r in rows})
    for r in pair_rows:  # the other time points' bars are interpolated in time, and marked so
        r["err_evaluated"] = r["time_point"] in evaluated
    means = {}
    for column in ("rms", "error_bar"):
        means[column] = {}
        for q in PAIR_QUANTITIES:
            values = [r[column] for r in rows if r["quantity"] == q and np.isfinite(r[column])]
            means[column][q] = float(np.mean(values)) if values else None
    return dict(info, file="uncertainty.csv", evaluated_time_points=evaluated, mean_rms=means["rms"],
                mean_error_bar=means["error_bar"])


def _kinetics(experiment: Experiment, pair_rows: list[dict]) -> dict:
    """Isothermal segments of the rows (holder log, else the time points' temperatures), set on the rows."""
    k = experiment.kinetics
    log = experiment.holder_log
    holds = isothermal_segments(log, tolerance_C=k.hold_tolerance_C, min_duration_s=k.min_hold_s) if log else None
    segments = assign_segments(pair_rows, holds, tolerance_C=k.hold_tolerance_C)
    return {"settings": dataclasses.asdict(k), "holder_log": log.source if log else None, "segments": segments,
            "arrhenius": None if k.time_exponent is not None else "no [kinetics] time_exponent"}


def _timeseries(experiment: Experiment, frames, pair_frames, tracks) -> tuple[list[dict], list[dict]]:
    pair_rows, particle_rows = [], []
    pair_ids: dict[tuple[int, int], int] = {}
    for tp, particles, pairs, ids in zip(experiment.timepoints, frames, pair_frames, tracks["track_of"]):
        by_label = {p.label: p for p in particles}
        for p in particles:
            particle_rows.append({**p.to_row(), "time_s": tp.time_s, "track_id": ids[p.label], "time_point": tp.name})
        for pair in pairs:
            la, lb = pair.labels
            ta, tb = sorted((ids[la], ids[lb]))
            if ids[la] != ta:
                la, lb = lb, la
            key = (ta, tb)
            pair_ids.setdefault(key, len(pair_ids) + 1)
            a, b = by_label[la], by_label[lb]
            pair_rows.append({**pair.to_row(), "time_s": tp.time_s, "temperature_C": tp.temperature_C,
                              "pair_id": pair_ids[key], "label_a": ta, "label_b": tb, "time_point": tp.name,
                              "r_p_a_nm": a.r_p_nm, "r_p_b_nm": b.r_p_nm, "hw_a": a.aspect_ratio_hw,
                              "hw_b": b.aspect_ratio_hw})
    return pair_rows, particle_rows
