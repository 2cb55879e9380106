"""Rules behind the report's figures: which plane shows a neck, and axis ranges that never cut data off."""

from __future__ import annotations

import numpy as np
import pytest

from insitu4d.report.neck_slices import neck_view, save_neck_slices
from insitu4d.report.timeseries import _covering


def test_the_neck_slice_holds_the_line_of_centres():
    """Centres 40 nm apart along x (z, y equal): the slice is perpendicular to z or y and holds both particles."""
    view = neck_view(1, (50.0, 60.0, 30.0), (50.0, 60.0, 70.0), 18.0, voxel_size_nm=2.0)
    assert view.normal_axis in (0, 1)
    assert view.centre_vox == (25, 30, 25)
    assert view.half_width_vox * 2.0 >= 20.0 + 18.0  # half the distance plus a particle radius
    tilted = neck_view(2, (0.0, 0.0, 0.0), (30.0, 2.0, 5.0), 10.0, voxel_size_nm=1.0)  # mostly along z
    assert tilted.normal_axis == 1  # y: the smallest component, so the plane keeps z and x


def test_axis_ranges_cover_every_point():
    values = [0.4, 1.1, 1.37, -0.2]
    lo, hi = _covering(values)
    assert lo < -0.2 and hi > 1.37
    assert _covering([2.0, 2.0])[0] < 2.0 < _covering([2.0, 2.0])[1]


def test_neck_slices_draw_one_row_per_pair(tmp_path):
    volume = np.zeros((20, 30, 40), np.float32)
    labels = np.zeros((20, 30, 40), np.int32)
    labels[8:12, 10:20, 5:15], labels[8:12, 10:20, 15:25] = 1, 2
    volume[labels > 0] = 1.0
    views = [neck_view(1, (10.0, 15.0, 10.0), (10.0, 15.0, 20.0), 5.0, 1.0)]
    path = save_neck_slices(tmp_path / "n.png", views, [("T01", volume, labels, {1: 3, 2: 4})] * 2, 1.0)
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="nothing to draw"):
        save_neck_slices(tmp_path / "m.png", [], [], 1.0)


def test_the_neck_slices_of_a_4d_run_find_the_particles_by_track_id(tmp_path):
    # the pair table names particles by track id; at a later time point the labels differ from the
    # track ids (here 1, 2 -> 7, 9), which once made the report fail with a KeyError
    from types import SimpleNamespace

    from insitu4d.io.writers import write_array
    from insitu4d.pipeline.four_d import _neck_slices

    labels = np.zeros((20, 30, 40), np.int32)
    labels[8:12, 10:20, 5:15], labels[8:12, 10:20, 15:25] = 1, 2
    for name in ("T01", "T02"):
        (tmp_path / name).mkdir()
        write_array(tmp_path / name / "volume.h5", (labels > 0).astype(np.float32), attrs={"voxel_size_nm": 1.0})
        write_array(tmp_path / name / "labels.h5", labels, attrs={"voxel_size_nm": 1.0})
    experiment = SimpleNamespace(timepoints=[SimpleNamespace(name="T01", time_s=0.0),
                                             SimpleNamespace(name="T02", time_s=5.0)])
    tracks = {"track_of": [{1: 1, 2: 2}, {1: 7, 2: 9}]}
    particle_rows = [{"time_point": tp, "label": label, "track_id": track, "centroid_z_nm": 10.0,
                      "centroid_y_nm": 15.0, "centroid_x_nm": 10.0 * label}
                     for tp, ids in (("T01", tracks["track_of"][0]), ("T02", tracks["track_of"][1]))
                     for label, track in ids.items()]
    pair_rows = [{"time_point": "T02", "pair_id": 1, "label_a": 7, "label_b": 9, "r_p_nm": 5.0}]
    path = _neck_slices(experiment, tmp_path, pair_rows, particle_rows, tracks)
    assert path.read_bytes()[:4] == b"\x89PNG"
