"""Compiled steps of the TV (Chambolle–Pock) iteration on the CPU (Numba).

:func:`insitu4d.recon.algorithms.tv_iterations` spends most of its time outside the
projector when it is written as array expressions: the gradient of the volume, the
projection of the dual variable onto the unit ball and the divergence each make several
temporary arrays three times the volume's size, and each pass over them is bound by
memory traffic. These kernels do the same arithmetic in one pass per step, in place,
over the pixel rows ``z`` in parallel, with no temporaries:

* :func:`dual_data_step`: ``p ← (p + σ (A x̄ − b)) / (1 + σ)``;
* :func:`dual_tv_step`: ``q ← Π(q + ½ ∇x̄)`` (Π projects each voxel's 3-vector onto the
  unit ball), and with a prior also ``q' ← Π(q' + ½ ∇(x̄ − x_prior))``;
* :func:`add_gradient_adjoint`: ``u ← u + w ∇ᵀq``, ``∇ᵀ`` the exact adjoint of the
  forward-difference gradient (minus the divergence);
* :func:`primal_step`: ``x' = max(x − τ u, 0)``, ``x̄ = 2 x' − x``, ``x = x'``.

The gradient is that of :func:`insitu4d.recon.algorithms._gradient`: forward differences
along the three axes of the ``(nz, nx, ny)`` volume, zero at the far edge. All arithmetic
is in float32, as the array version's; the tests compare the two.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["dual_data_step", "dual_tv_step", "add_gradient_adjoint", "primal_step"]

_HALF = np.float32(0.5)
_ONE = np.float32(1.0)


@njit(parallel=True, nogil=True, cache=True, boundscheck=False)
def dual_data_step(p, ax, b, sigma):  # pragma: no cover - compiled
    """``p ← (p + σ (ax − b)) / (1 + σ)`` in place; ``p, ax, b (n_rows, ny)``, ``sigma (n_rows,)``."""
    n, ny = p.shape
    for i in prange(n):
        s = sigma[i]
        d = _ONE + s
        for y in range(ny):
            p[i, y] = (p[i, y] + s * (ax[i, y] - b[i, y])) / d


@njit(nogil=True, inline="always")
def _project3(q, base, k, j, y, g0, g1, g2):
    """Add ½ g to the 3-vector q[base:base+3, k, j, y] and project it onto the unit ball."""
    a = q[base, k, j, y] + _HALF * g0
    b = q[base + 1, k, j, y] + _HALF * g1
    c = q[base + 2, k, j, y] + _HALF * g2
    norm = np.sqrt(a * a + b * b + c * c)
    if norm > _ONE:
        a /= norm
        b /= norm
        c /= norm
    q[base, k, j, y] = a
    q[base + 1, k, j, y] = b
    q[base + 2, k, j, y] = c


@njit(parallel=True, nogil=True, cache=True, boundscheck=False)
def dual_tv_step(xbar, q, prior):  # pragma: no cover - compiled
    """The dual step of the TV term(s) in place.

    ``xbar (nz, nx, ny)``; ``q (3, nz, nx, ny)``, or ``(6, nz, nx, ny)`` with a prior
    ``(nz, nx, ny)`` (its first 3 components for TV(x), the next 3 for TV(x − prior));
    ``prior`` is a ``(1, 1, 1)`` placeholder without one.
    """
    nz, nx, ny = xbar.shape
    with_prior = q.shape[0] == 6
    zero = np.float32(0.0)
    for k in prange(nz):
        for j in range(nx):
            for y in range(ny):
                v = xbar[k, j, y]
                g0 = xbar[k + 1, j, y] - v if k + 1 < nz else zero
                g1 = xbar[k, j + 1, y] - v if j + 1 < nx else zero
                g2 = xbar[k, j, y + 1] - v if y + 1 < ny else zero
                _project3(q, 0, k, j, y, g0, g1, g2)
                if with_prior:
                    w = prior[k, j, y]
                    h0 = g0 - (prior[k + 1, j, y] - w) if k + 1 < nz else zero
                    h1 = g1 - (prior[k, j + 1, y] - w) if j + 1 < nx else zero
                    h2 = g2 - (prior[k, j, y + 1] - w) if y + 1 < ny else zero
                    _project3(q, 3, k, j, y, h0, h1, h2)


@njit(parallel=True, nogil=True, cache=True, boundscheck=False)
def add_gradient_adjoint(q, base, weight, update):  # pragma: no cover - compiled
    """``update ← update + weight ∇ᵀ q[base:base+3]`` in place; ``update (nz, nx, ny)``."""
    _, nz, nx, ny = q.shape
    w = np.float32(weight)
    zero = np.float32(0.0)
    for k in prange(nz):
        for j in range(nx):
            for y in range(ny):
                s = zero
                if k + 1 < nz:
                    s -= q[base, k, j, y]
                if k > 0:
                    s += q[base, k - 1, j, y]
                if j + 1 < nx:
                    s -= q[base + 1, k, j, y]
                if j > 0:
                    s += q[base + 1, k, j - 1, y]
                if y + 1 < ny:
                    s -= q[base + 2, k, j, y]
                if y > 0:
                    s += q[base + 2, k, j, y - 1]
                update[k, j, y] += w * s


@njit(parallel=True, nogil=True, cache=True, boundscheck=False)
def primal_step(x, xbar, update, tau, nonnegative):  # pragma: no cover - compiled
    """``x' = x − τ u`` (clipped at 0 when ``nonnegative``), ``x̄ = 2 x' − x``, ``x = x'`` in place;
    ``x, xbar, update (n_rows, ny)``, ``tau (n_rows,)``."""
    n, ny = x.shape
    two = np.float32(2.0)
    zero = np.float32(0.0)
    for i in prange(n):
        t = tau[i]
        for y in range(ny):
            old = x[i, y]
            new = old - t * update[i, y]
            if nonnegative and new < zero:
                new = zero
            xbar[i, y] = two * new - old
            x[i, y] = new
