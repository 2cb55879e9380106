"""The temporal prior: PICCS term of the TV solver, registration of the prior, its use in runs."""

import json

import numpy as np
import pytest
from conftest import sphere_projections

from insitu4d.data import TiltSeries, Volume
from insitu4d.errors import InvalidParameter
from insitu4d.pipeline import RunParameters, read_experiment, run_experiment
from insitu4d.recon import reconstruct
from insitu4d.recon.algorithms import density_scale, tv_iterations
from insitu4d.recon.prior import register_prior
from insitu4d.recon.backends import get_projector

TILTS = np.arange(-40, 41, 2.0)
N = 40


def _ball(centre, radius, shape=(N, 12, N)):
    z, y, x = np.indices(shape, dtype=float)
    c = [(s - 1) / 2 + o for s, o in zip(shape, centre)]
    return (((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) <= radius ** 2).astype(np.float32)


def test_a_prior_equal_to_noiseless_truth_is_a_fixed_point_at_full_share():
    # b = A x and x_prior = x: the PICCS objective at α = 1 is ½‖Ax − b‖² + λ TV(x − x_prior) = 0
    # at x = x_prior, its global minimum, and the iteration starts there. A wrong sign of the
    # prior's gradient in the dual step moves it away (by 1.7 of a density of 1, tried).
    truth = _ball((0, 0, 3), 9) + 0.6 * _ball((2, 0, -10), 5)
    proj = get_projector(TILTS, N, N, "cpu")
    x = proj.volume_to_backend(truth)
    b = proj.forward_block(x)
    state = tv_iterations(proj, b, 1.0, 60, prior=x, prior_share=1.0)
    assert np.max(np.abs(proj.volume_from_backend(state.x) - truth)) < 1e-3


def test_without_a_prior_term_the_prior_is_only_the_start():
    # α = 0: the same convex problem as without a prior, so both runs approach one minimiser
    truth = _ball((0, 0, 0), 10)
    proj = get_projector(TILTS, N, N, "cpu")
    b = proj.forward_block(proj.volume_to_backend(truth))
    b = b + np.random.default_rng(0).normal(0, 0.5, b.shape).astype(np.float32)
    scale = density_scale(proj, b)
    start = proj.volume_to_backend(_ball((3, 0, -4), 6))
    plain = tv_iterations(proj, b / scale, 0.5, 600).x
    warm = tv_iterations(proj, b / scale, 0.5, 600, prior=start / scale, prior_share=0.0).x
    assert np.max(np.abs(plain - warm)) < 0.02 * float(np.max(plain))


def test_a_right_prior_lowers_the_error_at_low_dose():
    # a prior that holds the truth (a past time point without change) must help at a dose
    # where TV alone is noisy; asserted on each of 3 noise draws
    truth = _ball((0, 0, -7), 8) + _ball((0, 0, 8), 7)
    clean = sphere_projections([((0, 0, -7), 8.0), ((0, 0, 8), 7.0)], TILTS, 12, N)
    for seed in (1, 2, 3):
        counts = np.random.default_rng(seed).poisson(3.0 * clean).astype(np.float32) / 3.0
        ts = TiltSeries(counts, TILTS, 1.0)
        alone = reconstruct(ts, method="tv", tv_weight=1.0, backend="cpu")
        helped = reconstruct(ts, method="tv", tv_weight=1.0, backend="cpu", prior=Volume(truth, 1.0))
        err = [float(np.sqrt(np.mean((v.data - truth) ** 2))) for v in (alone, helped)]
        assert err[1] < 0.8 * err[0], err


def test_registration_finds_a_subvoxel_translation_and_the_density_scale():
    prior = _ball((0, 0, 0), 8, (32, 32, 32))
    from scipy import ndimage

    moved = ndimage.shift(prior, (1.3, -2.6, 0.7), order=1)
    registered = register_prior(prior, moved)
    assert np.allclose(registered.shift_vox, (1.3, -2.6, 0.7), atol=0.15)
    assert registered.rescaled(0.5).intensity_ratio == 0.5
    with pytest.raises(InvalidParameter, match="same grid"):
        register_prior(prior, prior[:-1])
    with pytest.raises(InvalidParameter, match="positive number"):
        registered.rescaled(float("nan"))


def test_reconstruct_moves_and_scales_the_prior_and_records_it():
    clean = sphere_projections([((0, 0, 0), 9.0)], TILTS, 12, N)
    ts = TiltSeries(clean.astype(np.float32), TILTS, 1.0)
    prior = Volume(2.0 * _ball((0, 0, 0), 9)[:, :, ::-1], 1.0)  # denser by 2: ratio ½
    prior = Volume(np.roll(prior.data, 2, axis=2), 1.0)            # and 2 voxels off along x
    volume = reconstruct(ts, method="auto", tv_weight=0.1, prior=prior, backend="cpu")
    record = volume.provenance["temporal_prior"]
    assert volume.provenance["method"] == "tv" and "temporal prior" in volume.provenance["method_choice"]["reason"]
    assert abs(record["shift_vox"][2] + 2) < 0.5 and abs(record["intensity_ratio"] - 0.5) < 0.05
    assert record["share"] == 0.5


def test_an_empty_prior_is_not_used_and_says_so():
    # a previous time point with nothing in it: the reconstruction is the one without a prior
    clean = sphere_projections([((0, 0, 0), 9.0)], TILTS, 12, N)
    ts = TiltSeries(clean, TILTS, 1.0)
    empty = Volume(np.zeros((N, 12, N), np.float32), 1.0)
    with_empty = reconstruct(ts, method="tv", tv_weight=0.1, iterations=30, prior=empty, backend="cpu")
    without = reconstruct(ts, method="tv", tv_weight=0.1, iterations=30, backend="cpu")
    assert with_empty.provenance["temporal_prior"] == {"unused": "the prior volume projects to no signal"}
    assert np.array_equal(with_empty.data, without.data)


def test_bad_prior_settings_are_refused_with_the_fix():
    ts = TiltSeries(np.ones((len(TILTS), 12, N), np.float32), TILTS, 1.0)
    prior = Volume(np.zeros((N, 12, N), np.float32), 1.0)
    with pytest.raises(InvalidParameter, match="method 'sirt' cannot use it"):
        reconstruct(ts, method="sirt", prior=prior)
    with pytest.raises(InvalidParameter, match="same binning and thickness"):
        reconstruct(ts, method="tv", prior=Volume(np.zeros((N, 12, N - 2), np.float32), 1.0))
    with pytest.raises(InvalidParameter, match="prior_share"):
        reconstruct(ts, method="tv", tv_weight=1.0, prior=prior, prior_share=1.5)
    with pytest.raises(InvalidParameter, match="Choose method 'tv' or 'auto'"):
        RunParameters(method="sirt", temporal_prior=True)
    with pytest.raises(InvalidParameter, match="temporal_prior_share"):
        RunParameters(temporal_prior=True, temporal_prior_share=2)
    with pytest.raises(InvalidParameter, match="true or false"):
        RunParameters(temporal_prior="yes")


def test_a_4d_run_with_the_prior_records_it_and_resumes(tmp_path):
    from insitu4d.simulate.scenes import coalescence_sequence, write_scene_experiment

    rng = np.random.default_rng(5)
    scenes, _ = coalescence_sequence(rng, (0.4, 0.5), relax_aspect=(), radius_vox=(8.0, 9.0))
    toml, _ = write_scene_experiment(scenes, tmp_path, TILTS, 1000.0, rng)
    toml.write_text(toml.read_text().replace("[acquisition]", "[reconstruct]\ntemporal_prior = true\n[acquisition]"))
    experiment = read_experiment(toml)
    assert experiment.params.temporal_prior
    summary = run_experiment(experiment, tmp_path / "out")
    first = json.loads((tmp_path / "out" / "T01" / "run.json").read_text())
    second = json.loads((tmp_path / "out" / "T02" / "run.json").read_text())
    assert first["reconstruction"]["method"] == "tv" and "temporal_prior" not in first["reconstruction"]
    assert second["inputs"]["previous_volume"]["path"].endswith("T01/volume.h5")
    assert np.max(np.abs(second["reconstruction"]["temporal_prior"]["shift_vox"])) <= 7  # shifts ≤ 3 voxels each
    assert summary["automatic_choices"]["method"] == "tv"
    again = run_experiment(experiment, tmp_path / "out")
    assert all(tp["resumed"] for tp in again["time_points"])
