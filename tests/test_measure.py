import numpy as np
import pytest

from insitu4d.errors import InvalidParameter, NotAStack
from insitu4d.measure import Measurements, Pair, interface_vectors, measure


def two_sphere_labels(R1, R2, d, axis, shape, centre_offset=(0.0, 0.0, 0.0)):
    """Ground truth: two intersecting spheres split at their intersection plane.

    Sphere 1 at c − u d/2, sphere 2 at c + u d/2; the plane of the intersection circle is
    at distance x = (d² + R1² − R2²)/(2d) from centre 1; the neck radius is √(R1² − x²).
    """
    u = np.asarray(axis, float)
    u /= np.linalg.norm(u)
    c = (np.array(shape) - 1) / 2 + np.asarray(centre_offset)
    c1, c2 = c - u * d / 2, c + u * d / 2
    g = np.indices(shape).reshape(3, -1).T.astype(float)
    in1 = np.linalg.norm(g - c1, axis=1) <= R1
    in2 = np.linalg.norm(g - c2, axis=1) <= R2
    x = (d * d + R1 * R1 - R2 * R2) / (2 * d)
    side = (g - c1) @ u
    lab = np.zeros(len(g), np.int32)
    lab[(in1 | in2) & (side < x)] = 1
    lab[(in1 | in2) & (side >= x)] = 2
    return lab.reshape(shape), np.sqrt(R1 * R1 - x * x), x, c1, c2


def random_cases(n=24, seed=11):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < n:
        R1, R2 = rng.uniform(7, 15, 2)
        d = rng.uniform(0.55, 0.97) * (R1 + R2)
        x = (d * d + R1 * R1 - R2 * R2) / (2 * d)
        if not (1.0 < x < d - 1.0 and x < R1 - 0.5):  # each centre on its own side, a real neck
            continue
        axis = rng.normal(size=3)
        vs = rng.uniform(0.3, 2.5)
        off = rng.uniform(-0.5, 0.5, 3)
        cases.append((R1, R2, d, axis, vs, off))
    return cases


@pytest.mark.parametrize("case", random_cases(), ids=lambda c: f"R{c[0]:.1f}-{c[1]:.1f}-d{c[2]:.1f}")
def test_two_overlapping_spheres_exact_within_one_voxel(case):
    # Acceptance: neck radius √(R1² − x²) and inscribed radii R1, R2 within 1 voxel, any
    # orientation, voxel size ≠ 1. Sources of error: voxelisation of the rim and of the
    # surfaces (< 1 voxel).
    R1, R2, d, axis, vs, off = case
    n = int(np.ceil(R1 + R2 + d)) + 6
    labels, r_n, _, _, _ = two_sphere_labels(R1, R2, d, axis, (n, n, n), off)
    m = measure(labels, vs)
    (pair,) = m.pairs
    p1, p2 = m.particles
    assert pair.labels == (1, 2)
    assert abs(pair.r_n_nm / vs - r_n) < 1.0
    assert abs(pair.r_n_inscribed_nm / vs - r_n) < 1.0
    assert abs(p1.r_inscribed_nm / vs - R1) < 1.0
    assert abs(p2.r_inscribed_nm / vs - R2) < 1.0
    # the equal-volume radius of a truncated sphere is smaller than its sphere's radius
    assert p1.r_p_nm < p1.r_inscribed_nm + vs and p2.r_p_nm < p2.r_inscribed_nm + vs


