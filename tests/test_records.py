"""The typed measurement records own their columns: the tables' headers, rows and JSON come from the fields."""

import dataclasses
import json

import numpy as np
import pytest
from test_measure import two_sphere_labels

from insitu4d.measure import Measurements, Pair, Particle, measure
from insitu4d.measure.protocol import PROTOCOL_2D_COLUMNS
from insitu4d.measure.records import quantity
from insitu4d.pipeline.four_d import PAIR_TIMESERIES_COLUMNS

#: The headers of particles.csv and pairs.csv as users' scripts read them (the interface the records keep).
PARTICLES_CSV = ["label", "n_voxels", "volume_nm3", "r_p_nm", "r_inscribed_nm", "centroid_z_nm", "centroid_y_nm",
                 "centroid_x_nm", "centre_z_nm", "centre_y_nm", "centre_x_nm", "extent_z_nm", "extent_y_nm",
                 "extent_x_nm", "aspect_ratio_hw", "touches_border"]
PAIRS_CSV = ["label_a", "label_b", "r_n_nm", "r_n_inscribed_nm", "contact_area_nm2", "d_nm", "d_xy_nm", "d_z_nm",
             "d_centre_nm", "r_p_nm", "r_n_over_r_p", "d_over_2r_p", "neck_normal_z", "neck_normal_y",
             "neck_normal_x", "interface_faces", "neck_beam_angle_deg", "r_n_volume_nm", "d_volume_nm",
             *PROTOCOL_2D_COLUMNS]


@pytest.fixture(scope="module")
def measured():
    labels, *_ = two_sphere_labels(10.0, 8.0, 15.0, (0.3, 0.5, 1.0), (40, 40, 40))
    return measure(labels, 1.5)


def test_the_columns_come_from_the_fields():
    assert Particle.columns() == PARTICLES_CSV
    assert Pair.columns() == PAIRS_CSV
    assert Pair.units()["r_n_nm"] == "nm" and Particle.units()["volume_nm3"] == "nm³"
    assert Pair.units()["r_n_over_r_p"] == ""
    # the time series keep the pair quantities a kinetic analysis uses, not the neck's geometry
    kept = Pair.columns(timeseries_only=True)
    assert "r_n_nm" in kept and "neck_normal_z" not in kept and "contact_area_nm2" not in kept
    assert set(kept) <= set(PAIR_TIMESERIES_COLUMNS)


def test_rows_and_json_round_trip(measured):
    (pair,) = measured.pairs
    row = pair.to_row()
    assert list(row) == PAIRS_CSV
    assert (row["label_a"], row["label_b"]) == pair.labels
    assert row["neck_normal_z"] == pair.neck_normal[0] and row["r_n_2d_nm"] == pair.protocol_2d["r_n_nm"]
    back = Measurements.from_dict(json.loads(json.dumps(measured.to_dict())))
    assert back == measured
    assert measured.particle(2) == measured.particles[1]
    with pytest.raises(KeyError):
        measured.particle(9)


def test_a_new_quantity_is_one_field(measured):
    # what adding a per-pair quantity takes: one field (here in a subclass); the columns, rows and JSON follow
    @dataclasses.dataclass(frozen=True)
    class TiltedPair(Pair):
        neck_tilt_deg: float = quantity("deg", default=0.0)

    (pair,) = measured.pairs
    tilt = float(np.degrees(np.arccos(abs(pair.neck_normal[0]))))
    tilted = TiltedPair(**{f.name: getattr(pair, f.name) for f in dataclasses.fields(Pair)}, neck_tilt_deg=tilt)
    assert TiltedPair.columns() == [*PAIRS_CSV, "neck_tilt_deg"]
    assert "neck_tilt_deg" in TiltedPair.columns(timeseries_only=True)
    assert tilted.to_row()["neck_tilt_deg"] == tilt and tilted.to_dict()["neck_tilt_deg"] == tilt
    assert TiltedPair.from_dict(tilted.to_dict()) == tilted
    assert TiltedPair.units()["neck_tilt_deg"] == "deg"
