import numpy as np
import pytest
from conftest import sphere_projections, sphere_volume

from insitu4d.data import TiltSeries
from insitu4d.errors import InvalidParameter
from insitu4d.recon import reconstruct, reprojection_residual
from insitu4d.recon.algorithms import angular_weights_rad, fourier_filter
from insitu4d.recon.projector import Projector

TILT_SETS = [np.arange(-40, 41, 2.0), np.arange(-76, 77, 2.0), np.linspace(-89.5, 89.5, 60),
             np.array([-63.0, -12.5, 0.0, 7.0, 45.0, 88.0])]


@pytest.mark.parametrize("tilts", TILT_SETS, ids=["pm40", "pm76", "full", "irregular"])
@pytest.mark.parametrize("nz,nx", [(32, 32), (20, 37)])
def test_adjointness(tilts, nz, nx):
    # <A x, y> = <x, Aᵀ y>; float32 products: the relative gap is ~1e-7, 1e-5 leaves room
    rng = np.random.default_rng(0)
    p = Projector(tilts, nz, nx)
    x = rng.random((nz, 5, nx)).astype(np.float32)
    y = rng.random((len(tilts), 5, nx)).astype(np.float32)
    ax, aty = p.forward(x), p.back(y)
    lhs = np.vdot(ax.astype(np.float64), y)
    rhs = np.vdot(x.astype(np.float64), aty)
    assert abs(lhs - rhs) / (np.linalg.norm(ax) * np.linalg.norm(y)) < 1e-5


def test_forward_projection_of_sphere_matches_chord_lengths():
    # oracle: analytic projection of a voxelised sphere (radius 12 px). The voxelised
    # sphere differs from the ideal one by less than one voxel along each ray, so the
    # tolerance is a few voxels at a chord of 24.
    spheres = [((3.0, 0.0, -4.0), 12.0)]
    shape = (40, 6, 40)
    vol = sphere_volume(spheres, shape).astype(np.float32)
    tilts = np.array([-60.0, -20.0, 0.0, 35.0, 70.0])
    sim = Projector(tilts, shape[0], shape[2]).forward(vol)
    exact = sphere_projections(spheres, tilts, shape[1], shape[2])
    assert np.abs(sim - exact).max() < 2.5
    # mass is conserved at every tilt within 1 % (path-length weights)
    np.testing.assert_allclose(sim.sum(axis=(1, 2)), vol.sum() * np.ones(len(tilts)) * sim.shape[1] / shape[1],
                               rtol=0.01)


def test_row_sums_at_zero_tilt_equal_slice_thickness():
    p = Projector([0.0], 17, 23)
    rows = np.asarray(p.matrix.sum(axis=1)).ravel()
    np.testing.assert_allclose(rows, 17.0, rtol=1e-6)


def test_angular_weights_sum_to_range():
    t = np.arange(-40, 41, 2.0)
    assert angular_weights_rad(t).sum() == pytest.approx(np.deg2rad(82.0))


def test_ramp_filter_is_abs_frequency():
    filt, n = fourier_filter(64, "ramp")
    f = np.abs(np.fft.fftfreq(n))
    # band-limited ramp: equals |f| within a few % away from DC, and its DC value is small
    mid = (f > 0.05) & (f < 0.45)
    np.testing.assert_allclose(filt[mid], f[mid], rtol=0.03)
    assert abs(filt[0]) < 0.01


def test_unknown_filter_and_method():
    with pytest.raises(InvalidParameter, match="unknown FBP filter 'cosine'"):
        fourier_filter(8, "cosine")
    ts = TiltSeries(np.zeros((3, 4, 8)), [-1, 0, 1], 1.0)
    with pytest.raises(InvalidParameter, match="choose one of auto, fbp, sirt"):
        reconstruct(ts, method="art")


