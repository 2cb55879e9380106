"""Error bars from the twin: the scene rebuilt from measurements, the interpolation, the settings' errors."""

import numpy as np
import pytest

from insitu4d.errors import InvalidParameter
from insitu4d.measure import measure
from insitu4d.physics import model_c_com_distance
from insitu4d.pipeline import read_experiment
from insitu4d.pipeline.uncertainty import (MIN_RESPONSE, UncertaintyParameters, bias_response, error_bars,
                                           error_column, scene_from_measurements, twin_uncertainty)
from insitu4d.pipeline.run import RunParameters
from insitu4d.simulate.compare import score_pairs
from insitu4d.simulate.phantom import SinteringPair, Sphere, voxelise


def test_scene_rebuilt_from_the_measurements_of_a_known_scene():
    # Oracle: a known model-C pair and a sphere, voxelised and measured on their true labels.
    # The rebuilt scene must give back the pair's r_p (each model-C half holds the volume of
    # a sphere of r_p, so the equivalent radius is r_p up to voxelisation, < 2 %), its r_n
    # (measured neck on a voxel grid: ±1 voxel), its neck centre and axis, and the sphere.
    h, shape = 2.0, (40, 44, 72)
    pair = SinteringPair((2.0, -4.0, 6.0), (0.2, 0.3, 0.93), 20.0, 11.0)
    sphere = Sphere.round((-10.0, 30.0, -50.0), 12.0)
    _, labels, _ = voxelise(shape, h, [sphere], [pair])
    spheres, pairs, pair_labels = scene_from_measurements(measure(labels, h), shape, h, Z=47)
    assert len(pairs) == 1 and len(spheres) == 1 and sorted(pair_labels[0]) == [2, 3]
    rebuilt = pairs[0]
    assert rebuilt.r_p_nm == pytest.approx(20.0, rel=0.02)
    assert abs(rebuilt.r_n_nm - 11.0) <= h
    assert np.linalg.norm(np.subtract(rebuilt.midpoint_nm, pair.midpoint_nm)) < 0.5 * h
    u, v = (np.asarray(a) / np.linalg.norm(a) for a in (rebuilt.axis, pair.axis))
    assert np.degrees(np.arccos(abs(u @ v))) < 3.0
    assert spheres[0].semi_axes_nm[0] == pytest.approx(12.0, rel=0.03)
    assert np.linalg.norm(np.subtract(spheres[0].centre_nm, sphere.centre_nm)) < 0.3 * h
    assert rebuilt.Z == 47 and spheres[0].Z == 47


def test_scoring_a_perfect_measurement_gives_zero_error():
    # the truth labels measured as if reconstructed: every error is the voxelisation's only
    h = 2.0
    pair = SinteringPair((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), 16.0, 8.0)
    _, labels, _ = voxelise((32, 32, 64), h, [], [pair])
    truth = [{"pair_id": 1, "label_a": 1, "label_b": 2, "r_n_nm": 8.0, "d_nm": pair.d_nm,
              "d_com_nm": float(model_c_com_distance(8.0, 16.0)), "r_p_nm": 16.0}]
    (row,) = score_pairs(truth, labels, measure(labels, h), h)
    assert row["found"]
    assert abs(row["measured"]["r_n_nm"] - row["true"]["r_n_nm"]) <= h
    assert abs(row["measured"]["d_nm"] - row["true"]["d_nm"]) < 0.25 * h
    assert row["measured"]["hw_a"] == pytest.approx(row["true"]["hw_a"])  # measured on the same labels


def test_error_bars_interpolate_in_time():
    rows = [{"pair_id": 1, "quantity": "r_n_nm", "time_s": 0.0, "error_bar": 2.0},
            {"pair_id": 1, "quantity": "r_n_nm", "time_s": 10.0, "error_bar": 1.0},
            {"pair_id": 1, "quantity": "d_nm", "time_s": 0.0, "error_bar": 9.0},
            {"pair_id": 2, "quantity": "r_n_nm", "time_s": 5.0, "error_bar": float("nan")}]
    np.testing.assert_allclose(error_bars(rows, 1, "r_n_nm", [-5, 0, 2.5, 10, 20]), [2.0, 2.0, 1.75, 1.0, 1.0])
    assert np.isnan(error_bars(rows, 2, "r_n_nm", [5.0])).all()
    assert error_column("r_n_nm") == "r_n_err_nm" and error_column("d_over_2r_p") == "d_over_2r_p_err"


def _twin_rows(bias, true_values, sd=0.5, pair_id=1):
    """uncertainty.csv rows of a twin built at ``true_values`` whose measurement has bias ``bias(x)``."""
    rows = []
    for x in true_values:
        b = bias(x)
        rows.append({"pair_id": pair_id, "quantity": "r_n_nm", "twin_true": x, "bias": b, "sd": sd, "n_found": 3,
                     "rms": float(np.hypot(b, sd * np.sqrt(2 / 3)))})
    return rows


#: The predictive SD of one more measurement from 3 repeats of SD 0.5: 0.5 √(1 + 1/3).
SPREAD = 0.5 * np.sqrt(4 / 3)


