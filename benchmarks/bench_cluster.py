"""Strong scaling of a 4D run over dask.distributed workers, and an estimate for large experiments.

Runs one experiment (default: the embedded Ihara twin, its first ``--time-points`` time
points) inline and on local clusters of each ``--workers`` count, each in a fresh output
folder with the twin's tilt series made once beforehand, and prints the wall time, the
speed-up over inline, and whether ``pairs_timeseries.csv`` is identical to inline.

From the inline run's own stage timings (``T*/run.json`` → ``timings_s``) it then measures
the per-task costs and estimates the wall time of ``--estimate-time-points`` time points on
``--estimate-nodes`` nodes (one worker per node, every node as fast as this machine):

    T ≈ c_first + ⌈(N − 1)/W⌉ · c_reconstruct + (N − 1) · c_ordered + ⌈R/W⌉ · c_repeat + c_rest

c_first the first time point (alone: it fixes the automatic choices); c_reconstruct a later
time point's read, preprocessing, alignment and reconstruction (all at once on the cluster);
c_ordered its read, preprocessing, alignment, segmentation, measurement and writing (in time
order: each is seeded by the one before); c_repeat one error-bar repeat of the twin (R of them,
all at once); c_rest the tracking, fits, figures and report, scaled by N.

    python benchmarks/bench_cluster.py [--time-points 6] [--workers 1 2] [--experiment FILE.toml]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

from experiment_text import EXAMPLE, first_time_points

from insitu4d.pipeline import read_experiment, run_experiment
from insitu4d.pipeline.cluster import ClusterSettings
from insitu4d.simulate import write_twin

BEFORE_RECONSTRUCTION = ("read", "preprocess", "align")


def _timings(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text())["timings_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", type=Path, default=EXAMPLE)
    parser.add_argument("--time-points", type=int, default=6, help="Use the first K time points (0: all).")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--estimate-time-points", type=int, default=100)
    parser.add_argument("--estimate-nodes", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="Keep the output folders here.")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_cluster_"))
    root.mkdir(parents=True, exist_ok=True)
    text = args.experiment.read_text()
    if args.time_points:
        text = first_time_points(text, args.time_points)
    toml = root / "experiment.toml"
    toml.write_text(text)
    experiment = read_experiment(toml)
    print(f"{experiment.name}: {len(experiment.timepoints)} time points, uncertainty repeats "
          f"{experiment.uncertainty.repeats} (+{experiment.uncertainty.probe_repeats} probe) at "
          f"{experiment.uncertainty.time_points} time points")
    if experiment.twin is not None:  # the twin's tilt series once, copied into every output folder
        write_twin(experiment.twin, root / "twin_cache")

    def run(name: str, cluster: ClusterSettings | None) -> tuple[float, Path]:
        out = root / name
        shutil.rmtree(out, ignore_errors=True)
        if experiment.twin is not None:
            shutil.copytree(root / "twin_cache", out / "twin")
        t0 = time.perf_counter()
        run_experiment(experiment, out, cluster=cluster)
        return time.perf_counter() - t0, out

    t_inline, inline = run("inline", None)
    reference = (inline / "pairs_timeseries.csv").read_bytes()
    print(f"{'mode':<12} {'wall s':>8} {'speed-up':>9}  identical pairs_timeseries.csv")
    print(f"{'inline':<12} {t_inline:8.1f} {1.0:9.2f}  -")
    for n in args.workers:
        t, out = run(f"workers{n}", ClusterSettings(workers=n))
        same = (out / "pairs_timeseries.csv").read_bytes() == reference
        print(f"{f'{n} worker(s)':<12} {t:8.1f} {t_inline / t:9.2f}  {same}")

    names = [tp.name for tp in experiment.timepoints]
    first = sum(_timings(inline / names[0]).values())
    later = [_timings(inline / n) for n in names[1:]]
    c_recon = sum(sum(t.get(s, 0.0) for s in (*BEFORE_RECONSTRUCTION, "reconstruct")) for t in later) / len(later)
    c_ordered = sum(sum(v for s, v in t.items() if s != "reconstruct") for t in later) / len(later)
    repeats = sorted((inline / "uncertainty").glob("*/run.json")) if (inline / "uncertainty").is_dir() else []
    c_repeat = (sum(sum(json.loads(p.read_text())["timings_s"].values()) for p in repeats) / len(repeats)
                if repeats else 0.0)
    runs = first + sum(sum(t.values()) for t in later) + c_repeat * len(repeats)
    c_rest = max(t_inline - runs, 0.0) / len(names)
    print(f"\nper-task costs (inline, s): first time point {first:.1f}; later ones: reconstruction part "
          f"{c_recon:.1f}, ordered part {c_ordered:.1f}; twin repeat {c_repeat:.1f} ({len(repeats)} repeats); "
          f"tracking/fits/report {c_rest:.2f} per time point")
    n_tp, nodes = args.estimate_time_points, args.estimate_nodes
    n_rep = len(repeats)  # the repeats do not grow with N ([uncertainty] time_points fixed)
    estimate = (first + math.ceil((n_tp - 1) / nodes) * c_recon + (n_tp - 1) * c_ordered
                + math.ceil(n_rep / nodes) * c_repeat + c_rest * n_tp)
    serial = first + (n_tp - 1) * (c_recon + c_ordered - sum(
        sum(t.get(s, 0.0) for s in BEFORE_RECONSTRUCTION) for t in later) / len(later)) + n_rep * c_repeat \
        + c_rest * n_tp
    print(f"estimate for {n_tp} time points: inline {serial / 60:.1f} min; on {nodes} nodes {estimate / 60:.1f} min "
          f"(the ordered segmentation and measurement, {(n_tp - 1) * c_ordered / 60:.1f} min, do not spread)")
    print(f"outputs in {root}")


if __name__ == "__main__":
    main()