def _disk_series(tilts, n=64, r=18.0, centre=(6.0, -5.0)):
    """Exact projections of a uniform cylinder along y (a disk in every slice)."""
    t = np.deg2rad(tilts)
    u = np.arange(n) - (n - 1) / 2
    sub = (np.arange(4) + 0.5) / 4 - 0.5
    uu = (u[:, None] + sub[None, :])
    proj = np.stack([2 * np.sqrt(np.clip(r * r - (uu - (centre[1] * np.cos(a) + centre[0] * np.sin(a))) ** 2, 0, None))
                     .mean(axis=1) for a in t])
    data = np.repeat(proj[:, None, :], 3, axis=1).astype(np.float32)
    z, x = np.meshgrid(np.arange(n) - (n - 1) / 2, np.arange(n) - (n - 1) / 2, indexing="ij")
    inside = (z - centre[0]) ** 2 + (x - centre[1]) ** 2 < (r - 2) ** 2
    outside = (z - centre[0]) ** 2 + (x - centre[1]) ** 2 > (r + 3) ** 2
    return TiltSeries(data, tilts, 1.0), inside, outside


@pytest.mark.parametrize("filter_name", ["ramp", "shepp-logan", "hann"])
def test_fbp_of_analytic_disk(filter_name):
    # oracle: exact Radon transform of a uniform disk (density 1) over 180°; FBP returns
    # the density within 2 % inside and ≈ 0 outside (discretisation only).
    ts, inside, outside = _disk_series(np.linspace(-89.5, 89.5, 180))
    vol = reconstruct(ts, method="fbp", filter_name=filter_name).data[:, 1, :]
    assert vol[inside].mean() == pytest.approx(1.0, abs=0.02)
    assert np.abs(vol[outside]).mean() < 0.03


def test_fbp_agrees_with_scikit_image_iradon():
    # independent implementation: skimage.transform.iradon on the same (centro-symmetric)
    # disk sinogram; both are ramp-filtered back-projections, so they agree to a few %.
    from skimage.transform import iradon

    tilts = np.linspace(-89.5, 89.5, 180)
    ts, inside, _ = _disk_series(tilts, centre=(0.0, 0.0))
    ours = reconstruct(ts, method="fbp").data[:, 1, :]
    ref = iradon(ts.data[:, 1, :].T, theta=tilts, filter_name="ramp", circle=True)
    assert np.linalg.norm(ours[inside] - ref[inside]) / np.linalg.norm(ref[inside]) < 0.03


def test_sirt_converges_on_analytic_data_and_beats_fbp_at_limited_range():
    ts, inside, outside = _disk_series(np.arange(-60, 61, 3.0))
    residuals = []
    for it in (5, 50):
        v = reconstruct(ts, method="sirt", iterations=it, n_workers=2)
        residuals.append(reprojection_residual(v, ts))
    assert residuals[1] < residuals[0] < 1.0
    assert v.data[:, 1, :][inside].mean() == pytest.approx(1.0, abs=0.05)
    fbp = reconstruct(ts, method="fbp")
    assert residuals[1] < reprojection_residual(fbp, ts)
    assert v.provenance["method"] == "sirt" and v.provenance["iterations"] == 50


def test_sphere_reconstructed_at_the_right_place():
    # sign conventions end to end: analytic projections of an off-centre sphere must
    # reconstruct with the sphere where it was placed (z along the beam at 0°).
    spheres = [((8.0, -3.0, -10.0), 7.0)]
    tilts = np.arange(-70, 71, 2.0)
    n = 40
    ts = TiltSeries(sphere_projections(spheres, tilts, n, n), tilts, 1.0)
    vol = reconstruct(ts, method="sirt", iterations=60).data
    mask = vol > 0.5
    com = np.array(np.nonzero(mask)).mean(axis=1) - (n - 1) / 2
    np.testing.assert_allclose(com, spheres[0][0], atol=1.0)  # within a voxel


def test_sirt_parallel_chunks_equal_single_thread():
    ts, *_ = _disk_series(np.arange(-60, 61, 3.0))
    a = reconstruct(ts, method="sirt", iterations=10, n_workers=1).data
    b = reconstruct(ts, method="sirt", iterations=10, n_workers=3).data
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