def test_bias_carried_to_the_true_state():
    # Oracle: a bias linear in the true value, b(x) = 6 − 0.25 x (a small neck reads wider).
    # A true neck x0 reads m = x0 + b(x0); the twin, built at m, sees b(m), and the error of
    # the reading is m − x0 = b(m) / (1 + b') exactly for a linear b.
    bias = lambda x: 6.0 - 0.25 * x  # noqa: E731
    rows = _twin_rows(bias, [10.0, 16.0, 22.0])
    bias_response(rows)
    for r in rows:
        assert r["response"] == pytest.approx(0.75)
        carried = bias(r["twin_true"]) / 0.75
        assert r["error_bar"] == pytest.approx(np.hypot(carried, SPREAD))
        x0 = r["twin_true"] - carried  # the true value that reads as twin_true
        assert x0 + bias(x0) == pytest.approx(r["twin_true"])
    # a bias that shrinks with size is not extrapolated below the twin's own bias
    rows = _twin_rows(lambda x: 0.5 * x - 5.0, [10.0, 16.0, 22.0])
    bias_response(rows)
    for r in rows:
        assert r["response"] == pytest.approx(1.5) and r["error_bar"] == pytest.approx(np.hypot(r["bias"], SPREAD))
        assert r["error_bar"] >= r["rms"]
    # a measurement that hardly follows the truth: the bias is amplified at most 1 / MIN_RESPONSE times
    rows = _twin_rows(lambda x: 20.0 - 0.95 * x, [10.0, 16.0, 22.0])
    bias_response(rows)
    for r in rows:
        assert r["error_bar"] == pytest.approx(np.hypot(r["bias"] / MIN_RESPONSE, SPREAD))
    # one evaluated time point (or no spread of the truth): no slope, the RMS error as it is
    rows = _twin_rows(bias, [12.0], pair_id=2) + _twin_rows(bias, [np.nan], pair_id=3)
    bias_response(rows)
    assert rows[0]["response"] == 1.0 and rows[0]["error_bar"] == pytest.approx(np.hypot(rows[0]["bias"], SPREAD))


def test_probe_secant_sees_a_bias_the_measured_state_hides():
    # Oracle: a reading that fills a small neck, f(x) = √(x² + 96) (the missing wedge fills the
    # gap beside the neck up to a fixed width). A true neck x0 = 2 reads m = f(2) = 10: the
    # error is 8. The twin built at m sees only b(m) = f(10) − 10 = 3.86; its slope over time
    # points (twin_true 10, 14, 18) carries that to 5.0. The probe at m/2 gives the secant of
    # f on [5, 10], 0.57, which carries it to 6.7 (the secant of a convex f is steeper than f
    # below m/2, so the carried bias still falls a little short of 8).
    f = lambda x: np.sqrt(x ** 2 + 96.0)  # noqa: E731
    rows = _twin_rows(lambda x: f(x) - x, [10.0, 14.0, 18.0])
    for r in rows:
        r["probe_true"], r["probe_measured"] = r["twin_true"] / 2, f(r["twin_true"] / 2)
    bias_response(rows)
    r = rows[0]
    secant = (f(10.0) - f(5.0)) / 5.0
    assert r["response"] == pytest.approx(secant)
    assert r["error_bar"] == pytest.approx(np.hypot((f(10.0) - 10.0) / secant, SPREAD))
    assert 0.8 * 8.0 < r["error_bar"] < 8.0
    # without the probe the slope over time points hides most of it
    plain = _twin_rows(lambda x: f(x) - x, [10.0, 14.0, 18.0])
    bias_response(plain)
    assert plain[0]["error_bar"] < 0.65 * 8.0 < r["error_bar"] - 1.0
    # a probe that read nothing (NaN) leaves the slope
    rows[0]["probe_measured"] = float("nan")
    bias_response(rows)
    assert rows[0]["error_bar"] == pytest.approx(plain[0]["error_bar"])


def test_uncertainty_settings_refuse_bad_values(tmp_path):
    with pytest.raises(InvalidParameter, match="repeats must be a whole number"):
        UncertaintyParameters(repeats=-1)
    with pytest.raises(InvalidParameter, match=r"probe_repeats must be a whole number ≥ 0; got 1.5"):
        UncertaintyParameters(probe_repeats=1.5)
    for bad in (0, "Cu", 29.0):
        with pytest.raises(InvalidParameter, match="Z must be an atomic number"):
            UncertaintyParameters(Z=bad)
    with pytest.raises(InvalidParameter, match="dose_e_per_nm2"):
        twin_uncertainty(tmp_path, [], RunParameters(), None, UncertaintyParameters())
    base = "[[timepoints]]\ntime_s = 0.0\ntiltseries = 'a.mrc'\n"
    p = tmp_path / "e.toml"
    p.write_text(base + "[uncertainty]\nrepeats = 2\n")
    with pytest.raises(InvalidParameter, match=r"\[uncertainty\] needs \[acquisition\] dose_e_per_nm2"):
        read_experiment(p)
    p.write_text(base + "[uncertainty]\nrepeat = 2\n")
    with pytest.raises(InvalidParameter, match=r"\[uncertainty\]: unknown key 'repeat'; did you mean 'repeats'"):
        read_experiment(p)
    p.write_text(base)
    assert read_experiment(p).uncertainty.repeats == 0  # no dose, no table: no error bars, and the run says why
    p.write_text("[acquisition]\ndose_e_per_nm2 = 250.0\n" + base)
    assert read_experiment(p).uncertainty == UncertaintyParameters()
