"""The 4D pipeline on a small twin: time series against the truth, identities, resume, TOML errors."""

import csv
import json

import numpy as np
import pytest

from insitu4d.errors import InvalidParameter, UnreadableFile
from insitu4d.pipeline import read_experiment, run_experiment

TOML = """
name = "tiny twin"
[acquisition]
pixel_size_nm = 2.0
dose_e_per_nm2 = 5000.0
[align]
align = false
[reconstruct]
method = "sirt"
iterations = 60
backend = "cpu"
[[timepoints]]
time_s = 0.0
temperature_C = 350.0
[[timepoints]]
time_s = 20.0
temperature_C = 355.0
[[timepoints]]
time_s = 60.0
temperature_C = 360.0
[simulation]
shape_px = [28, 20, 48]
tilt_min_deg = -60.0
tilt_max_deg = 60.0
tilt_step_deg = 3.0
seed = 4
[[simulation.pairs]]
midpoint_nm = [0.0, 0.0, 0.0]
axis = [0.0, 0.0, 1.0]
r_p_nm = 14.0
law_n = 5.0
law_B_per_s = 4.9e-4
t0_s = -5.0
"""


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    (root / "exp.toml").write_text(TOML)
    out = root / "out"
    summary = run_experiment(read_experiment(root / "exp.toml"), out)
    return root, out, summary


def test_pairs_timeseries_against_the_truth(finished):
    _, out, summary = finished
    rows = _rows(out / "pairs_timeseries.csv")
    truth = _rows(out / "twin" / "truth.csv")
    assert list(rows[0])[:8] == ["time_s", "temperature_C", "segment", "pair_id", "label_a", "label_b", "r_n_nm",
                                 "r_n_err_nm"]
    assert [r["segment"] for r in rows] == ["0", "1", "2"]  # 350, 355, 360 °C: three holds at ±2 °C
    assert {"r_n_2d_nm", "d_over_2r_p_2d", "aspect_ratio_hw_2d"} <= set(rows[0])
    assert summary["kinetics"]["arrhenius"] == "no [kinetics] time_exponent"
    assert [float(r["time_s"]) for r in rows] == [0.0, 20.0, 60.0]
    assert {r["pair_id"] for r in rows} == {"1"} and {(r["label_a"], r["label_b"]) for r in rows} == {("1", "2")}
    # a clean ±60° series at 2 nm voxels: r_n within 1.5 voxels, centroid d within 1 voxel of the COM truth
    for r, t in zip(rows, truth):
        assert abs(float(r["r_n_nm"]) - float(t["r_n_nm"])) < 3.0
        assert abs(float(r["d_nm"]) - float(t["d_com_nm"])) < 2.0
    assert float(rows[-1]["r_n_nm"]) > float(rows[0]["r_n_nm"])
    assert summary["n_pairs"] == 1 and summary["n_tracks"] == 2
    for name in ("pairs_vs_time.png", "neck_vs_distance.png", "experiment.json", "events.json", "report.html",
                 "uncertainty.csv"):
        assert (out / name).is_file()


