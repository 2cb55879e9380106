"""Fused HAADF + EDX tomography against separate EDX reconstruction, on random core–shell twins.

Twins nobody tuned to (:func:`insitu4d.simulate.core_shell.core_shell_twin`): 1–3 core–shell
spheres (core radius 8–16 % of the box, shell 30–60 % of the core) in boxes of 32, 48 or 64
voxels, ±70° in 10° steps (15 tilts), X-ray maps with 1–5 mean counts at each element's
brightest pixel over 0.2 background counts, HAADF images with 2000 electrons at the
brightest pixel.

Reconstructions of the two element volumes, scored by the relative RMS error against the
truth (‖x − x_true‖ / ‖x_true‖ over both elements):

* fused: :func:`insitu4d.recon.fused.fused_reconstruction` with its defaults (TNV,
  λ = ``FUSED_WEIGHT``, z fitted from the data, μ from the HAADF noise);
* fused + structure: the same with the HAADF volume (TV, weight chosen by the discrepancy
  principle, from the HAADF series alone) as a fixed TNV channel (``structure``);
* separate EM: :func:`insitu4d.recon.poisson.mlem` per element, at the best of 3, 5, 10 and
  20 iterations for that twin (an oracle choice that favours it);
* separate TV: the same Poisson primal–dual solver without the HAADF term, per-element
  TV, at the best of λ = 0.05, 0.1, 0.2, 0.4, 0.8 for that twin (again an oracle choice).

Then the dose at which separate TV reaches the error of fused + structure: the X-ray counts are
multiplied by 2, 4, 8, 16 (fresh noise) until its best error is no larger.

Usage::

    python benchmarks/bench_fused_edx.py [--twins 12] [--seed 500]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from insitu4d.data import TiltSeries
from insitu4d.recon import reconstruct
from insitu4d.recon.backends import get_projector
from insitu4d.recon.fused import fused_reconstruction
from insitu4d.recon.poisson import mlem
from insitu4d.simulate.core_shell import core_shell_twin


def relative_error(volumes, truth) -> float:
    return float(np.sqrt(((volumes - truth) ** 2).sum() / (truth ** 2).sum()))


def separate_tv(projector, twin) -> float:
    return min(relative_error(fused_reconstruction(projector, twin.counts, twin.background, None, coupling="tv",
                                                   regularisation=lam).volumes, twin.volumes)
               for lam in (0.05, 0.1, 0.2, 0.4, 0.8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twins", type=int, default=12)
    parser.add_argument("--seed", type=int, default=500)
    args = parser.parse_args()
    ratios_em, ratios_tv, plain_tv, dose_factors = [], [], [], []
    print("twin  n  peak  particles  fused  fused+structure  sep_EM  sep_TV  (fused+s)/EM  (fused+s)/TV  "
          "dose×(sep TV = fused+s)  time_s")
    for k in range(args.twins):
        rng = np.random.default_rng(args.seed + k)
        n, peak, n_particles = int(rng.choice([32, 48, 64])), float(rng.uniform(1.0, 5.0)), int(rng.integers(1, 4))
        t0 = time.perf_counter()
        twin = core_shell_twin(rng, n_vox=n, peak_counts=peak, n_particles=n_particles)
        projector = get_projector(twin.tilts_deg, n, n)
        plain = relative_error(fused_reconstruction(projector, twin.counts, twin.background, twin.haadf,
                                                    haadf_noise_var=twin.haadf_noise_var).volumes, twin.volumes)
        structure = reconstruct(TiltSeries(data=twin.haadf, tilts_deg=twin.tilts_deg, pixel_size_nm=1.0),
                                method="tv", thickness_px=n, backend="cpu").data
        fused = relative_error(fused_reconstruction(projector, twin.counts, twin.background, twin.haadf,
                                                    haadf_noise_var=twin.haadf_noise_var,
                                                    structure=structure).volumes, twin.volumes)
        em = min(relative_error(np.stack([mlem(projector, twin.counts[e], twin.background[e], iterations=it)
                                          for e in range(2)]), twin.volumes) for it in (3, 5, 10, 20))
        tv = separate_tv(projector, twin)
        factor = None
        for f in (2, 4, 8, 16):
            brighter = core_shell_twin(np.random.default_rng(args.seed + 1000 + k), n_vox=n, peak_counts=peak * f,
                                       background_counts=0.2 * f, particles=twin.particles)
            if separate_tv(projector, brighter) <= fused:
                factor = f
                break
        ratios_em.append(fused / em)
        ratios_tv.append(fused / tv)
        plain_tv.append(plain / tv)
        dose_factors.append(factor if factor is not None else np.inf)
        print(f"{k:4d} {n:3d} {peak:5.2f} {n_particles:6d}     {plain:.3f}  {fused:.3f}           {em:.3f}   {tv:.3f}"
              f"   {fused / em:.2f}          {fused / tv:.2f}          {'>16' if factor is None else factor:>5}"
              f"     {time.perf_counter() - t0:.0f}", flush=True)
    for name, ratios in (("fused + structure / separate EM", ratios_em),
                         ("fused + structure / separate TV", ratios_tv), ("fused / separate TV", plain_tv)):
        r = np.asarray(ratios)
        print(f"{name}: median {np.median(r):.2f}, p90 {np.percentile(r, 90):.2f}, max {r.max():.2f}, "
              f"≤ 0.5 in {np.mean(r <= 0.5) * 100:.0f} %")
    d = np.asarray(dose_factors, float)
    print(f"dose factor at which separate TV reaches the fused + structure error: median {np.median(d):g}, "
          f"max {d.max():g} (inf: not within 16×)")


if __name__ == "__main__":
    main()
