"""Reconstruction settings chosen from the data: the method, and the weight of TV.

**Method.** Compressed sensing (TV) is needed when the data leave much unknown: a missing
wedge wider than 50° (tilts within ±65°), fewer than 60 tilts, or noise above 10 % of the
signal's norm (:mod:`insitu4d.noise`). A wide, dense, clean series is reconstructed by
SIRT, which adds no prior. On this project's random two-particle scenes
(``benchmarks/bench_robustness.py``) TV split the pairs and measured their necks where
SIRT fragmented the particles at ±40°; the NIST needle (±76°, 77 tilts, 4 % noise) is
reconstructed by SIRT.

**TV weight: the discrepancy principle** (Morozov, Soviet Math. Dokl. 7, 414 (1966); for
Poisson data Bertero, Boccacci, Talenti, Zanella & Zanni, Inverse Problems 26, 105004
(2010), doi:10.1088/0266-5611/26/10/105004). A reconstruction should leave unexplained
about as much as the noise: ‖A x_λ − b‖² = E‖n‖². The residual grows with the weight λ, so
the weight where it meets the noise is found on a descending grid of weights, each solve
continuing from the last (warm start), by interpolating log λ between the two grid points
that bracket the noise level. Each grid weight is solved until its residual settles: it
moves by less than :data:`SETTLE_SHARE` of itself over each of two runs of :data:`SETTLE_CHUNK`
iterations in a row (primal-dual iterates oscillate: one small move may be a turning point),
at most :data:`SETTLE_MAX_FACTOR` times the least count. A fixed count read the weight of a
residual not yet reached. On the full-resolution twin (1.04 nm voxels, particles 144 voxels
across, noise 52 % of the data's norm) the first grid weight, 30, left 0.587 after 100
iterations from zero and 0.518 after 400, below the noise; the fixed count chose 6.6, whose
volume the segmentation cut into 120 objects where the twin has 5 particles, and a weight of
13 or 20 leaves the 5. The principle is known to over-smooth: the residual of TV
carries its loss of contrast as well as the noise. On 48 random two-particle scenes at ±40°
and 250 e⁻/nm² (``benchmarks/bench_robustness.py``, seeds 100–123 and 200–223, not the demo),
with a fixed 100 + 50 iterations per grid weight, 0.5 of that search's weight left noise that
split particles (2 of 24 scenes) and 1.0 widened the shallow necks (summed |r_n error| 21
voxels against 18 at 0.7), so 0.7 of it was used. The settled search reads weights 1.54×
larger (median of 12 fresh scenes, seeds 3000–3011; 10–90 % range 1.05–2.43×), so the same
weights are :data:`DISCREPANCY_FACTOR` = 0.45 (0.7 / 1.54) of the settled discrepancy weight:
the demo's weight is 0.480 against 0.485 before. The curve, the iterations, the noise level
and both weights are recorded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InvalidParameter
from ..noise import NoiseLevel
from .algorithms import density_scale, tv_iterations
from .projector import Projector

__all__ = ["MethodChoice", "WeightChoice", "choose_method", "discrepancy_tv_weight", "DISCREPANCY_FACTOR",
           "WEIGHT_GRID", "SETTLE_CHUNK", "SETTLE_SHARE", "SETTLE_MAX_FACTOR"]

#: Fraction of the (settled) discrepancy weight used (module notes).
DISCREPANCY_FACTOR = 0.45
#: Weights tried, from the smoothest down; the chosen weight is clipped to their range.
WEIGHT_GRID = (30.0, 10.0, 3.0, 1.0, 0.3, 0.1)
#: Iterations between two readings of the residual while a grid weight's solve settles (module notes).
SETTLE_CHUNK = 25
#: A grid weight's solve has settled when its relative residual moved by less than this share of itself over
#: each of the last two :data:`SETTLE_CHUNK` iterations (it falls, and rises as TV takes back contrast).
SETTLE_SHARE = 1e-3
#: A grid weight is solved for at most this many times its minimum iterations.
SETTLE_MAX_FACTOR = 4
#: Below this half-range of the tilts (degrees) the missing wedge calls for TV.
WIDE_TILT_RANGE_DEG = 65.0
#: Fewer tilts than this call for TV.
DENSE_TILTS = 60
#: Relative noise (√E‖n‖² / ‖b‖) above which TV is used.
NOISY = 0.10


@dataclass(frozen=True)
class MethodChoice:
    """The reconstruction method chosen by :func:`choose_method` and why."""

    method: str
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class WeightChoice:
    """The TV weight chosen by :func:`discrepancy_tv_weight`.

    Attributes
    ----------
    tv_weight : float
        The weight used: ``factor`` × ``discrepancy_weight``, clipped to the grid's range.
    discrepancy_weight : float
        The weight whose relative residual ‖A x − b‖ / ‖b‖ equals the noise's; the grid's
        end when that weight lies beyond it (``rule`` then says so: at full resolution the
        largest grid weight, 30, already leaves less than the noise).
    factor : float
    noise_relative : float
        √E‖n‖² / ‖b‖.
    noise_strategy : str
        How the noise was estimated (:mod:`insitu4d.noise`).
    curve : tuple of (float, float)
        (weight, relative residual) of every grid point solved.
    iterations : tuple of int
        TV iterations spent at each grid point, until its residual settled (module notes).
    rule : str
    """

    tv_weight: float
    discrepancy_weight: float
    factor: float
    noise_relative: float
    noise_strategy: str
    curve: tuple
    iterations: tuple
    rule: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["curve"] = [list(c) for c in self.curve]
        return d


def choose_method(tilts_deg, noise: NoiseLevel) -> MethodChoice:
    """The reconstruction method for this tilt range, number of tilts and noise (module notes).

    Parameters
    ----------
    tilts_deg : (n_tilts,) array_like of float, degrees
    noise : NoiseLevel

    Returns
    -------
    MethodChoice
    """
    tilts = np.asarray(tilts_deg, float)
    half_range = float(min(abs(tilts.min()), abs(tilts.max())))
    reasons = []
    if half_range < WIDE_TILT_RANGE_DEG:
        reasons.append(f"a missing wedge of {180 - 2 * half_range:.0f}° or more (tilts within ±{half_range:.0f}°)")
    if len(tilts) < DENSE_TILTS:
        reasons.append(f"{len(tilts)} tilts (< {DENSE_TILTS})")
    if noise.relative > NOISY:
        reasons.append(f"noise {100 * noise.relative:.0f} % of the signal (> {100 * NOISY:.0f} %)")
    if reasons:
        return MethodChoice("tv", "compressed sensing (TV) for " + "; ".join(reasons))
    return MethodChoice("sirt", f"SIRT: {len(tilts)} tilts over ±{half_range:.0f}° with noise "
                                f"{100 * noise.relative:.0f} % of the signal need no prior")


def discrepancy_tv_weight(projector: Projector, sino_block, noise: NoiseLevel, *, factor: float = DISCREPANCY_FACTOR,
                          grid=WEIGHT_GRID, first_iterations: int = 100, iterations: int = 50,
                          nonnegative: bool = True, scale: float | None = None,
                          unseen_sq: float = 0.0) -> WeightChoice:
    """Choose the TV weight by the discrepancy principle (module notes).

    Parameters
    ----------
    projector : Projector
    sino_block : (n_tilts * n_det, ny) array of float32
        The data in the projector's block order.
    noise : NoiseLevel
        Of the same data (``sum_sq`` in its units squared).
    factor : float
        Fraction of the discrepancy weight used.
    grid : sequence of float
        Weights, decreasing.
    first_iterations, iterations : int
        The least TV iterations at the first grid weight, and at each next one (warm
        started). Each continues by :data:`SETTLE_CHUNK` iterations until its residual
        settles, up to :data:`SETTLE_MAX_FACTOR` times these (module notes).
    nonnegative : bool
    scale : float, optional
        The density scale the data are divided by (default: these data's,
        :func:`~insitu4d.recon.algorithms.density_scale`).
    unseen_sq : float
        Squared norm of data the projector does not see (the rows outside a region of
        interest, :mod:`insitu4d.recon.region`), in the data's units squared: the model is
        zero there, so it adds to the residual and to the data's norm alike, and the
        residual is that of the whole field.

    Returns
    -------
    WeightChoice

    Raises
    ------
    InvalidParameter
        A grid that does not decrease, or a factor that is not > 0.
    """
    grid = [float(g) for g in grid]
    if len(grid) < 2 or any(b >= a for a, b in zip(grid, grid[1:])) or grid[-1] <= 0:
        raise InvalidParameter(f"the weight grid must decrease through positive values; got {grid}.")
    if not factor > 0:
        raise InvalidParameter(f"factor must be > 0; got {factor}.")
    xp = projector.xp
    b = xp.asarray(sino_block, dtype=np.float32)
    scale = density_scale(projector, b) if scale is None else float(scale)
    bs = b / scale
    unseen = float(unseen_sq) / scale ** 2
    norm = float(np.sqrt(float(xp.linalg.norm(bs)) ** 2 + unseen))
    target = noise.relative

    def relative_residual(x) -> float:
        return float(np.sqrt(float(xp.linalg.norm(projector.forward_block(x) - bs)) ** 2 + unseen)) / norm

    state, curve, spent = None, [], []
    for k, weight in enumerate(grid):
        least = first_iterations if k == 0 else iterations
        state = tv_iterations(projector, bs, weight, least, state=state, nonnegative=nonnegative)
        residual, done, still = relative_residual(state.x), least, 0
        # until the residual is the weight's, not the start's; primal-dual iterates oscillate, so the residual
        # rises as well as falls, and one small move may be a turning point: two in a row
        while still < 2 and done + SETTLE_CHUNK <= SETTLE_MAX_FACTOR * least:
            state = tv_iterations(projector, bs, weight, SETTLE_CHUNK, state=state, nonnegative=nonnegative)
            previous, residual, done = residual, relative_residual(state.x), done + SETTLE_CHUNK
            still = still + 1 if abs(previous - residual) < SETTLE_SHARE * residual else 0
        curve.append((weight, residual))
        spent.append(done)
        if residual <= target:
            break
    weights = np.log([c[0] for c in curve])
    residuals = np.array([c[1] for c in curve])
    rule = f"discrepancy principle: {factor:g} × the weight whose residual equals the noise"
    if residuals[0] <= target:  # even the smoothest weight explains the data to the noise
        log_w = weights[0]
        rule += (f"; the grid's largest weight, {grid[0]:g}, already leaves no more than the noise, so that weight "
                 f"is {grid[0]:g} or more and {grid[0]:g} is taken for it")
    elif residuals[-1] > target:  # the noise is below what the model can fit (model error): least smoothing
        log_w = weights[-1]
        rule += (f"; the grid's smallest weight, {grid[-1]:g}, still leaves more than the noise (a model error or "
                 f"the noise underestimated), so {grid[-1]:g} is taken for it")
    else:
        r0, r1, w0, w1 = residuals[-2], residuals[-1], weights[-2], weights[-1]
        log_w = w0 + (w1 - w0) * (r0 - target) / (r0 - r1)
    discrepancy = float(np.exp(log_w))
    chosen = float(np.clip(factor * discrepancy, grid[-1], grid[0]))
    return WeightChoice(chosen, discrepancy, float(factor), float(target), noise.strategy, tuple(curve), tuple(spent),
                        rule)
