"""Our alignment of the NIST needle vs ETSpy's stored alignment, reconstructed the same way.

ETSpy 1.3.0 ships ``etspy/tests/test_data/HAADF_Aligned.hspy``: the same needle tilt series
aligned by ETSpy (its metadata: tilt-axis rotation −2.79°, x-shift 2.51 px). Both aligned
series get the same background removal and normalisation, are reconstructed with the same
SIRT (same projector, iterations, non-negativity), and the normalised reprojection residual
‖A x − b‖/‖b‖ of each volume against its own aligned series is printed, with the time.

Usage (etspy's wheel holds the file; ``pip download --no-deps etspy==1.3.0`` and unzip)::

    python benchmarks/compare_etspy_alignment.py PATH/TO/HAADF_Aligned.hspy [--iterations 100]
"""

from __future__ import annotations

import argparse
import time
from importlib.resources import files
from pathlib import Path

import numpy as np

from insitu4d.align import align_tilt_series, detect_tilt_axis_direction
from insitu4d.io import read_tilt_series
from insitu4d.preprocess import normalise, remove_background, rotate_to_vertical_axis
from insitu4d.recon import reconstruct, reprojection_residual


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("etspy_aligned", type=Path)
    ap.add_argument("--iterations", type=int, default=100)
    args = ap.parse_args()

    needle = Path(str(files("insitu4d.examples") / "needle" / "HAADF.mrc"))
    raw = normalise(remove_background(read_tilt_series(needle)))
    t0 = time.perf_counter()
    ours, info = align_tilt_series(raw)
    t_align = time.perf_counter() - t0

    theirs = read_tilt_series(args.etspy_aligned, tilts=raw.tilts_deg, pixel_size_nm=raw.pixel_size_nm)
    theirs = normalise(remove_background(theirs))
    axis = detect_tilt_axis_direction(theirs)
    theirs = rotate_to_vertical_axis(theirs.replace(tilt_axis_deg=axis))

    print(f"insitu4d alignment: {t_align:.1f} s; tilt-axis offset {info.tilt_axis_offset_px:+.2f} px, "
          f"rotation {info.tilt_axis_rotation_deg:+.2f}° (ETSpy's metadata: rotation −2.79°, x-shift 2.51 px)")
    rows = []
    for name, ts in (("insitu4d", ours), ("ETSpy HAADF_Aligned", theirs)):
        t0 = time.perf_counter()
        vol = reconstruct(ts, method="sirt", iterations=args.iterations)
        t = time.perf_counter() - t0
        fbp = reconstruct(ts, method="fbp")
        rows.append((name, reprojection_residual(vol, ts), reprojection_residual(fbp, ts), t))
    print(f"{'alignment':<22}{'SIRT-' + str(args.iterations) + ' residual':>22}{'FBP residual':>16}{'SIRT time':>12}")
    for name, r_sirt, r_fbp, t in rows:
        print(f"{name:<22}{r_sirt:>22.4f}{r_fbp:>16.4f}{t:>11.1f}s")
    print(f"ratio insitu4d / ETSpy (SIRT residual): {rows[0][1] / rows[1][1]:.3f}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
