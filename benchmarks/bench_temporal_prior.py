"""The temporal prior on the demo's twin: does it buy dose?

The embedded example experiment (the twin of Ihara et al.'s 18 time points, ±40°, 8.32 nm
voxels) is imaged at a lower and at the demo's dose and run with the defaults, each time
point reconstructed on its own, and with ``temporal_prior = true`` (the previous time point's
volume as a PICCS prior, :mod:`insitu4d.recon.prior`). Error bars are off (they do not change
the measurements). Printed per run: the mean |error| of r_n and d against the twin's truth,
in voxels, the share of pairs found, and the time.

Usage::

    python benchmarks/bench_temporal_prior.py              # 100 and 250 e⁻/nm²
    python benchmarks/bench_temporal_prior.py --doses 60 100 250
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from importlib.resources import files

from insitu4d.pipeline import read_experiment, run_experiment

EXAMPLE = Path(str(files("insitu4d.examples") / "twin_ihara" / "experiment.toml"))


def run(dose: float, prior: bool, outdir: Path) -> dict:
    experiment = read_experiment(EXAMPLE)
    twin = dataclasses.replace(experiment.twin, dose_e_per_nm2=dose)
    experiment = dataclasses.replace(
        experiment, twin=twin, dose_e_per_nm2=dose,
        params=dataclasses.replace(experiment.params, temporal_prior=prior),
        uncertainty=dataclasses.replace(experiment.uncertainty, repeats=0))
    t0 = time.perf_counter()
    summary = run_experiment(experiment, outdir)
    return dict(summary["twin_accuracy"], time_s=time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--doses", type=float, nargs="+", default=[100.0, 250.0], help="Doses, e⁻/nm² per series.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for dose in args.doses:
            for prior in (False, True):
                name = f"{dose:g} e⁻/nm², {'temporal prior' if prior else 'independent'}"
                acc = run(dose, prior, Path(tmp) / f"{dose:g}_{prior}")
                print(f"{name:>36}: mean |error| r_n {acc['mae_r_n_vox']:.3f} voxel, d {acc['mae_d_vox']:.3f} voxel, "
                      f"pairs found {100 * acc['found_fraction']:.0f} %, {acc['time_s']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
