"""Ihara et al.'s 2D protocol against the integrated model-C geometry and voxel checks."""

import numpy as np
import pytest

from insitu4d.errors import InvalidParameter
from insitu4d.measure import measure, measure_pair_protocol_2d
from insitu4d.physics.geometry import model_c_distance, neck_distance_curve
from insitu4d.simulate.phantom import SinteringPair, Sphere, voxelise

R_P = 40.0  # px, as the notes' voxel simulations (sim_ihara.py)


def model_c_labels(rho, axis, shape=(150, 150, 150)):
    pair = SinteringPair((0.0, 0.0, 0.0), axis, R_P, rho * R_P)
    return voxelise(shape, 1.0, pairs=[pair], supersample=1)[1]


@pytest.mark.parametrize("rho, axis", [(0.8, (0, 0, 1)), (0.8, (0, 1, 1)), (0.6, (0, 0.3, 1))])
def test_in_plane_axis_reproduces_the_protocol_flavour_of_model_c(rho, axis):
    """Voxels vs the numerical integral of neck_distance_curve('model_c', 'protocol_2d').

    Tolerances: 0.003 in d/(2r_eq) and 0.01 in r_n/r_eq, the discretisation of a r_p = 40 px
    body (a silhouette centroid moves by < 0.1 px, the neck width by < 1 px).
    """
    r = measure_pair_protocol_2d(model_c_labels(rho, axis), 1.0, (1, 2))
    d_curve, n_curve = neck_distance_curve("model_c", "protocol_2d", rho)
    assert r["d_over_2r_p"] == pytest.approx(d_curve[0], abs=0.003)
    assert r["r_n_over_r_p"] == pytest.approx(n_curve[0], abs=0.01)
    assert r["d_z_nm"] == pytest.approx(0.0, abs=0.5)


def test_notes_voxel_check_at_rho_08():
    """docs/science.md §2–3: protocol d/(2r_eq) = 0.861 (voxels) against 0.817 for sphere centres;
    r_eq,2D/r_p = 0.98385. The 3D centroid estimator on the same voxels reads the COM column, 0.8198."""
    labels = model_c_labels(0.8, (0, 0, 1))
    r = measure_pair_protocol_2d(labels, 1.0, (1, 2))
    assert r["d_over_2r_p"] == pytest.approx(0.861, abs=0.002)
    assert r["r_p_nm"] / R_P == pytest.approx(0.98385, abs=0.003)
    assert r["r_n_nm"] == pytest.approx(0.8 * R_P, abs=1.0)
    (pair,) = measure(labels, 1.0).pairs
    assert pair.d_over_2r_p == pytest.approx(0.8198, abs=0.003)
    assert pair.protocol_2d["d_over_2r_p"] == pytest.approx(r["d_over_2r_p"])


@pytest.mark.parametrize("axis, expected", [((0.5, 0, 1), 0.49), ((1, 0, 1), 0.71)])
def test_out_of_plane_axis_widens_the_projected_neck(axis, expected):
    """docs/science.md §3: at ρ = 0.3 the projected neck reads r_n/r_p = 0.49 for an axis 26.6°
    out of plane and 0.71 at 45° (the spheres overlap in projection); ±0.02 for the voxels.
    d_z from the bounding-box midpoints recovers the true out-of-plane distance within 1 px."""
    labels = model_c_labels(0.3, axis)
    r = measure_pair_protocol_2d(labels, 1.0, (1, 2))
    assert r["r_n_over_r_p"] == pytest.approx(expected, abs=0.02)
    u = np.asarray(axis, float) / np.linalg.norm(axis)
    d_true = float(model_c_distance(0.3 * R_P, R_P))
    # the top and bottom points of each sphere (centre ± R ẑ) lie on its own side of the neck plane
    # (R u_z < d/2 for both axes), so each half's z extent is centred on its sphere centre
    assert r["d_z_nm"] == pytest.approx(d_true * u[0], abs=1.0)


def test_aspect_ratio_along_the_pair_axis():
    """Two touching 2:1 ellipsoids, long axes along the pair axis (x): H/W of each silhouette
    is 2 within a pixel's worth (±1/W)."""
    a = Sphere((0.0, 0.0, -20.0), (10.0, 10.0, 20.0))
    b = Sphere((0.0, 0.0, 19.0), (10.0, 10.0, 20.0))
    labels = voxelise((40, 40, 100), 1.0, spheres=[a, b], supersample=1)[1]
    r = measure_pair_protocol_2d(labels, 1.0, (1, 2))
    assert r["aspect_ratio_hw"] == pytest.approx(2.0, abs=0.1)
    assert r["r_p_nm"] == pytest.approx(np.sqrt(20 * 10), rel=0.03)  # equal-area circle of a 20 × 10 ellipse


def test_axis_along_the_beam_has_no_projected_neck():
    labels = model_c_labels(0.5, (1, 0, 0))
    r = measure_pair_protocol_2d(labels, 1.0, (1, 2))
    assert np.isnan(r["r_n_nm"]) and "along the beam" in r["warning"]
    assert r["d_nm"] == pytest.approx(r["d_z_nm"])


def test_bad_pair_messages():
    labels = model_c_labels(0.5, (0, 0, 1), shape=(100, 100, 150))
    with pytest.raises(InvalidParameter, match="label 7 is not in the label volume"):
        measure_pair_protocol_2d(labels, 1.0, (1, 7))
    with pytest.raises(InvalidParameter, match="two different labels"):
        measure_pair_protocol_2d(labels, 1.0, (2, 2))
