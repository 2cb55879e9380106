"""Tracking particle identities through time: frame shifts, list order, merges and splits."""

import numpy as np

from insitu4d.measure import Particle
from insitu4d.measure.tracking import track_particles


def _p(label, centroid, r):
    return Particle(label=label, n_voxels=0, volume_nm3=4 / 3 * np.pi * r ** 3, r_p_nm=float(r),
                    r_inscribed_nm=float(r),
                    centroid_nm=tuple(map(float, centroid)), centre_nm=tuple(map(float, centroid)),
                    extent_nm=(2 * r,) * 3, aspect_ratio_hw=1.0, touches_border=False)


def test_identities_survive_frame_shift_and_relabelling():
    t0 = [_p(1, (0, 0, 0), 10), _p(2, (0, 0, 25), 10), _p(3, (0, 40, 0), 6)]
    # next frame: a 30 nm translation (independent alignment), small motions, labels shuffled
    shift = np.array([5.0, -30.0, 12.0])
    t1 = [_p(7, np.add((0, 40, 1), shift), 6), _p(4, np.add((0, 1, 24), shift), 10),
          _p(9, np.add((1, 0, 1), shift), 10)]
    out = track_particles([t0, t1])
    assert out["track_of"][1] == {9: 1, 4: 2, 7: 3}
    np.testing.assert_allclose(out["shifts_nm"][1], shift, atol=1.5)
    assert out["events"] == []


def test_merge_is_recorded_not_lost():
    r = 10.0
    t0 = [_p(1, (0, 0, 0), r), _p(2, (0, 0, 19), r), _p(3, (0, 50, 0), 6)]
    merged_r = r * 2 ** (1 / 3)
    t1 = [_p(1, (0, 0, 9.5), merged_r), _p(2, (0, 50, 0), 6)]
    out = track_particles([t0, t1])
    kinds = [e["kind"] for e in out["events"]]
    assert kinds == ["merge"]
    merged = out["events"][0]
    survivor = out["track_of"][1][1]
    assert survivor in (1, 2) and merged["tracks"] == [3 - survivor] and merged["into"] == survivor
    assert out["track_of"][1][2] == 3


def test_split_and_appearance():
    big = _p(1, (0, 0, 0), 12.6)
    t0 = [big, _p(2, (0, 60, 0), 6)]
    t1 = [_p(1, (0, 0, -5), 10), _p(2, (0, 0, 15), 10), _p(3, (0, 60, 0), 6), _p(4, (0, -80, 0), 5)]
    out = track_particles([t0, t1])
    events = sorted((e["kind"], e.get("from")) for e in out["events"])
    assert events == [("appear", None), ("split", 1)]
