"""The neck fitted to the tilt series, against voxelised phantoms with known necks."""

import numpy as np
import pytest
from scipy import ndimage

from insitu4d.errors import InvalidParameter
from insitu4d.measure import measure
from insitu4d.neck_fit import fit_neck_to_tilt_series, refine_necks
from insitu4d.physics import two_sphere_halves
from insitu4d.recon import get_projector
from insitu4d.shape_fit import TwoSphereFit
from insitu4d.simulate.phantom import SinteringPair, Sphere, voxelise

TILTS = np.arange(-40.0, 41.0, 2.0)


def _two_spheres(d, ra, rb, rn):
    return TwoSphereFit(np.zeros(3), np.array([0.0, 0.0, d]), ra, rb, rn)


def test_waist_is_the_larger_of_collar_and_crossing_circle():
    # oracle: spheres of radius 10 at d = 16 cross in a circle of radius √(100 − 8²) = 6
    assert _two_spheres(16, 10, 10, 4).waist == pytest.approx(6.0)
    assert _two_spheres(16, 10, 10, 7).waist == pytest.approx(7.0)
    # unequal: x = (d² + ra² − rb²) / 2d = (144 + 100 − 64) / 24 = 7.5, circle √(100 − 56.25)
    assert _two_spheres(12, 10, 8, 0).waist == pytest.approx(np.sqrt(43.75))
    assert _two_spheres(25, 10, 10, 3).waist == 3.0  # apart: the collar alone
    assert _two_spheres(1, 10, 5, 3).waist == 5.0  # one inside the other


def _scene(r_n, axis=(1.0, 0.0, 0.0)):
    # a pair along the beam (z), the missing wedge's worst case; sphere radii 12 and 10 voxels
    pair = SinteringPair((0.4, -0.3, 0.2), axis, 12.0, r_n, r_p_b_nm=10.0)
    return voxelise((72, 48, 48), 1.0, pairs=[pair])


def _noisy(clean, seed, sd):
    return clean + np.random.default_rng(seed).normal(0.0, sd, clean.shape).astype(np.float32)


def test_fit_recovers_a_neck_that_the_volume_reads_wide():
    # the "reconstruction" has its gap filled (the same pair with a neck of 8.5 voxels); the
    # images are the projections of the true pair (neck 4 voxels) plus Gaussian noise of known SD
    true_r_n = 4.0
    fill, labels, _ = _scene(true_r_n)
    wide, wide_labels, _ = _scene(8.5)
    clean = get_projector(TILTS, *fill.shape[::2]).forward(fill)
    measured = measure(wide_labels, 1.0, protocol_2d=False)
    assert measured.pairs[0].r_n_nm > 7.0  # the volume's reading: the filled gap
    sd = 0.02 * clean.max()
    for seed in range(2):
        fit = fit_neck_to_tilt_series(wide, wide_labels, measured.pairs[0].labels, _noisy(clean, seed, sd), TILTS,
                                      sd ** 2, backend="cpu")
        # tolerance: the model's partial-volume edge (linear in the signed distance) against the
        # phantom's 3×-supersampled fill, and the noise; about 0.3 voxel on a collar of 4
        assert fit.accepted, fit.reason
        assert abs(fit.r_n_vox - true_r_n) < 0.6
        # a correct model leaves the noise: its residual is the noise's energy to a few per cent
        assert fit.residual_model == pytest.approx(fit.residual_noise, rel=0.05)


@pytest.mark.parametrize("r_n, axis, shape", [(6.0, (1.0, 0.0, 0.0), (72, 48, 48)),
                                              (8.0, (0.6, 0.0, 0.8), (56, 48, 64))])
