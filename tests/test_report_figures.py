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
