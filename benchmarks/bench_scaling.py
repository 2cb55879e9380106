"""Scaling of the CPU reconstruction engine: time and peak memory vs volume size and tilts.

Each case runs in a fresh subprocess (so its peak resident memory is its own) on a random
tilt series: FBP, and SIRT with ``--iterations`` (memory does not grow with iterations;
time per iteration is printed so SIRT-100 can be read off).

    python benchmarks/bench_scaling.py [--iterations 5] [--sizes 128 256 512] [--tilts 41 81]
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
n, n_tilts, iterations = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
tilts = np.linspace(-80, 80, n_tilts)
ts = TiltSeries(np.random.default_rng(0).random((n_tilts, n, n), dtype=np.float32), tilts, 1.0)
t0 = time.perf_counter(); reconstruct(ts, method="fbp"); t_fbp = time.perf_counter() - t0
t0 = time.perf_counter(); reconstruct(ts, method="sirt", iterations=iterations); t_sirt = time.perf_counter() - t0
peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
print(json.dumps({"fbp_s": t_fbp, "sirt_s": t_sirt, "peak_gb": peak_gb}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--tilts", type=int, nargs="+", default=[41, 81])
    args = ap.parse_args()
    print(f"{'volume':>8}{'tilts':>7}{'FBP (s)':>10}{'SIRT s/iter':>13}{'SIRT-100 est. (s)':>19}{'peak RSS (GB)':>15}")
    for n in args.sizes:
        for n_tilts in args.tilts:
            res = subprocess.run([sys.executable, "-c", CASE, str(n), str(n_tilts), str(args.iterations)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            per_it = r["sirt_s"] / args.iterations
            print(f"{str(n) + '³':>8}{n_tilts:>7}{r['fbp_s']:>10.2f}{per_it:>13.3f}{100 * per_it:>19.0f}"
                  f"{r['peak_gb']:>15.2f}")


if __name__ == "__main__":
    main()
