"""The compiled TV steps (:mod:`insitu4d.recon.tv_kernels`) against the same iteration written as
array expressions (the path of the GPU backend), an independent implementation of the same
arithmetic."""

import numpy as np
import pytest

from insitu4d.recon.algorithms import _tv_loop_arrays, _tv_loop_cpu, tv_iterations
from insitu4d.recon.projector import Projector


def _problem(seed: int):
    rng = np.random.default_rng(seed)
    nz, ny, nx = 18, 11, 22
    proj = Projector(np.arange(-60, 61, 8.0), nz, nx)
    truth = np.zeros((nz, ny, nx), np.float32)
    truth[4:13, 2:9, 5:17] = 1.0
    truth[rng.integers(0, nz, 30), rng.integers(0, ny, 30), rng.integers(0, nx, 30)] += 0.5
    b = proj.forward_block(proj.volume_to_backend(truth))
    b += rng.normal(0, 0.3, b.shape).astype(np.float32)
    prior = proj.volume_to_backend(0.8 * truth)
    return proj, b, prior


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("share,with_prior,nonnegative", [(0.0, False, True), (0.5, True, True), (0.0, True, True),
                                                          (0.3, True, False)])
def test_compiled_tv_iterations_equal_the_array_ones(seed, share, with_prior, nonnegative):
    # the same float32 operations in the same order: equal to rounding (measured: bit-identical)
    proj, b, prior = _problem(seed)
    prior = prior if with_prior else None
    start = tv_iterations(proj, b, 0.3, 5, prior=prior, prior_share=share, nonnegative=nonnegative)
    states = []
    for loop in (_tv_loop_cpu, _tv_loop_arrays):
        x, p, q = start.x.copy(), start.p.copy(), start.q.copy()
        lam = 0.3 * proj.n_tilts
        sigma = np.where(proj.row_sums() > 1e-6, 1 / np.maximum(proj.row_sums(), 1e-6), 0).astype(np.float32)
        tau = (1 / (proj.col_sums() + 6 * lam)).astype(np.float32)
        loop(proj, b, x, p, q, sigma, tau, lam, share if with_prior else 0.0, 25, nonnegative, prior, None)
        states.append((x, p, q))
    (x1, p1, q1), (x2, p2, q2) = states
    assert np.abs(x1 - x2).max() <= 1e-5 * np.abs(x2).max()
    assert np.abs(p1 - p2).max() <= 1e-5 * np.abs(p2).max()
    assert np.abs(q1 - q2).max() <= 1e-5
    assert np.abs(x2 - start.x).max() > 1e-3  # the iterations moved