def test_error_bars_from_the_twin_cover_the_true_errors(finished):
    # The error bar of each value is the twin's RMS error on the measured state with new noise.
    # Oracle: the twin's own truth. The true error of r_n and d must lie within 2.5 error bars
    # (a calibrated bar holds ~95 % within 2; 2.5 leaves room for 3-repeat estimates of the bar),
    # and the bars must be small (< 1.5 voxel), so that the check can fail.
    _, out, summary = finished
    rows = _rows(out / "pairs_timeseries.csv")
    truth = _rows(out / "twin" / "truth.csv")
    h = 2.0
    for r, t in zip(rows, truth):
        for key, true_key in (("r_n_nm", "r_n_nm"), ("d_nm", "d_com_nm")):
            err = float(r[key.replace("_nm", "_err_nm")])
            assert 0 < err < 1.5 * h
            assert abs(float(r[key]) - float(t[true_key])) <= 2.5 * err
        for key in ("r_p_err_nm", "r_n_over_r_p_err", "d_over_2r_p_err", "hw_a_err", "hw_b_err"):
            assert np.isfinite(float(r[key])) and float(r[key]) > 0
    unc = _rows(out / "uncertainty.csv")
    assert {u["time_point"] for u in unc} == {"T01", "T02", "T03"} and all(u["n_found"] == "3" for u in unc)
    # the neck's response comes from the probe scene (necks halved), read at every evaluated time point
    for u in unc:
        probed = u["quantity"] in ("r_n_nm", "r_n_over_r_p")
        assert np.isfinite(float(u["probe_measured"])) == probed
        if probed:
            assert float(u["probe_true"]) == pytest.approx(0.5 * float(u["twin_true"]), rel=0.02)
    assert (out / "uncertainty" / "T02_P1" / "run.json").is_file()
    assert summary["uncertainty"]["evaluated_time_points"] == ["T01", "T02", "T03"]
    report = (out / "report.html").read_text()
    assert "tiny twin" in report and "± " in report and report.count("data:image/png;base64") >= 3


def test_resume_reruns_only_the_unfinished_time_point(finished):
    root, out, _ = finished
    before = (out / "T01" / "run.json").stat().st_mtime_ns
    repeat = out / "uncertainty" / "T01_R1" / "run.json"
    repeat_before = repeat.stat().st_mtime_ns
    (out / "T02" / "run.json").unlink()  # as if the run had stopped inside T02
    (out / "uncertainty" / "T03_R3" / "run.json").unlink()  # and inside the twin's last repeat
    summary = run_experiment(read_experiment(root / "exp.toml"), out)
    assert [t["resumed"] for t in summary["time_points"]] == [True, False, True]
    assert (out / "T01" / "run.json").stat().st_mtime_ns == before
    assert repeat.stat().st_mtime_ns == repeat_before  # finished repeats are not run again
    assert (out / "uncertainty" / "T03_R3" / "run.json").is_file()
    saved = json.loads((out / "experiment.json").read_text())
    assert saved["n_pairs"] == 1 and saved["acquisition"]["dose_e_per_nm2"] == 5000.0


def test_resume_reuses_nothing_whose_inputs_or_version_changed(finished, tmp_path, monkeypatch):
    import insitu4d.pipeline.run as run_module
    from insitu4d.pipeline.run import finished_measurements

    _, out, _ = finished
    stack, tilts = out / "twin" / "T01.mrc", out / "twin" / "T01.rawtlt"
    params = json.loads((out / "T01" / "run.json").read_text())["parameters"]
    assert finished_measurements(out / "T01", stack, params, tilts=tilts) is not None  # the same: reused
    halved = tmp_path / "T01.rawtlt"
    halved.write_text("".join(f"{float(t) / 2:g}\n" for t in tilts.read_text().split()))
    assert finished_measurements(out / "T01", stack, params, tilts=halved) is None  # tilt file changed
    assert finished_measurements(out / "T01", stack, dict(params, bin_factor=2), tilts=tilts) is None
    monkeypatch.setattr(run_module, "__version__", "99.0")
    assert finished_measurements(out / "T01", stack, params, tilts=tilts) is None  # another version


