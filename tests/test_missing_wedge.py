"""Missing wedge at ±40°: TV (compressed sensing) against SIRT on touching spheres, with ground truth."""

import numpy as np
import pytest
from conftest import sphere_projections, sphere_volume
from skimage.filters import threshold_otsu

from insitu4d.data import TiltSeries
from insitu4d.measure import measure
from insitu4d.recon import reconstruct
from insitu4d.recon.algorithms import _gradient, _gradient_adjoint
from insitu4d.segment import segment

R, D = 10.0, 16.0  # two spheres of radius 10 voxels, centres 16 apart: neck radius √(100 − 64) = 6
SPHERES = [((0.0, 0.0, -D / 2), R), ((0.0, 0.0, D / 2), R)]
N = 48
TILTS = np.arange(-40, 41, 2.0)
R_N = np.sqrt(R * R - (D / 2) ** 2)


@pytest.fixture(scope="module")
def low_dose_series():
    """Poisson counts at 250 e⁻/nm² per tilt series (41 images, 1.04 nm pixels: 6.6 incident e⁻ per
    pixel per image) with an assumed 5 % of the electrons per voxel of path scattered onto the
    HAADF detector: about 10 detected counts behind the thickest point."""
    clean = sphere_projections(SPHERES, TILTS, N, N)
    incident = 250.0 * 1.04**2 / len(TILTS)
    gain = incident * 0.05
    counts = np.random.default_rng(0).poisson(gain * clean)
    return TiltSeries(counts / gain, TILTS, 1.0)


def _score(volume):
    truth = sphere_volume(SPHERES, (N, N, N))
    wrong = int(((volume.data > threshold_otsu(volume.data)) != truth).sum())
    labels, _ = segment(volume)
    m = measure(labels, 1.0)
    necks = [p.r_n_nm for p in m.pairs]
    neck_ok = len(m.particles) == 2 and len(necks) == 1 and abs(necks[0] - R_N) <= 1.5
    return wrong, neck_ok, necks


@pytest.mark.parametrize("method,iterations", [("tv", 200), ("asd-pocs", 50)])
def test_tv_halves_the_segmentation_error_and_finds_the_neck(low_dose_series, method, iterations):
    # Acceptance (issue 3): voxels wrong after Otsu at most half of SIRT's, and the neck
    # radius within 1.5 voxels where SIRT's is not. Measured: TV (Chambolle–Pock) 1112
    # wrong, r_n 6.31; ASD-POCS-50 1649 wrong, r_n 6.06; SIRT-100 6655 wrong, 26
    # fragments; SIRT-20 7936 wrong, r_n 4.2.
    # the algorithms at the weight of issue 3 (1.0); the automatic weight is tested in test_recon_auto.py
    kw = {"tv_weight": 1.0} if method == "tv" else {}
    tv_wrong, tv_neck_ok, tv_necks = _score(reconstruct(low_dose_series, method=method, iterations=iterations, **kw))
    for sirt_iterations in (20, 100):
        sirt_wrong, sirt_neck_ok, _ = _score(reconstruct(low_dose_series, method="sirt", iterations=sirt_iterations))
        assert tv_wrong <= 0.5 * sirt_wrong
        assert not sirt_neck_ok
    assert tv_neck_ok, tv_necks


def test_gradient_adjoint():
    rng = np.random.default_rng(1)
    v = rng.random((5, 6, 7)).astype(np.float32)
    g = rng.random((3, 5, 6, 7)).astype(np.float32)
    lhs = np.vdot(_gradient(np, v).astype(np.float64), g)
    rhs = np.vdot(v.astype(np.float64), _gradient_adjoint(np, g))
    assert abs(lhs - rhs) < 1e-4 * abs(lhs)


@pytest.mark.parametrize("method", ["sart", "cgls", "tv", "asd-pocs"])
def test_iterative_methods_recover_clean_spheres(method):
    # oracle: noise-free analytic projections over ±70°; each method must find density ≈ 1
    # inside (10 % for the remaining missing-wedge blur) and ≈ 0 outside, and fit the data.
    from insitu4d.recon import reprojection_residual

    tilts = np.arange(-70, 71, 2.0)
    ts = TiltSeries(sphere_projections(SPHERES, tilts, N, N), tilts, 1.0)
    kw = {"tv_weight": 0.1} if method == "tv" else {}
    vol = reconstruct(ts, method=method, iterations={"sart": 10, "asd-pocs": 50}.get(method, 60), **kw)
    truth = sphere_volume(SPHERES, (N, N, N))
    core = sphere_volume([(c, r - 2) for c, r in SPHERES], (N, N, N))
    assert vol.data[core].mean() == pytest.approx(1.0, abs=0.1)
    assert abs(vol.data[~truth].mean()) < 0.03
    assert reprojection_residual(vol, ts) < 0.05
    assert vol.provenance["method"] == method
