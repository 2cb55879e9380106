"""Sintering geometry models against the closed forms and exact points of docs/science.md §2."""

import numpy as np
import pytest

from insitu4d.errors import InvalidParameter
from insitu4d.physics import (
    model_c_com_distance,
    model_c_distance,
    model_c_distance_unequal,
    model_c_neck_radius,
    truncated_sphere,
    two_sphere_halves,
)
from insitu4d.physics.geometry import (
    neck_distance_curve,
)


@pytest.mark.parametrize("rho,expected", [(0.6, 122 / 135), (0.8, 49 / 60), (np.sqrt(3) / 2, 7 / 9), (1.0, 2 / 3),
                                          (0.1, 0.99749582), (0.5, 0.93461586), (0.9, 0.75488142)])
def test_model_c_exact_points(rho, expected):
    assert model_c_distance(rho * 7.0, 7.0) / 14.0 == pytest.approx(expected, rel=1e-8)


def test_model_c_inverse_and_small_neck_limit():
    rho = np.linspace(0.0, 1.0, 41)
    d = model_c_distance(rho * 3.0, 3.0)
    np.testing.assert_allclose(model_c_neck_radius(d, 3.0), rho * 3.0, atol=1e-7)
    small = np.array([1e-3, 1e-2])
    np.testing.assert_allclose(model_c_distance(small, 1.0) / 2, 1 - small ** 2 / 4, rtol=1e-8)


def test_model_c_volume_is_conserved_on_a_grid():
    # independent check: voxelise the union of the spheres plus the collar (ρ ≤ r_n between
    # the sphere surfaces) on a fine grid and compare with two sphere volumes (grid error
    # ~0.3 % at 60 samples per radius).
    r_p, r_n = 1.0, 0.8
    d = model_c_distance(r_n, r_p)
    h = 1 / 60
    x = np.arange(-d / 2 - r_p - 2 * h, d / 2 + r_p + 2 * h, h)
    y = np.arange(-r_p - 2 * h, r_p + 2 * h, h)
    X, Y, Z = np.meshgrid(x, y, y, indexing="ij", sparse=True)
    rho2 = Y ** 2 + Z ** 2
    body = ((X - d / 2) ** 2 + rho2 <= r_p ** 2) | ((X + d / 2) ** 2 + rho2 <= r_p ** 2) | \
        ((np.abs(X) <= d / 2) & (rho2 <= r_n ** 2))
    assert body.sum() * h ** 3 == pytest.approx(2 * 4 / 3 * np.pi * r_p ** 3, rel=0.01)


def test_model_c_unequal_reduces_to_equal_and_com_table():
    np.testing.assert_allclose(model_c_distance_unequal(0.6, 1.0, 1.0), model_c_distance(0.6, 1.0), rtol=1e-12)
    d = model_c_distance_unequal(1e-6, 1.0, 2.0)
    assert d == pytest.approx(3.0, abs=1e-9)
    assert model_c_com_distance(1.0, 1.0) / 2 == pytest.approx(11 / 16, rel=1e-9)
    assert model_c_com_distance(0.8, 1.0) / 2 == pytest.approx(0.81980000, rel=1e-7)


def test_two_sphere_halves_on_a_grid():
    # independent check of a body that is not model C (centre distance free): voxelise the two
    # spheres and the collar on a fine grid, cut it where the left part holds r_1³ / (r_1³ + r_2³)
    # of the volume, and take each part's centre of mass (grid error ~0.2 % at 80 samples per radius)
    r_1, r_2, r_n, d = 1.0, 0.8, 0.5, 1.5
    h = 1 / 80
    x = np.arange(-d / 2 - r_1 - 2 * h, d / 2 + r_2 + 2 * h, h)
    y = np.arange(-r_1 - 2 * h, r_1 + 2 * h, h)
    X, Y, Z = np.meshgrid(x, y, y, indexing="ij", sparse=True)
    rho2 = Y ** 2 + Z ** 2
    body = ((X + d / 2) ** 2 + rho2 <= r_1 ** 2) | ((X - d / 2) ** 2 + rho2 <= r_2 ** 2) | \
        ((np.abs(X) <= d / 2) & (rho2 <= r_n ** 2))
    area = body.sum(axis=(1, 2)).astype(float)  # per x slice
    cut = np.searchsorted(np.cumsum(area), area.sum() * r_1 ** 3 / (r_1 ** 3 + r_2 ** 3))
    c_1 = (x[:cut] * area[:cut]).sum() / area[:cut].sum()
    c_2 = (x[cut:] * area[cut:]).sum() / area[cut:].sum()
    halves = two_sphere_halves(r_n, r_1, r_2, d)
    assert halves.d == d
    assert halves.d_com == pytest.approx(c_2 - c_1, rel=0.005)
    assert halves.split == pytest.approx(x[cut], abs=2 * h)