def test_experiment_errors_name_the_field(tmp_path):
    with pytest.raises(UnreadableFile, match="does not exist"):
        read_experiment(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[reconstruct]\nmethod = 'sirt'\n")
    with pytest.raises(InvalidParameter, match=r"no \[\[timepoints\]\]"):
        read_experiment(bad)
    bad.write_text("[[timepoints]]\ntime_s = 0.0\n")
    with pytest.raises(InvalidParameter, match="name no tiltseries and there is no"):
        read_experiment(bad)
    bad.write_text("[reconstruct]\nspeed = 3\n[[timepoints]]\ntime_s = 0.0\ntiltseries = 'a.mrc'\n")
    with pytest.raises(InvalidParameter, match=r"\[reconstruct\]: unknown key 'speed'"):
        read_experiment(bad)
    bad.write_text("[pipeline]\nmethod = 'tv'\ndenoise_method = 'tv'\n[[timepoints]]\ntime_s = 0.0\n")
    with pytest.raises(InvalidParameter, match=r"move method → \[reconstruct\], denoise_method → \[denoise\]"):
        read_experiment(bad)
    bad.write_text("[align]\nmethod = 'mi'\n[[timepoints]]\ntime_s = 0.0\ntiltseries = 'a.mrc'\n")
    with pytest.raises(InvalidParameter, match=r"\[align\]: unknown key 'method'; did you mean 'align_method'\?"):
        read_experiment(bad)
    bad.write_text("[[timepoints]]\ntime_s = 5.0\ntiltseries = 'a.mrc'\n[[timepoints]]\ntime_s = 1.0\n"
                   "tiltseries = 'b.mrc'\n")
    with pytest.raises(InvalidParameter, match="time_s must increase"):
        read_experiment(bad)
    exp = TOML.replace("shape_px = [28, 20, 48]", "shape_px = [28, 20]")
    bad.write_text(exp)
    with pytest.raises(InvalidParameter, match="shape_px must be three positive integers"):
        read_experiment(bad)
    assert np.allclose(read_experiment_ok(tmp_path).times_s, [0, 20, 60])


def test_holder_log_gives_the_time_points_their_temperature(tmp_path):
    (tmp_path / "holder.csv").write_text("time_s,temperature_C\n-10,340\n30,360\n100,360\n")
    text = TOML.replace("dose_e_per_nm2 = 5000.0", "dose_e_per_nm2 = 5000.0\nholder_log = 'holder.csv'")
    text = text.replace("temperature_C = 355.0\n", "").replace("[simulation]", "[kinetics]\ntime_exponent = 5\n"
                                                                               "[simulation]")
    (tmp_path / "log.toml").write_text(text)
    exp = read_experiment(tmp_path / "log.toml")
    # 20 s lies between 340 °C at -10 s and 360 °C at 30 s: 355 °C; stated temperatures are kept
    assert [tp.temperature_C for tp in exp.timepoints] == pytest.approx([350.0, 355.0, 360.0])
    assert exp.kinetics.time_exponent == 5 and exp.holder_log.source == "holder.csv"
    # the log's clock 10 s ahead of time_s: the time points sit at 10, 30, 70 s on it (345, 360, 360 °C); a vendor log
    shifted = text.replace("holder_log = 'holder.csv'", "holder_log = 'holder.csv'\nholder_clock_offset_s = 10.0")
    (tmp_path / "shifted.toml").write_text(shifted)
    assert [tp.temperature_C for tp in read_experiment(tmp_path / "shifted.toml").timepoints] == \
        pytest.approx([350.0, 360.0, 360.0])
    (tmp_path / "zone.toml").write_text(text.replace("holder_log = 'holder.csv'",
                                                     "holder_log = 'holder.csv'\nholder_timezone = 'Mars/Base'"))
    with pytest.raises(InvalidParameter, match="unknown time zone 'Mars/Base'"):
        read_experiment(tmp_path / "zone.toml")
    (tmp_path / "bad.toml").write_text(text.replace("time_exponent = 5", "time_exponent = -1"))
    with pytest.raises(InvalidParameter, match="time_exponent must be a positive number"):
        read_experiment(tmp_path / "bad.toml")
    (tmp_path / "bad.toml").write_text(text.replace("time_exponent = 5", "exponent = 5"))
    with pytest.raises(InvalidParameter, match=r"\[kinetics\]: unknown key 'exponent'; did you mean 'time_exponent'"):
        read_experiment(tmp_path / "bad.toml")


def read_experiment_ok(tmp_path):
    p = tmp_path / "ok.toml"
    p.write_text(TOML)
    return read_experiment(p)


def test_experiment_of_existing_tilt_series_files(finished):
    # the interface of issue 4: time points that name MRC + .rawtlt files (here the twin's
    # own files) give the same time series as the simulated run.
    root, out, _ = finished
    text = TOML.split("[simulation]")[0]
    for i in (1, 2, 3):
        text = text.replace(f"temperature_C = {350.0 + 5 * (i - 1) if i < 3 else 360.0}\n",
                            f"temperature_C = {350.0 + 5 * (i - 1) if i < 3 else 360.0}\n"
                            f"tiltseries = 'out/twin/T0{i}.mrc'\ntilts = 'out/twin/T0{i}.rawtlt'\n", 1)
    (root / "files.toml").write_text(text)
    exp = read_experiment(root / "files.toml")
    assert exp.twin is None and all(tp.tiltseries is not None for tp in exp.timepoints)
    summary = run_experiment(exp, root / "out_files")
    assert summary["twin_accuracy"] is None
    a = _rows(out / "pairs_timeseries.csv")
    b = _rows(root / "out_files" / "pairs_timeseries.csv")
    assert [r["r_n_nm"] for r in a] == [r["r_n_nm"] for r in b]


def test_identities_survive_deep_necks_and_a_coalescence_is_one_merge(tmp_path):
    # A pair whose neck grows 0.5 → 0.8 → 0.95 of the smaller radius, then is full (no neck:
    # model C at r_n = r_s), then relaxes to one sphere; every time point moved by up to 3
    # voxels. Run with defaults only: the pair keeps its identity (one pair id) through 0.95,
    # and the coalescence is one merge event at the first time point without a neck (± 1).
    # The join waits for a second reading without a neck (T05), so the pair's last row is the
    # first reading (T04) and the event is dated there, confirmed one time point later.
    from insitu4d.simulate.scenes import coalescence_sequence, write_scene_experiment

    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        scenes, merge_index = coalescence_sequence(rng, (0.5, 0.8, 0.95, 1.0), relax_aspect=(1.0,),
                                                   radius_vox=(10.0, 12.0), radius_nm=(60.0, 70.0))
        toml, _ = write_scene_experiment(scenes, tmp_path / f"s{seed}", np.arange(-60, 61, 3.0), 2000.0, rng)
        summary = run_experiment(read_experiment(toml), tmp_path / f"s{seed}" / "out")
        rows = _rows(tmp_path / f"s{seed}" / "out" / "pairs_timeseries.csv")
        assert [r["time_point"] for r in rows] in (["T01", "T02", "T03"], ["T01", "T02", "T03", "T04"])
        assert {r["pair_id"] for r in rows} == {"1"}
        merges = [e for e in summary["events"] if e["kind"] == "merge"]
        assert len(merges) == 1 and abs(merges[0]["time_index"] - merge_index) <= 1
        assert merges[0]["confirmed_time_index"] == merges[0]["time_index"] + 1
        assert len(rows) == merges[0]["time_index"] + 1  # the pair's rows end where the neck closed
        assert merges[0]["time_s"] == 10.0 * merges[0]["time_index"]
        assert summary["automatic_choices"]["from_time_point"] == "T01"


def test_the_napari_reader_opens_a_4d_output(finished):
    """Headless (napari is not needed): the reader of the npe2 manifest claims the folder and returns the volumes
    and labels as (t, z, y, x) layers with the voxel size in nm, the tracks as (track, t, z, y, x) rows equal to
    particles_timeseries.csv, and one point per pair and time point at the middle of its two centroids."""
    import csv

    from insitu4d.io.napari_reader import napari_get_reader

    _, out, summary = finished
    assert napari_get_reader(str(out / "T01")) is None and napari_get_reader([str(out), str(out)]) is None
    layers = {kwargs["name"]: (data, kwargs, kind) for data, kwargs, kind in napari_get_reader(str(out))(str(out))}
    n = len(summary["time_points"])
    volume, kwargs, kind = layers["volume"]
    from insitu4d.io.writers import read_array

    first, attrs = read_array(out / "T01" / "volume.h5")
    assert kind == "image" and volume.shape[0] == n and kwargs["scale"] == (1.0, *(attrs["voxel_size_nm"],) * 3)
    np.testing.assert_array_equal(volume[0][: first.shape[0], : first.shape[1], : first.shape[2]], first)
    assert layers["labels"][2] == "labels" and layers["labels"][0].shape == volume.shape
    with open(out / "particles_timeseries.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    tracks = layers["particle tracks"][0]
    assert tracks.shape == (len(rows), 5)
    np.testing.assert_allclose(tracks[:, 2:], [[float(r[f"centroid_{a}_nm"]) for a in "zyx"] for r in rows])
    points, pkw, _ = layers["pairs"]
    with open(out / "pairs_timeseries.csv", newline="") as f:
        assert len(points) == len(list(csv.DictReader(f)))
    assert np.all(pkw["size"] > 0)
    from insitu4d.errors import UnreadableFile
    from insitu4d.io.napari_reader import read_output

    with pytest.raises(UnreadableFile, match="not an insitu4d 4D output folder"):
        read_output(out / "T01")


def test_the_4d_run_writes_valid_nxem_files_with_error_bars(finished):
    """With the nexus extra installed, run writes experiment.nxs and each T*/run.nxs; pynxtools' validator accepts
    them; h5py alone finds each pair's r_n over time with its error bars, equal to pairs_timeseries.csv."""
    pytest.importorskip("pynxtools")
    import h5py

    from insitu4d.io.nexus import validate_nexus

    root, out, summary = finished
    assert "experiment.nxs" in summary["outputs"] and (out / "T01" / "run.nxs").is_file()
    report = validate_nexus(out / "experiment.nxs")
    assert report.valid, report.problems
    rows = _rows(out / "pairs_timeseries.csv")
    with h5py.File(out / "experiment.nxs", "r") as f:
        assert sorted(f) == sorted([*(t["time_point"] for t in summary["time_points"]), "experiment"])
        pair = f["experiment/tracking/pair_1"]
        mine = [r for r in rows if r["pair_id"] == "1"]
        np.testing.assert_allclose(pair["r_n"][()], [float(r["r_n_nm"]) for r in mine], rtol=1e-6)
        np.testing.assert_allclose(pair["r_n_errors"][()], [float(r["r_n_err_nm"]) for r in mine], rtol=1e-6)
        np.testing.assert_allclose(pair["time"][()], [float(r["time_s"]) for r in mine])
        np.testing.assert_allclose(f["experiment/holder/temperature/temperature"][()], [350.0, 355.0, 360.0])
        assert f["T02/measurement/event1/instrument/sensor_temperature/value"][()] == pytest.approx(355.0)
        per_image = f["T01/dose/dose/dose_per_image"][()]
        assert per_image.sum() == pytest.approx(5000.0)  # the experiment's dose, shared by the images
        assert f["experiment/sample/is_simulation"][()]
    assert (out / "experiment.toml").read_text() == (root / "exp.toml").read_text()
    prov = summary["provenance"]
    assert prov["bootstrap_resamples"] == 100 and prov["random_seeds"]["twin"] == 4
    assert {"noise_thinning", "kinetics_bootstrap"} <= set(prov["random_seeds"])


def test_the_report_has_contents_and_the_3d_view(finished):
    """The report opens with the quality line, then a table of contents whose links reach every section, and embeds
    the isosurface render of the first and last time point (a PNG written beside it)."""
    import re

    _, out, summary = finished
    html = (out / "report.html").read_text(encoding="utf-8")
    assert (out / "particles_3d.png").read_bytes()[:4] == b"\x89PNG" and "particles_3d.png" in summary["outputs"]
    links = re.findall(r'<a href="#(s\d+)">', html)
    ids = re.findall(r'<h2 id="(s\d+)">', html)
    assert links and links == ids
    quality = re.search(r"Quality checks|>Warnings</h2>", html).start()
    assert quality < html.index("<nav>") < html.index("Particles in 3D</h2>")
