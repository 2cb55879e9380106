"""Reconstruction settings chosen from the data: the method rule and the discrepancy principle."""

import dataclasses

import numpy as np
import pytest
from conftest import sphere_projections

from insitu4d.data import TiltSeries
from insitu4d.errors import InvalidParameter
from insitu4d.noise import NoiseLevel, noise_level, thinned_difference
from insitu4d.recon import reconstruct
from insitu4d.recon.algorithms import density_scale, tv_iterations
from insitu4d.recon.auto import (DISCREPANCY_FACTOR, SETTLE_CHUNK, SETTLE_MAX_FACTOR, SETTLE_SHARE, choose_method,
                                  discrepancy_tv_weight)
from insitu4d.recon.backends import get_projector

SPHERES = [((0.0, 0.0, -8.0), 9.0), ((0.0, 0.0, 8.0), 9.0)]
TILTS = np.arange(-40, 41, 2.0)


def _noise(relative):
    return NoiseLevel(1.0, relative, "poisson_thinning")


@pytest.mark.parametrize("tilts,noise,method", [
    (np.arange(-40, 41, 2.0), 0.05, "tv"),      # missing wedge
    (np.arange(-76, 77, 2.0), 0.04, "sirt"),    # the needle's series: wide, dense, clean
    (np.arange(-76, 77, 2.0), 0.20, "tv"),      # noisy
    (np.arange(-70, 71, 5.0), 0.02, "tv"),      # 29 tilts
])
def test_method_rule(tilts, noise, method):
    choice = choose_method(tilts, _noise(noise))
    assert choice.method == method and choice.reason


def _counts(dose_scale, seed=0):
    clean = sphere_projections(SPHERES, TILTS, 40, 40)
    return np.random.default_rng(seed).poisson(dose_scale * clean / clean.max()).astype(np.float32)


def test_discrepancy_weight_meets_the_noise_on_its_curve():
    # the rule itself: the residuals of the grid bracket the noise level, and the weight read
    # off lies between the two bracketing grid weights, log-linearly placed
    counts = _counts(20.0)
    noise = noise_level(counts, difference=thinned_difference(counts, np.random.default_rng(1)))
    proj = get_projector(TILTS, 40, 40, "cpu")
    choice = discrepancy_tv_weight(proj, proj.sino_to_backend(counts), noise)
    (w0, r0), (w1, r1) = choice.curve[-2], choice.curve[-1]
    assert r0 > noise.relative >= r1
    expected = np.exp(np.log(w0) + (np.log(w1) - np.log(w0)) * (r0 - noise.relative) / (r0 - r1))
    assert choice.discrepancy_weight == pytest.approx(expected)
    assert choice.tv_weight == pytest.approx(DISCREPANCY_FACTOR * expected)
    assert [w for w, _ in choice.curve] == [30.0, 10.0, 3.0, 1.0, 0.3, 0.1][: len(choice.curve)]


def test_a_weight_at_the_grids_end_says_it_is_a_bound():
    # the noise given as 98 % of the data's norm, so that the grid's largest weight already leaves less, and as
    # a hundredth of itself, so that its smallest still leaves more: the weight is the grid's end, and the
    # record says the principle's weight lies beyond it
    counts = _counts(20.0)
    noise = noise_level(counts, difference=thinned_difference(counts, np.random.default_rng(1)))
    proj = get_projector(TILTS, 40, 40, "cpu")
    b = proj.sino_to_backend(counts)
    loud = dataclasses.replace(noise, relative=0.98)
    heavy = discrepancy_tv_weight(proj, b, loud, grid=(30.0, 10.0), first_iterations=40)
    assert heavy.curve[0][1] <= loud.relative and len(heavy.curve) == 1
    assert heavy.discrepancy_weight == pytest.approx(30.0)
    assert "largest weight, 30, already leaves no more than the noise" in heavy.rule
    quiet = dataclasses.replace(noise, sum_sq=noise.sum_sq * 1e-4, relative=noise.relative * 1e-2)
    light = discrepancy_tv_weight(proj, b, quiet, grid=(0.3, 0.1), first_iterations=40, iterations=20)
    assert light.curve[-1][1] > quiet.relative and len(light.curve) == 2
    assert light.discrepancy_weight == pytest.approx(0.1)
    assert "smallest weight, 0.1, still leaves more than the noise" in light.rule


