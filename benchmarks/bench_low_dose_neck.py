"""Neck radius on the low-dose twin: calibrated denoising + MI alignment + TV reconstruction, against no denoising.

The scene of tests/test_align_low_dose.py (a model-C pair, r_p = 20 nm, r_n = 12 nm, and two
free spheres; 1.04 nm pixels) as a ±40°/2° tilt series at 250 e⁻/nm² with 20 px drift and a
3 px axis offset. Each path: [TV denoising, strength calibrated on a second exposure] →
normalise → MI alignment → TV reconstruction → segmentation → measurement; the neck radius of
the pair is compared with the truth, at several TV weights of the reconstruction (TV_WEIGHTS:
without denoising the default weight segments nothing, so stronger ones are tried). The
noiseless projections through the same path give the floor of the chain itself.
Usage: python benchmarks/bench_low_dose_neck.py [SEEDS]   (default 3)
"""

from __future__ import annotations

import sys
import time

import numpy as np

from insitu4d.align import align_tilt_series
from insitu4d.data import TiltSeries
from insitu4d.denoise import calibrate, denoise
from insitu4d.measure import measure
from insitu4d.preprocess import normalise
from insitu4d.recon import reconstruct
from insitu4d.segment import segment
from insitu4d.simulate.haadf import haadf_tilt_series
from insitu4d.simulate.phantom import SinteringPair, Sphere, voxelise

PX_NM, R_N_NM, TILTS = 1.04, 12.0, np.arange(-40, 41, 2.0)
#: TV weights of the reconstruction on each path: the default (1) and, on the real paths, weaker
#: and stronger ones, so that each is also compared at its best weight in hindsight (without
#: denoising the default segments nothing at this dose)
TV_WEIGHTS = {"noiseless": (1.0,), "no denoising": (1.0, 3.0, 10.0, 30.0), "denoised": (0.3, 1.0, 3.0)}


def neck_radii_nm(ts: TiltSeries, tv_weights=(1.0,)) -> list[tuple[float, str]]:
    """r_n of the sintering pair (the pair with the largest particles) through align → TV → segment → measure,
    one per TV weight, and what the segmentation found (the truth: 4 particles, 1 touching pair)."""
    aligned, _ = align_tilt_series(normalise(ts), tilt_axis_deg=0.0, method="mi")
    out = []
    for weight in tv_weights:
        volume = reconstruct(aligned, method="tv", tv_weight=weight)
        labels, _ = segment(volume)
        found = measure(labels, volume.voxel_size_nm)
        pairs = found.pairs
        what = f"{len(found.particles)} particles, {len(pairs)} pairs"
        r_n = float(max(pairs, key=lambda p: p.r_p_nm).r_n_nm) if pairs else float("nan")
        out.append((r_n, what))
    return out


def main(seeds: int = 3) -> None:
    pair = SinteringPair((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 20.0, R_N_NM)
    spheres = [Sphere.round((0, -35, 30), 12.0), Sphere.round((5, 30, -35), 10.0)]
    fill, _, zmap = voxelise((64, 160, 192), PX_NM, pairs=[pair], spheres=spheres, supersample=2)
    rows = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        ts, expected, _ = haadf_tilt_series(fill, zmap, PX_NM, TILTS, dose_e_per_nm2=250, rng=rng,
                                            drift_max_px=20, tilt_axis_offset_px=3.0)
        t = time.perf_counter()
        chosen = calibrate(ts.data, "tv", second_exposure=rng.poisson(expected).astype(np.float32))
        denoised = ts.replace(data=denoise(ts.data, "tv", chosen["strength"]))
        t_den = time.perf_counter() - t
        row = {"seed": seed, "strength": chosen["strength"]}
        for name, series in (("noiseless", ts.replace(data=expected)), ("no denoising", ts), ("denoised", denoised)):
            t, weights = time.perf_counter(), TV_WEIGHTS[name]
            for weight, (r_n, what) in zip(weights, neck_radii_nm(series, weights)):
                key = name if len(weights) == 1 else f"{name}, TV weight {weight:g}"
                row[key] = r_n
                print(f"seed {seed}, {key}: r_n = {r_n:.2f} nm (truth {R_N_NM}; {what})", flush=True)
            print(f"seed {seed}, {name}: {time.perf_counter() - t + (t_den if name == 'denoised' else 0):.0f} s",
                  flush=True)
        rows.append(row)
    for name in rows[0]:
        if name in ("seed", "strength"):
            continue
        err = np.array([r[name] - R_N_NM for r in rows])
        ok = np.isfinite(err)
        summary = (f"mean |error| {np.mean(np.abs(err[ok])):.2f} nm, RMS {np.sqrt(np.mean(err[ok] ** 2)):.2f} nm"
                   if ok.any() else "no pair found")
        print(f"{name:>30}: r_n error {np.array2string(err, precision=2)} nm; {summary} "
              f"({ok.sum()} of {len(err)} seeds measured)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