def test_fit_recovers_a_neck_that_the_volume_reads_narrow(r_n, axis, shape):
    # the "reconstruction" holds the two spheres without their collar, so the volume reads the neck at the
    # circle where the spheres cross (4.3 and 5.8 voxels), where a collar has no effect on the model and the
    # images give it no gradient; the images hold the collar. Started at the volume's reading, the fit stayed
    # at the crossing circle (4.4 voxels for the neck of 6); the scan of collars starts it where the images
    # put it. Tolerance as in the wide case above.
    pair = SinteringPair((0.4, -0.3, 0.2), axis, 12.0, r_n, r_p_b_nm=10.0)
    fill, _, _ = voxelise(shape, 1.0, pairs=[pair])
    centre_a, centre_b = pair.centres_nm()
    spheres, labels, _ = voxelise(shape, 1.0, spheres=[Sphere.round(centre_a, 12.0), Sphere.round(centre_b, 10.0)])
    crossing = TwoSphereFit(np.asarray(centre_a), np.asarray(centre_b), 12.0, 10.0, 0.0).waist
    measured = measure(labels, 1.0, protocol_2d=False)
    assert measured.pairs[0].r_n_nm < crossing + 0.5 < r_n  # the volume reads the neck narrow
    clean = get_projector(TILTS, shape[0], shape[2]).forward(fill)
    sd = 0.02 * clean.max()
    for seed in range(2):
        fit = fit_neck_to_tilt_series(spheres, labels, measured.pairs[0].labels, _noisy(clean, seed, sd), TILTS,
                                      sd ** 2, neck_start_vox=measured.pairs[0].r_n_nm, backend="cpu")
        assert fit.accepted, fit.reason
        assert abs(fit.r_n_vox - r_n) < 0.6


@pytest.mark.parametrize("seed", range(2))
def test_a_large_pair_finds_its_start_on_sparse_rays(seed):
    # spheres of 36 and 34 voxels (SPARSE_RADIUS_VOX 16: the start is fitted on every 2nd row and tilt, then
    # the fit runs once on all rays), the axis off the tilt axis by 73° (its neck spans the rows), and a
    # volume that reads the neck at the spheres' crossing circle (11.4 voxels) as in the narrow case above:
    # the fit must reach the true neck of 16 voxels. Tolerance as above, in voxels. (On 4 seeds the sparse
    # start read 16.02, 16.05, 16.03, 16.00; the fit on all rays alone 16.02, 16.04, 16.03, 16.01.)
    from insitu4d.neck_fit import SPARSE_RADIUS_VOX
    from insitu4d.shape_fit import fit_two_spheres
    r_n, shape = 16.0, (120, 104, 136)
    pair = SinteringPair((0.4, -0.3, 0.2), (0.5, 0.3, 0.81), 36.0, r_n, r_p_b_nm=34.0)
    fill, _, _ = voxelise(shape, 1.0, pairs=[pair])
    centre_a, centre_b = pair.centres_nm()
    spheres, labels, _ = voxelise(shape, 1.0, spheres=[Sphere.round(centre_a, 36.0), Sphere.round(centre_b, 34.0)])
    start = fit_two_spheres(labels > 0)
    assert min(start.radius_a, start.radius_b) // SPARSE_RADIUS_VOX == 2  # the sparse start is taken
    measured = measure(labels, 1.0, protocol_2d=False)
    assert measured.pairs[0].r_n_nm < r_n - 2  # the volume reads the neck narrow
    clean = get_projector(TILTS, shape[0], shape[2]).forward(fill)
    sd = 0.02 * clean.max()
    fit = fit_neck_to_tilt_series(spheres, labels, measured.pairs[0].labels, _noisy(clean, seed, sd), TILTS,
                                  sd ** 2, neck_start_vox=measured.pairs[0].r_n_nm, backend="cpu")
    assert fit.accepted, fit.reason
    assert abs(fit.r_n_vox - r_n) < 0.6


@pytest.mark.parametrize("seed", [0, 1])
def test_refine_necks_keeps_the_volume_reading_beside_the_fit(seed):
    fill, labels, _ = _scene(4.0)
    wide, wide_labels, _ = _scene(8.5)
    clean = get_projector(TILTS, *fill.shape[::2]).forward(fill)
    sd = 0.02 * clean.max()
    measured = measure(wide_labels, 2.0, protocol_2d=False)  # 2 nm voxels
    refined, fits = refine_necks(measured, wide_labels, wide, _noisy(clean, seed, sd), TILTS, sd ** 2, backend="cpu")
    before, after = measured.pairs[0], refined.pairs[0]
    assert fits[0].accepted
    assert after.r_n_volume_nm == before.r_n_nm
    assert after.r_n_nm == pytest.approx(2.0 * fits[0].r_n_vox)
    assert after.r_n_over_r_p == pytest.approx(after.r_n_nm / after.r_p_nm)
    # the distances too are the fitted model's: its halves' centres of mass and its sphere centres; the
    # labels' reading stays in d_volume_nm
    model = fits[0].fit
    halves = two_sphere_halves(model.neck_radius, model.radius_a, model.radius_b, model.distance)
    assert after.d_volume_nm == before.d_nm
    assert after.d_nm == pytest.approx(2.0 * halves.d_com)
    assert after.d_centre_nm == pytest.approx(2.0 * model.distance)
    assert after.d_over_2r_p == pytest.approx(after.d_nm / (2 * after.r_p_nm))
    assert after.d_xy_nm ** 2 + after.d_z_nm ** 2 == pytest.approx(after.d_nm ** 2)
    # oracle: the pair in the images (neck 4 voxels), whose distances the labels (neck 8.5) read 6 nm short;
    # the fit's come within 0.5 nm (a quarter voxel; measured 0.01 nm)
    truth = SinteringPair((0.4, -0.3, 0.2), (1.0, 0.0, 0.0), 12.0, 4.0, r_p_b_nm=10.0)
    assert before.d_nm < 2.0 * truth.d_com_nm - 5.0
    assert abs(after.d_nm - 2.0 * truth.d_com_nm) < 0.5
    assert abs(after.d_centre_nm - 2.0 * truth.d_nm) < 0.5