def test_each_grid_weight_is_solved_until_its_residual_settles():
    # the rule itself, replayed chunk by chunk: a grid weight stops when its residual moved by less than
    # SETTLE_SHARE of itself over two chunks in a row, or at SETTLE_MAX_FACTOR times its least count; the
    # curve holds the residual where it stopped
    counts = _counts(20.0)
    noise = noise_level(counts, difference=thinned_difference(counts, np.random.default_rng(1)))
    proj = get_projector(TILTS, 40, 40, "cpu")
    b = proj.sino_to_backend(counts)
    least = (40, 20)
    choice = discrepancy_tv_weight(proj, b, noise, first_iterations=least[0], iterations=least[1])
    bs = b / density_scale(proj, b)
    state, norm = None, float(np.linalg.norm(bs))
    for k, ((weight, recorded), spent) in enumerate(zip(choice.curve, choice.iterations)):
        first = least[min(k, 1)]
        state = tv_iterations(proj, bs, weight, first, state=state)
        trace = [float(np.linalg.norm(proj.forward_block(state.x) - bs)) / norm]
        while len(trace) - 1 < (spent - first) // SETTLE_CHUNK:
            state = tv_iterations(proj, bs, weight, SETTLE_CHUNK, state=state)
            trace.append(float(np.linalg.norm(proj.forward_block(state.x) - bs)) / norm)
        assert trace[-1] == pytest.approx(recorded, rel=1e-5)
        still = [abs(a - c) < SETTLE_SHARE * c for a, c in zip(trace, trace[1:])]
        settled_at = next((i + 2 for i in range(len(still) - 1) if still[i] and still[i + 1]), None)
        if settled_at is None:  # never two still moves in a row: it ran to the most allowed
            assert spent + SETTLE_CHUNK > SETTLE_MAX_FACTOR * first
        else:  # it stopped at the first two still moves in a row
            assert spent == first + settled_at * SETTLE_CHUNK
    assert any(spent > least[min(k, 1)] for k, spent in enumerate(choice.iterations))  # it did continue


def test_more_noise_asks_for_more_weight():
    # the same scene at 1/100 of the dose: the noise is 10× larger relative to the signal,
    # and the weight chosen is larger, over three noise draws each
    proj = get_projector(TILTS, 40, 40, "cpu")
    weights = {}
    for dose in (3.0, 300.0):
        weights[dose] = []
        for seed in range(3):
            counts = _counts(dose, seed)
            noise = noise_level(counts, difference=thinned_difference(counts, np.random.default_rng(seed)))
            weights[dose].append(discrepancy_tv_weight(proj, proj.sino_to_backend(counts), noise).tv_weight)
    assert min(weights[3.0]) > max(weights[300.0])


def test_auto_reconstruction_records_its_choices():
    counts = _counts(20.0)
    ts = TiltSeries(counts, TILTS, 1.0)
    vol = reconstruct(ts, iterations=20)
    assert vol.provenance["method"] == "tv"
    assert "missing wedge" in vol.provenance["method_choice"]["reason"]
    choice = vol.provenance["tv_weight_choice"]
    assert choice["tv_weight"] == vol.provenance["tv_weight"] and choice["noise_strategy"] == "poisson_gaussian_fit"
    assert vol.provenance["iterations"] == 20


def test_bad_settings_are_refused():
    proj = get_projector(TILTS, 40, 40, "cpu")
    b = proj.sino_to_backend(_counts(20.0))
    with pytest.raises(InvalidParameter, match="must decrease"):
        discrepancy_tv_weight(proj, b, _noise(0.1), grid=(1.0, 3.0))
    with pytest.raises(InvalidParameter, match="factor must be > 0"):
        discrepancy_tv_weight(proj, b, _noise(0.1), factor=0.0)
    with pytest.raises(InvalidParameter, match="tv_weight must be 'auto' or a number"):
        reconstruct(TiltSeries(_counts(20.0), TILTS, 1.0), method="tv", tv_weight="strong")