def test_two_sphere_halves_limits_and_errors():
    # apart and without a collar, each half is its sphere: the centres of mass are the centres
    assert two_sphere_halves(0.0, 1.0, 0.7, 2.5).d_com == pytest.approx(2.5, rel=1e-9)
    # equal spheres: the cut is the mid-plane
    assert two_sphere_halves(0.6, 1.0, 1.0, 1.7).split == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(InvalidParameter, match=r"neither inside the other\); got r_n=0.2, r_1=1.0, r_2=0.3, d=0.5"):
        two_sphere_halves(0.2, 1.0, 0.3, 0.5)


@pytest.mark.parametrize("x,d_half,a", [(0.1, 0.99499374, 1.00000627), (0.5, 0.87092592, 1.00424696),
                                        (0.9, 0.54791564, 1.05366577), (1.2, 0.11431890, 1.20543304)])
def test_truncated_sphere_reference_values(x, d_half, a):
    d, radius = truncated_sphere(x, 1.0)
    assert d / 2 == pytest.approx(d_half, abs=2e-8)
    assert radius == pytest.approx(a, abs=2e-8)


def test_geometry_errors_say_the_valid_range():
    with pytest.raises(InvalidParameter, match="0 ≤ r_n ≤ r_p"):
        model_c_distance(2.0, 1.0)
    with pytest.raises(InvalidParameter, match="4 r_p/3 ≤ d ≤ 2 r_p"):
        model_c_neck_radius(2.5, 1.0)
    with pytest.raises(InvalidParameter, match=r"0 ≤ x ≤ 2\^\(1/3\) a₀"):
        truncated_sphere(1.3, 1.0)


@pytest.mark.parametrize("rho,d2d,r_eq", [(0.1, 0.99755, 0.99997), (0.5, 0.94153, 0.99649), (0.8, 0.84816, 0.98385),
                                          (0.9, 0.80312, 0.97530), (1.0, 0.74319, 0.96146)])
def test_protocol_2d_flavour_of_model_c(rho, d2d, r_eq):
    # docs/science.md §2–3 (silhouette centroids over r_p, and r_eq,2D / r_p): the protocol reports
    # both over r_eq, so d/(2 r_eq) = d2d / r_eq (0.862 at ρ = 0.8, as the notes' voxel check)
    d, n = neck_distance_curve("model_c", "protocol_2d", rho)
    assert d[0] == pytest.approx(d2d / r_eq, abs=2e-5)
    assert n[0] == pytest.approx(rho / r_eq, abs=2e-5)


def test_centre_and_com_flavours_match_the_closed_forms():
    rho = np.array([0.1, 0.3, 0.5, 0.6, 0.8, np.sqrt(3) / 2, 0.9, 1.0])
    d, n = neck_distance_curve("model_c", "com", rho)
    np.testing.assert_allclose(d, model_c_com_distance(rho, 1.0) / 2, atol=1e-9)  # numeric vs closed form
    assert d[-1] == pytest.approx(11 / 16, abs=1e-9)
    d, _ = neck_distance_curve("model_c", "centres", rho)
    np.testing.assert_allclose(d, model_c_distance(rho, 1.0) / 2, atol=1e-12)
    d, _ = neck_distance_curve("truncated_sphere", "centres", [0.1, 0.5, 1.2])
    np.testing.assert_allclose(d, [0.99499374, 0.87092592, 0.11431890], atol=1e-8)
    d, _ = neck_distance_curve("interpenetration", "centres", [0.6])
    assert d[0] == pytest.approx(0.8)  # √(1 − x²)
    d, _ = neck_distance_curve("interpenetration", "com", [0.0])
    assert d[0] == pytest.approx(1.0, abs=1e-9)  # touching spheres: COM at the centre
    with pytest.raises(InvalidParameter, match="unknown geometry model"):
        neck_distance_curve("model_d", "com", 0.5)
    with pytest.raises(InvalidParameter, match="unknown flavour"):
        neck_distance_curve("model_c", "3d", 0.5)
