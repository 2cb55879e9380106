"""Scaling of the reconstruction engine: time and peak memory vs volume size and tilts.

Each case runs in a fresh subprocess (so its peak resident memory is its own) on a random
tilt series: FBP, and SIRT with ``--iterations`` (memory does not grow with iterations;
time per iteration is printed so SIRT-100 can be read off). The kernels are compiled on a
small series first, so compilation is not timed. With ``--backend gpu`` the peak column
is the GPU memory CuPy's pool holds at the end (it keeps freed blocks, so ≈ the peak).

    python benchmarks/bench_scaling.py [--iterations 5] [--sizes 128 256 512] [--tilts 41 81] [--backend cpu]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CASE = r"""
import json, resource, sys, time
import numpy as np
from insitu4d.data import TiltSeries
from insitu4d.recon import reconstruct
n, n_tilts, iterations, backend = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(0)
small = TiltSeries(rng.random((5, 4, 16), dtype=np.float32), np.linspace(-60, 60, 5), 1.0)
for method in ("fbp", "sirt"):  # compile the kernels (CPU) / initialise CUDA (GPU) outside the timing
    reconstruct(small, method=method, iterations=2, backend=backend)
tilts = np.linspace(-80, 80, n_tilts)
ts = TiltSeries(rng.random((n_tilts, n, n), dtype=np.float32), tilts, 1.0)
t0 = time.perf_counter()
reconstruct(ts, method="fbp", backend=backend, region="whole")
t_fbp = time.perf_counter() - t0
t0 = time.perf_counter(); reconstruct(ts, method="sirt", iterations=iterations, backend=backend, region="whole")
t_sirt = time.perf_counter() - t0
if backend == "gpu":
    import cupy
    peak_gb = cupy.get_default_memory_pool().total_bytes() / 1024**3
else:
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
print(json.dumps({"fbp_s": t_fbp, "sirt_s": t_sirt, "peak_gb": peak_gb}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--tilts", type=int, nargs="+", default=[41, 81])
    ap.add_argument("--backend", default="cpu", choices=["cpu", "gpu", "astra"])
    args = ap.parse_args()
    peak = "peak GPU pool (GB)" if args.backend == "gpu" else "peak RSS (GB)"
    print(f"backend {args.backend}")
    print(f"{'volume':>8}{'tilts':>7}{'FBP (s)':>10}{'SIRT s/iter':>13}{'SIRT-100 est. (s)':>19}{peak:>20}")
    for n in args.sizes:
        for n_tilts in args.tilts:
            res = subprocess.run([sys.executable, "-c", CASE, str(n), str(n_tilts), str(args.iterations), args.backend],
                                 capture_output=True, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            per_it = r["sirt_s"] / args.iterations
            print(f"{str(n) + '³':>8}{n_tilts:>7}{r['fbp_s']:>10.2f}{per_it:>13.3f}{100 * per_it:>19.0f}"
                  f"{r['peak_gb']:>20.2f}")


if __name__ == "__main__":
    main()