def test_a_pair_read_as_one_body_is_not_fitted():
    # a pair the segmentation read as coalescing keeps the volume's reading, and its fit says why; the labels
    # may come in either order
    fill, labels, _ = _scene(4.0)
    measured = measure(labels, 2.0, protocol_2d=False)
    a, b = measured.pairs[0].labels
    refined, fits = refine_necks(measured, labels, fill, np.zeros((len(TILTS), *fill.shape[1:]), np.float32), TILTS,
                                 1.0, backend="cpu", coalescing=[(b, a)])
    assert refined.pairs == measured.pairs
    assert not fits[0].accepted and fits[0].evaluations == 0 and np.isnan(fits[0].r_n_vox)
    assert "no neck left" in fits[0].reason
    for bad in ([1, 2], [(1, 2, 3)], [("a", 2)]):
        with pytest.raises(InvalidParameter, match=r"coalescing must hold pairs of particle labels"):
            refine_necks(measured, labels, fill, np.zeros((len(TILTS), *fill.shape[1:]), np.float32), TILTS, 1.0,
                         backend="cpu", coalescing=bad)


def test_fit_refused_where_the_particles_are_not_spheres():
    # two touching cubes, reconstructed exactly; noisy images: two spheres and a collar leave far more
    # than the noise, whatever the noise draw
    fill = np.zeros((48, 48, 64), np.float32)
    labels = np.zeros(fill.shape, np.uint16)
    labels[14:34, 14:34, 12:32] = 1
    labels[16:32, 16:32, 32:50] = 2
    fill[labels > 0] = 1.0
    clean = get_projector(TILTS, 48, 64).forward(fill)
    sd = 0.02 * clean.max()
    for seed in range(2):
        fit = fit_neck_to_tilt_series(fill, labels, (1, 2), _noisy(clean, seed, sd), TILTS, sd ** 2, backend="cpu")
        assert not fit.accepted
        assert "the particles are not near-spherical" in fit.reason or "left the segmented pair" in fit.reason
        assert fit.residual_model > 2 * fit.residual_volume  # the reconstruction is exact here


def test_bad_input_is_refused_by_message():
    fill, labels, _ = _scene(4.0)
    images = get_projector(TILTS, *fill.shape[::2]).forward(fill)
    with pytest.raises(InvalidParameter, match="must be the same 3D shape"):
        fit_neck_to_tilt_series(fill, labels[:-1], (1, 2), images, TILTS, 1.0)
    with pytest.raises(InvalidParameter, match="n_tilts=40"):
        fit_neck_to_tilt_series(fill, labels, (1, 2), images, TILTS[:-1], 1.0)
    with pytest.raises(InvalidParameter, match="noise_variance must be one non-negative number"):
        fit_neck_to_tilt_series(fill, labels, (1, 2), images, TILTS, -1.0)
    with pytest.raises(InvalidParameter, match="noise_variance must be one non-negative number"):
        fit_neck_to_tilt_series(fill, labels, (1, 2), images, TILTS, np.ones(3))
    with pytest.raises(InvalidParameter, match="noise_variance must be one non-negative number"):
        fit_neck_to_tilt_series(fill, labels, (1, 2), images, TILTS, np.full(images.shape, np.nan))
    # a per-pixel model estimate may dip below zero at single pixels (a·μ + b below the vacuum level)
    variance = np.full(images.shape, 1.0)
    variance[0, 0, 0] = -0.5
    assert fit_neck_to_tilt_series(fill, labels, (1, 2), images, TILTS, variance).residual_noise > 0
    with pytest.raises(InvalidParameter, match="label 7 of pair"):
        fit_neck_to_tilt_series(fill, labels, (1, 7), images, TILTS, 1.0)
    assert ndimage.label(labels > 0)[1] == 1  # the phantom is one body: the pair touches
    # a pair wholly inside the images' filled edges has no data to be fitted to: said, not fitted
    fit = fit_neck_to_tilt_series(fill, labels, (1, 2), images, TILTS, 1.0, edge_px=(24, 0))
    assert not fit.accepted and "hold data" in fit.reason and np.isnan(fit.r_n_vox)


