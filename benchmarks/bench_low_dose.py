"""Denoise + align an Ihara-like low-dose tilt series (41 × N × N, ±40°/2°, 250 e⁻/nm², 1.04 nm pixels, 20 px drift).

Prints the wall time of each step and the alignment error against the twin's drift: the
RMS shift error along the axis and across it (less what a rigid translation of the object
explains), the tilt-axis position left in the aligned images (the constant of that fit),
and, on a second series rendered with the axis rotated by 1°, the rotation found.
Usage: python benchmarks/bench_low_dose.py [N [SEED]]   (N = 1024 is the paper's frame; default 512, seed 0)
"""

from __future__ import annotations

import sys
import time

import numpy as np

from insitu4d.align import align_tilt_series
from insitu4d.denoise import calibrate, denoise, psnr
from insitu4d.simulate.haadf import haadf_tilt_series
from insitu4d.simulate.phantom import SinteringPair, Sphere, voxelise


def main(n: int = 512, seed: int = 0) -> None:
    px, tilts = 1.04, np.arange(-40, 41, 2.0)
    scale = n / 192  # the test scene (tests/test_align_low_dose.py) spread over the larger field
    pair = SinteringPair((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 20.0 * scale, 12.0 * scale)
    spheres = [Sphere.round((0, -35 * scale, 30 * scale), 12.0 * scale),
               Sphere.round((5, 30 * scale, -35 * scale), 10.0 * scale)]
    t = time.perf_counter()
    fill, _, zmap = voxelise((int(64 * scale), n, n), px, pairs=[pair], spheres=spheres, supersample=1)
    rng = np.random.default_rng(seed)
    ts, expected, drift = haadf_tilt_series(fill, zmap, px, tilts, dose_e_per_nm2=250, rng=rng, drift_max_px=20,
                                            tilt_axis_offset_px=3.0)
    second = rng.poisson(expected).astype(np.float32)
    print(f"tilt series {ts.data.shape}, ≤ {expected.max():.2f} counts/pixel; simulated in "
          f"{time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    chosen = calibrate(ts.data, "tv", second_exposure=second)
    t_cal = time.perf_counter() - t
    t = time.perf_counter()
    den = denoise(ts.data, "tv", chosen["strength"])
    t_den = time.perf_counter() - t
    gain = psnr(den, expected) - psnr(ts.data, expected)
    print(f"calibrate (TV, two exposures, 3 frames): {t_cal:.1f} s; denoise 41 frames: {t_den:.1f} s; "
          f"strength {chosen['strength']:.3g}, PSNR gain {gain:.1f} dB (estimated {chosen['psnr_gain_db']:.1f})")
    t_rad = np.deg2rad(tilts)
    basis = np.stack([np.ones_like(t_rad), np.cos(t_rad), np.sin(t_rad)], axis=1)
    for method in ("xcorr", "com"):
        t = time.perf_counter()
        _, info = align_tilt_series(ts, tilt_axis_deg=0.0, method=method)
        t_al = time.perf_counter() - t
        err = info.shifts_px + drift
        coef, *_ = np.linalg.lstsq(basis, err[:, 1], rcond=None)
        across = np.sqrt(np.mean((err[:, 1] - basis @ coef) ** 2))
        print(f"align ({method}, σ = {info.sigma_px:.1f} px): {t_al:.1f} s; error along the axis "
              f"{err[:, 0].std():.2f} px RMS, across {across:.2f} px RMS, axis left at {coef[0]:+.2f} px; "
              f"rotation {info.tilt_axis_rotation_deg:.2f}° (truth 0, SE {info.tilt_axis_rotation_stderr_deg:.2f}°)")
    rotated, *_ = haadf_tilt_series(fill, zmap, px, tilts, dose_e_per_nm2=250, rng=rng, drift_max_px=20,
                                    tilt_axis_offset_px=3.0, tilt_axis_rotation_deg=1.0)
    t = time.perf_counter()
    _, info = align_tilt_series(rotated, tilt_axis_deg=0.0, method="xcorr")
    print(f"align (xcorr, axis rotated 1°): {time.perf_counter() - t:.1f} s; rotation "
          f"{info.tilt_axis_rotation_deg:.2f}° ± {info.tilt_axis_rotation_stderr_deg:.2f}°")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
