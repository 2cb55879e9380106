"""The Ihara twin at full resolution (1.04 nm pixels, 1024-pixel-class frames) against the 8× binned demo.

The embedded twin (``examples/twin_ihara``) is made at 8.32 nm pixels, 32 × 56 × 72 voxels.
This benchmark makes the same experiment at the microscope's 1.04 nm (256 × 448 × 576
voxels; drift and axis offset scaled with the pixel), runs the 4D pipeline on it (inline,
or ``--workers N``), and the binned twin on the same time points, and prints:

* per time point: wall time of each stage (``run.json`` → ``timings_s``) and in total;
* the whole run's wall time and the peak resident memory (this process and its children);
* the neck radius and centre-distance errors against the truth, in nm (``twin_accuracy.csv``),
  mean |error| and the largest, for both resolutions, and their ratio.

At full resolution the reconstruction's thickness along the beam is the twin's field, 256
voxels (266 nm: 1.8 times the largest particle's diameter), set in ``[reconstruct]
thickness_px`` as a user sets a tomogram's thickness (IMOD's ``THICKNESS``) from the
particles' size. Without it the field is as thick as the images are wide (576 voxels), and
the box found from the shadows (:mod:`insitu4d.recon.region`) cannot be thinner than the
visual hull, which at ±40° spans about 1.2 times the sample's width along z: 473 voxels on
this twin. ``--whole-thickness`` runs it that way. The binned twin is the demo as it is.

The error bars of the twin are off (``[uncertainty] repeats = 0``) unless ``--repeats``.

    python benchmarks/bench_full_resolution.py [--time-points 18] [--workers N] [--repeats 0]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import tempfile
import time
from pathlib import Path

from experiment_text import EXAMPLE, first_time_points, replace_exactly

from insitu4d.pipeline import read_experiment, run_experiment
from insitu4d.pipeline.cluster import ClusterSettings

#: How the binned twin becomes the full-resolution one (text of the embedded experiment file).
FULL_RESOLUTION = [("pixel_size_nm = 8.32", "pixel_size_nm = 1.04"),
                   ("shape_px = [32, 56, 72]", "shape_px = [256, 448, 576]"),
                   ("drift_max_px = 4.0", "drift_max_px = 32.0"),
                   ("tilt_axis_offset_px = 3.0", "tilt_axis_offset_px = 24.0")]
#: The reconstruction's thickness at full resolution: the twin's field (module notes).
FULL_THICKNESS = ('backend = "auto"', 'backend = "auto"\nthickness_px = 256')


def _experiment_text(full: bool, time_points: int, repeats: int, whole_thickness: bool = False) -> str:
    text = EXAMPLE.read_text()
    if full:
        for old, new in FULL_RESOLUTION + ([] if whole_thickness else [FULL_THICKNESS]):
            text = replace_exactly(text, old, new)
    if time_points:
        text = first_time_points(text, time_points)
    return text.replace("[[timepoints]]", f"[uncertainty]\nrepeats = {repeats}\n[[timepoints]]", 1)


def _errors_nm(out: Path) -> tuple[list[float], list[float]]:
    """|r_n| and |d| errors in nm of every found pair and time point."""
    rn, d = [], []
    with open(out / "twin_accuracy.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["found"] in ("True", "true", "1"):
                rn.append(abs(float(row["r_n_nm"]) - float(row["r_n_true_nm"])))
                d.append(abs(float(row["d_nm"]) - float(row["d_com_true_nm"])))
    return rn, d


def _peak_gb() -> float:
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(self_kib, children_kib) * 1024 / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-points", type=int, default=0, help="Only the first K time points (0: all 18).")
    parser.add_argument("--workers", type=int, help="Run on a local dask cluster of N processes.")
    parser.add_argument("--repeats", type=int, default=0, help="The twin's error-bar repeats ([uncertainty]).")
    parser.add_argument("--keep", type=Path, help="Keep the output folders here.")
    parser.add_argument("--whole-thickness", action="store_true",
                        help="Reconstruct the full-resolution field as thick as the images are wide (module notes).")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_full_"))
    root.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, full in (("binned", False), ("full", True)):
        toml = root / f"{name}.toml"
        toml.write_text(_experiment_text(full, args.time_points, args.repeats, args.whole_thickness))
        experiment = read_experiment(toml)
        cluster = ClusterSettings(workers=args.workers) if args.workers else None
        t0 = time.perf_counter()
        summary = run_experiment(experiment, root / name, cluster=cluster)
        wall = time.perf_counter() - t0
        rn, d = _errors_nm(root / name)
        results[name] = {"wall_s": wall, "rn": rn, "d": d}
        print(f"\n{name}: {experiment.twin.shape_px} voxels of {experiment.acquisition['pixel_size_nm']} nm, "
              f"{len(experiment.timepoints)} time points; method {summary['automatic_choices']}")
        print(f"{'time point':<11}" + "".join(f"{s:>12}" for s in ("read", "preprocess", "align", "reconstruct",
                                                                     "segment", "measure", "write", "total")))
        for tp in experiment.timepoints:
            timings = json.loads((root / name / tp.name / "run.json").read_text())["timings_s"]
            cells = [timings.get(s, 0.0) for s in ("read", "preprocess", "align", "reconstruct", "segment",
                                                    "measure", "write")]
            print(f"{tp.name:<11}" + "".join(f"{c:>11.1f}s" for c in [*cells, sum(timings.values())]))
        print(f"whole run {wall / 60:.1f} min; peak memory so far {_peak_gb():.2f} GB")
        if rn:
            print(f"errors against the truth: r_n mean {sum(rn) / len(rn):.2f} nm (max {max(rn):.2f}), "
                  f"d mean {sum(d) / len(d):.2f} nm (max {max(d):.2f}) over {len(rn)} pair readings")
    b, f = results["binned"], results["full"]
    if b["rn"] and f["rn"]:
        ratio_rn = (sum(b["rn"]) / len(b["rn"])) / max(sum(f["rn"]) / len(f["rn"]), 1e-9)
        ratio_d = (sum(b["d"]) / len(b["d"])) / max(sum(f["d"]) / len(f["d"]), 1e-9)
        print(f"\nmean neck error binned / full resolution: {ratio_rn:.1f}× (goal ≥ 4×); distance: {ratio_d:.1f}×")
    print(f"outputs in {root}")


if __name__ == "__main__":
    main()