def test_broadcast_signed_distance_matches_the_point_form_and_the_spheres():
    from insitu4d.shape_fit import _union_sdf, union_sdf_zyx
    p = np.array([10.0, 12.0, 11.0, 10.0, 12.0, 29.0, 8.0, 6.0, 2.0])
    axes = np.ix_(*[np.arange(n, dtype=np.float64) for n in (24, 24, 40)])
    grid = np.stack(np.meshgrid(*[a.ravel() for a in axes], indexing="ij"), -1).reshape(-1, 3)
    np.testing.assert_allclose(union_sdf_zyx(p, *axes).ravel(), _union_sdf(p, grid), atol=1e-9)
    # oracle: at a sphere's centre the distance is minus its radius; 3 voxels past sphere b along the axis, +3
    assert union_sdf_zyx(p, np.array(10.0), np.array(12.0), np.array(11.0)) == pytest.approx(-8.0)
    assert union_sdf_zyx(p, np.array(10.0), np.array(12.0), np.array(38.0)) == pytest.approx(3.0)


@pytest.mark.parametrize("axis", ["random", "along x", "nearly along x", "along z"])
@pytest.mark.parametrize("seed", range(4))
def test_compiled_occupancy_equals_the_array_formula(seed, axis):
    # oracle: clip(½ − d, 0, 1) with d from union_sdf_zyx (NumPy, float64) at every voxel, on a box off the
    # origin, random spheres and collars (float32 output: 1e-6). The kernel evaluates only the surface's band
    # on each row (x), so the pair axis is also taken along the rows, nearly along them and across them.
    from insitu4d.shape_fit import render_occupancy, union_sdf_zyx
    rng = np.random.default_rng(seed)
    a = rng.uniform(5, 25, 3)
    b = {"random": rng.uniform(5, 25, 3), "along x": a + [0.0, 0.0, 12.0],
         "nearly along x": a + [1e-5, -2e-5, 12.0], "along z": a + [12.0, 0.0, 0.0]}[axis]
    p = np.concatenate([a, b, rng.uniform(2, 9, 2), [rng.uniform(0, 5)]])
    origin = tuple(int(v) for v in rng.integers(-3, 4, 3))
    out = np.empty((23, 30, 27), np.float32)
    render_occupancy(p, origin, out)
    axes = np.ix_(*[np.arange(o, o + n, dtype=np.float64) for o, n in zip(origin, out.shape)])
    expected = np.clip(0.5 - union_sdf_zyx(p, *axes), 0.0, 1.0)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert 0 < out.sum() < out.size  # the box holds surface
    # every third row: the same values as the rows of a box three times as tall
    tall = np.empty((23, 3 * 10, 27), np.float32)
    render_occupancy(p, origin, tall)
    render_occupancy(p, origin, sparse := np.empty((23, 10, 27), np.float32), row_step=3)
    np.testing.assert_array_equal(sparse, tall[:, ::3])
    # in the projector's order (z, x, y): the same values, transposed (the distances' sums taken in another
    # order: float64 rounding, far below float32's)
    for step in (1, 3):
        swapped = render_occupancy(p, origin, np.empty((23, 27, 10), np.float32), row_step=step, order="zxy")
        np.testing.assert_allclose(swapped, tall[:, ::step][:, :10].transpose(0, 2, 1), atol=1e-6)
    for bad in (0, -2, 1.5):
        with pytest.raises(InvalidParameter, match="row_step must be a whole number"):
            render_occupancy(p, origin, sparse, row_step=bad)
    with pytest.raises(InvalidParameter, match="order must be 'zyx' or 'zxy'"):
        render_occupancy(p, origin, sparse, order="xyz")
