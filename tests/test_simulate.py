"""Digital twin: voxelised volume conservation, dose-limited counts, and the written files."""

import numpy as np
import pytest

from insitu4d.io import read_tilt_series
from insitu4d.physics import model_c_distance
from insitu4d.simulate.haadf import haadf_tilt_series, incident_electrons_per_pixel, mean_free_path_nm
from insitu4d.simulate.phantom import SinteringPair, Sphere, voxelise
from insitu4d.simulate.twin import PairSpec, TwinSpec, neck_radius_nm, simulate_time_point, write_twin


@pytest.mark.parametrize("ratio", [0.2, 0.6, 0.9])
def test_voxelised_pair_conserves_two_sphere_volumes(ratio):
    # oracle: model C keeps 2 × (4/3)π r_p³ at every neck; supersampled voxelisation
    # reproduces it within 1 % at r_p = 8 voxels, and each half holds one sphere's volume.
    r_p = 8.0
    pair = SinteringPair((0.0, 0.0, 0.0), (0.3, 0.2, 1.0), r_p, ratio * r_p)
    fill, labels, zmap = voxelise((40, 40, 40), 1.0, pairs=[pair], supersample=4)
    sphere = 4 / 3 * np.pi * r_p ** 3
    assert fill.sum() == pytest.approx(2 * sphere, rel=0.01)
    for lab in (1, 2):
        assert (labels == lab).sum() == pytest.approx(sphere, rel=0.03)
    assert set(np.unique(zmap)) == {0, 29}
    assert pair.d_nm == pytest.approx(model_c_distance(ratio * r_p, r_p))


def test_sphere_and_ellipsoid_volumes():
    s = Sphere.round((2.0, -3.0, 1.0), 6.0)
    e = Sphere((0.0, 10.0, 0.0), (3.0, 4.0, 5.0))
    fill, labels, _ = voxelise((30, 40, 30), 1.0, spheres=[s, e])
    assert (labels == 1).sum() == pytest.approx(4 / 3 * np.pi * 216, rel=0.03)
    assert (labels == 2).sum() == pytest.approx(4 / 3 * np.pi * 60, rel=0.05)
    assert fill.sum() == pytest.approx(4 / 3 * np.pi * (216 + 60), rel=0.01)


def test_counts_follow_dose_and_thickness():
    # oracle: a Cu sphere (r = 10 nm); mean counts behind its centre at 0° equal
    # N0 (1 − exp(−2R/λ)) with N0 from the dose, to Poisson precision over many images.
    r, h = 10.0, 2.0
    fill, _, zmap = voxelise((16, 8, 16), h, spheres=[Sphere.round((0, 0, 0), r)], supersample=4)
    ts, expected, shifts = haadf_tilt_series(fill, zmap, h, np.linspace(-0.1, 0.1, 400), dose_e_per_nm2=2000.0,
                                             rng=np.random.default_rng(1))
    n0 = incident_electrons_per_pixel(2000.0, 400, h)
    assert n0 == pytest.approx(20.0)
    thick = 2 * np.sqrt(r * r - 2.0)  # chord through the pixel centres, 1 nm off axis in y and x
    centre = ts.data[:, 3:5, 7:9].mean()
    assert centre == pytest.approx(n0 * -np.expm1(-thick / mean_free_path_nm(29)), rel=0.1)
    assert ts.data[:, 0, 0].max() == 0  # vacuum gives no counts
    assert np.all(shifts == 0)


def test_neck_law_and_time_point_truth():
    pair = PairSpec((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 20.0, law_n=5, law_B_per_s=1e-3, t0_s=-10.0)
    assert neck_radius_nm(pair, -20.0) == 0.0
    assert neck_radius_nm(pair, 90.0) == pytest.approx(20.0 * 0.1 ** 0.2)
    spec = TwinSpec((32, 24, 48), 2.0, tuple(np.arange(-40, 41, 4.0)), 250.0, (0.0, 90.0), pairs=(pair,),
                    seed=3, drift_max_px=2.0, tilt_axis_offset_px=3.0)
    ts, truth, labels, shifts = simulate_time_point(spec, 1)
    assert ts.shape == (21, 24, 48) and ts.pixel_size_nm == 2.0
    assert truth[0]["r_n_nm"] == pytest.approx(20.0 * 0.1 ** 0.2)
    assert truth[0]["d_nm"] == pytest.approx(model_c_distance(truth[0]["r_n_nm"], 20.0))
    assert truth[0]["d_com_nm"] > truth[0]["d_nm"]
    assert set(np.unique(labels)) == {0, 1, 2}
    assert np.abs(shifts).max() <= 2.0 + 3.0 and np.allclose(shifts[:, 1].mean(), 3.0, atol=2.0)


def test_write_twin_reads_back(tmp_path):
    pair = PairSpec((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 10.0, law_B_per_s=1e-2)
    tilts = tuple(np.arange(-30.0, 31.0, 10.0))  # 7: the fewest a reader takes
    spec = TwinSpec((20, 8, 32), 1.5, tilts, 250.0, (0.0, 10.0), pairs=(pair,))
    out = write_twin(spec, tmp_path)
    ts = read_tilt_series(out["tilt_series"][1])
    np.testing.assert_allclose(ts.tilts_deg, tilts)
    assert ts.pixel_size_nm == pytest.approx(1.5)
    rows = (tmp_path / "truth.csv").read_text().splitlines()
    assert rows[0].startswith("time_s,pair_id,label_a,label_b,r_n_nm,d_nm") and len(rows) == 3


def test_simulator_inputs_are_refused_with_the_fix(tmp_path):
    from insitu4d.data import TiltSeries
    from insitu4d.errors import InvalidParameter, UnreadableFile
    from insitu4d.io import write_tilt_series

    with pytest.raises(InvalidParameter, match="must be positive"):
        incident_electrons_per_pixel(0.0, 41, 1.0)
    with pytest.raises(InvalidParameter, match="atomic number must be ≥ 1"):
        mean_free_path_nm(0)
    with pytest.raises(InvalidParameter, match="needs n > 0 and B ≥ 0"):
        neck_radius_nm(PairSpec((0, 0, 0), (0, 0, 1), 10.0, law_n=0.0), 1.0)
    with pytest.raises(InvalidParameter, match="axis must be a non-zero vector"):
        SinteringPair((0, 0, 0), (0, 0, 0), 5.0, 1.0).centres_nm()
    ts = TiltSeries(np.zeros((2, 4, 4), np.float32), [-1.0, 1.0], 1.0)
    with pytest.raises(UnreadableFile, match="use a .mrc file name"):
        write_tilt_series(tmp_path / "x.tif", ts)