def test_truncated_sphere_centroid_volume_and_distance():
    # oracle: closed forms for a sphere (R) minus the cap beyond a plane at distance x from
    # its centre: cap height h = R − x, V_cap = π h² (3R − h)/3, cap centroid at
    # 3(2R − h)²/(4(3R − h)) from the centre. Tolerances: volume 2 % (voxelisation of a
    # ~10⁴-voxel body), centroid 0.3 voxel.
    R, d = 14.0, 20.0
    labels, _, x, c1, c2 = two_sphere_labels(R, R, d, (1.0, 2.0, 0.5), (48, 48, 48))
    h = R - x
    v_sphere = 4 / 3 * np.pi * R**3
    v_cap = np.pi * h * h * (3 * R - h) / 3
    z_cap = 3 * (2 * R - h) ** 2 / (4 * (3 * R - h))
    shift = -v_cap * z_cap / (v_sphere - v_cap)  # centroid moves away from the plane
    u = (c2 - c1) / np.linalg.norm(c2 - c1)
    m = measure(labels, 1.0)
    p1, p2 = m.particles
    assert p1.volume_nm3 == pytest.approx(v_sphere - v_cap, rel=0.02)
    np.testing.assert_allclose(p1.centroid_nm, c1 + shift * u, atol=0.3)
    np.testing.assert_allclose(p2.centroid_nm, c2 - shift * u, atol=0.3)
    pair = m.pairs[0]
    assert pair.d_nm == pytest.approx(d - 2 * shift, abs=0.4)
    assert pair.d_centre_nm == pytest.approx(d, abs=1.5)  # EDT maxima: voxel positions
    dvec = np.subtract(p2.centroid_nm, p1.centroid_nm)
    assert pair.d_z_nm == pytest.approx(abs(dvec[0]))
    assert pair.d_xy_nm == pytest.approx(np.hypot(dvec[1], dvec[2]))
    assert pair.d_over_2r_p == pytest.approx(pair.d_nm / (2 * pair.r_p_nm))
    np.testing.assert_allclose(pair.neck_normal, u, atol=0.05)
    # oracle: the pair axis u; the angle to the beam (z) is arccos |u_z|, to the 0.05 of the normal above
    assert pair.neck_beam_angle_deg == pytest.approx(np.degrees(np.arccos(abs(u[0]))), abs=3.0)
    assert "neck_beam_angle_deg" in pair.to_row() and Pair.units()["neck_beam_angle_deg"] == "deg"


def test_raw_face_count_overestimates_oblique_neck_vector_area_does_not():
    # docs/science.md §3: raw count ≈ (|n_z| + |n_y| + |n_x|) × area; for a (1,1,1) normal ≈ √3
    labels, r_n, *_ = two_sphere_labels(16.0, 16.0, 20.0, (1.0, 1.0, 1.0), (56, 56, 56))
    (iv,) = interface_vectors(labels).values()
    area = np.pi * r_n**2
    assert np.linalg.norm(iv["S"]) == pytest.approx(area, rel=0.08)
    assert iv["faces"] / area == pytest.approx(np.sqrt(3), rel=0.08)


def test_ellipsoid_aspect_ratio_and_sphere_radius():
    # oracle: covariance of a uniform ellipsoid has eigenvalues a²/5, b²/5, c²/5 → H/W = a/c
    g = np.indices((40, 40, 40)).astype(float) - 19.5
    ell = (g[0] / 8) ** 2 + (g[1] / 12) ** 2 + (g[2] / 16) ** 2 <= 1
    sph = (g[0] ** 2 + g[1] ** 2 + g[2] ** 2) <= 10**2
    p_ell = measure(ell.astype(np.int32), 1.0).particles[0]
    p_sph = measure(sph.astype(np.int32) * 3, 0.5).particles[0]
    assert p_ell.aspect_ratio_hw == pytest.approx(2.0, rel=0.03)
    assert p_sph.label == 3
    assert p_sph.r_p_nm == pytest.approx(5.0, rel=0.01)  # equal-volume radius, 10 voxels × 0.5 nm
    assert p_sph.aspect_ratio_hw == pytest.approx(1.0, abs=0.02)
    assert p_sph.extent_nm == (10.0, 10.0, 10.0)  # centre at a voxel corner: 20 voxels across
    assert not p_sph.touches_border


def test_no_pairs_for_separate_particles():
    lab = np.zeros((10, 10, 10), np.int32)
    lab[1:3, 1:3, 1:3] = 1
    lab[6:8, 6:8, 6:8] = 2
    m = measure(lab, 1.0)
    assert len(m.particles) == 2 and m.pairs == ()
    assert measure(np.zeros((4, 4, 4), np.int32), 1.0) == Measurements(1.0, (), ())


def test_bad_labels_messages():
    with pytest.raises(InvalidParameter, match="labels must hold integers"):
        measure(np.full((3, 3, 3), 0.5), 1.0)
    with pytest.raises(InvalidParameter, match="voxel size must be a positive number"):
        measure(np.zeros((3, 3, 3), np.int32), 0.0)
    with pytest.raises(NotAStack, match="3D array"):
        measure(np.zeros((3, 3), np.int32), 1.0)
