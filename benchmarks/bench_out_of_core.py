"""Out-of-core reconstruction within a memory budget: peak memory and agreement with the in-memory volume.

Makes an aligned tilt series of a random sphere phantom (``--size``³ voxels, ``--tilts``
tilts over ±70°, Poisson noise), then runs, each in a fresh process:

1. ``insitu4d reconstruct … --max-memory-gb BUDGET`` (slabs along the tilt axis);
2. the same reconstruction in memory (``insitu4d reconstruct`` without a budget);

and prints each one's wall time and peak resident memory (the process's ru_maxrss), the
plan (slices per slab, slabs), and the largest difference between the two volumes relative
to the in-memory volume's maximum.

    python benchmarks/bench_out_of_core.py [--size 512] [--tilts 81] [--budget-gb 0.5] [--method sirt]
        [--iterations 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MAKE = r"""
import sys
import numpy as np, tifffile
from insitu4d.recon.backends import get_projector
n, n_tilts, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
c = (np.arange(n) - (n - 1) / 2).astype(np.float32)
volume = np.zeros((n, n, n), np.float32)
for _ in range(12):  # spheres, slab by slab along y to keep the grids small
    centre, radius = rng.uniform(-0.3, 0.3, 3) * n, rng.uniform(0.04, 0.12) * n
    for y0 in range(0, n, 64):
        z, y, x = np.meshgrid(c, c[y0:y0 + 64], c, indexing="ij")
        volume[:, y0:y0 + 64] += ((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2
                                  <= radius ** 2)
tilts = np.linspace(-70, 70, n_tilts)
data = get_projector(tilts, n, n, "cpu").forward(volume)
del volume
data = rng.poisson(np.maximum(data, 0) * 20.0).astype(np.float32) + 10.0  # counts over a vacuum level of 10
tifffile.imwrite(out, data)
open(out.replace(".tif", ".rawtlt"), "w").write("\n".join(f"{t:.6f}" for t in tilts))
"""


# the command line of insitu4d in a process that writes its own peak resident memory (KiB) to a file
WRAP = r"""
import json, resource, sys
from insitu4d.cli import main
out = sys.argv.pop(1)
try:
    main()
finally:
    open(out, "w").write(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
"""


def _run(args: list[str], tmp: Path) -> tuple[float, float]:
    """Run ``insitu4d ARGS`` in a fresh process; return its wall time (s) and its peak resident memory (GB)."""
    record = tmp / "peak.json"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", WRAP, str(record), *args], check=True)
    wall = time.perf_counter() - t0
    return wall, json.loads(record.read_text()) * 1024 / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--tilts", type=int, default=81)
    parser.add_argument("--budget-gb", type=float, default=0.5)
    parser.add_argument("--method", default="sirt", choices=["fbp", "sirt", "tv"])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--tv-weight", default="0.05")
    args = parser.parse_args()

    import h5py

    with tempfile.TemporaryDirectory(prefix="bench_ooc_") as tmp:
        stack = Path(tmp) / "tiltseries.tif"
        subprocess.run([sys.executable, "-c", MAKE, str(args.size), str(args.tilts), str(stack)], check=True)
        common = ["reconstruct", str(stack), "--tilts",
                  str(stack.with_suffix(".rawtlt")), "--pixel-size", "1", "--no-align", "--backend", "cpu",
                  "--method", args.method, "--iterations", str(args.iterations), "--region", "whole"]
        if args.method == "tv":
            common += ["--tv-weight", args.tv_weight]
        print(f"{args.size}³ from {args.tilts} tilts, {args.method.upper()}-{args.iterations}, budget "
              f"{args.budget_gb:g} GB")
        t_slab, peak_slab = _run([*common, "-o", str(Path(tmp) / "slabs.h5"), "--max-memory-gb",
                                  str(args.budget_gb)], Path(tmp))
        t_mem, peak_mem = _run([*common, "-o", str(Path(tmp) / "memory.h5")], Path(tmp))
        with h5py.File(Path(tmp) / "slabs.h5") as a, h5py.File(Path(tmp) / "memory.h5") as b:
            plan = json.loads(a["data"].attrs["provenance"])["slabs"]
            per_slice, peak_value = [], 0.0
            for y0 in range(0, args.size, 32):  # compared a few slices at a time
                sa, sb = a["data"][:, y0:y0 + 32], b["data"][:, y0:y0 + 32]
                per_slice.extend(np.max(np.abs(sa - sb), axis=(0, 2)).tolist())
                peak_value = max(peak_value, float(np.max(np.abs(sb))))
        per_slice = np.asarray(per_slice)
        diff = float(per_slice.max())
        # where the slabs meet (TV): the slices within 2 of a boundary against the rest
        seams = np.arange(1, plan["n_slabs"]) * plan["rows"]
        to_seam = np.min(np.abs(np.arange(args.size)[:, None] - seams[None, :]), axis=1) if len(seams) else \
            np.full(args.size, args.size)
        print(f"  slabs:     {t_slab:7.1f} s, peak memory {peak_slab:.3f} GB (budget {args.budget_gb:g}); "
              f"{plan['n_slabs']} slabs of {plan['rows']} slices; held before the slabs {plan['held_gb']:.3f} GB")
        print(f"  in memory: {t_mem:7.1f} s, peak memory {peak_mem:.3f} GB")
        print(f"  max |slabs − in memory| / max |in memory| = {diff / peak_value:.2e}; peak within budget: "
              f"{peak_slab <= args.budget_gb}")
        if len(seams):
            near, away = per_slice[to_seam <= 2], per_slice[to_seam > 2]
            print(f"  of which within 2 slices of a slab boundary {near.max() / peak_value:.2e}, elsewhere "
                  f"{(away.max() if away.size else 0.0) / peak_value:.2e}")


if __name__ == "__main__":
    main()
