import json

import numpy as np
import pytest
from conftest import SEVEN_TILTS_FILE, write_mrc_stack
from test_measure import two_sphere_labels
from test_pipeline import PIXEL_NM, synthetic_stack  # noqa: F401  (fixture)
from typer.testing import CliRunner

from insitu4d.cli import app
from insitu4d.io import read_array, write_array

runner = CliRunner()


def test_info_on_needle(needle_paths):
    res = runner.invoke(app, ["info", str(needle_paths[0])])
    assert res.exit_code == 0, res.output
    assert "(77, 256, 256)" in res.output
    assert "3.36 nm" in res.output
    assert "77 from -76° to 76°" in res.output
    assert "missing" in res.output and "probe_current_pA" in res.output
    res = runner.invoke(app, ["info", str(needle_paths[0]), "--json"])
    assert json.loads(res.output)["pixel_size_nm"] == pytest.approx(3.36)


def test_missing_tilts_is_a_clear_error(tmp_path):
    p = write_mrc_stack(tmp_path / "s.mrc", np.random.rand(7, 8, 8), voxel_size_angstrom=10)
    res = runner.invoke(app, ["run", str(p), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "MissingTiltAngles" in res.output and "--tilts" in res.output
    assert "Traceback" not in res.output


def test_unknown_pixel_size_asks_for_it(tmp_path):
    p = write_mrc_stack(tmp_path / "s.mrc", np.random.rand(7, 8, 8))
    (tmp_path / "s.rawtlt").write_text(SEVEN_TILTS_FILE)
    res = runner.invoke(app, ["run", str(p), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--pixel-size NM" in res.output


def test_run_command_writes_the_interface_files(synthetic_stack, tmp_path):  # noqa: F811
    mrc, tlt = synthetic_stack
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(mrc), "--tilts", str(tlt), "--pixel-size", str(PIXEL_NM), "-o", str(out),
                              "--method", "fbp"])
    assert res.exit_code == 0, res.output
    for name in ("particles.csv", "pairs.csv", "run.json"):
        assert (out / name).is_file()
    assert json.loads((out / "run.json").read_text())["parameters"]["method"] == "fbp"


def test_reconstruct_segment_measure_chain(synthetic_stack, tmp_path):  # noqa: F811
    mrc, tlt = synthetic_stack
    vol = tmp_path / "vol.tif"
    res = runner.invoke(app, ["reconstruct", str(mrc), "--tilts", str(tlt), "--pixel-size", str(PIXEL_NM),
                              "--method", "sirt", "--iterations", "20", "-o", str(vol)])
    assert res.exit_code == 0, res.output
    data, attrs = read_array(vol)
    assert data.dtype == np.float32 and data.shape == (48, 48, 48)
    assert attrs["voxel_size_nm"] == pytest.approx(PIXEL_NM)
    labels = tmp_path / "labels.h5"
    res = runner.invoke(app, ["segment", str(vol), "-o", str(labels)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "m.json"
    res = runner.invoke(app, ["measure", str(labels), "--json-out", str(out)])
    assert res.exit_code == 0, res.output
    m = json.loads(out.read_text())
    assert len(m["particles"]) == 3 and len(m["pairs"]) == 1


def test_measure_json_schema_on_ground_truth(tmp_path):
    labels, r_n, *_ = two_sphere_labels(10.0, 9.0, 15.0, (1, 1, 0), (36, 36, 36))
    path = write_array(tmp_path / "lab.tif", labels)
    out = tmp_path / "out.json"
    res = runner.invoke(app, ["measure", str(path), "--voxel-size", "0.5", "--json-out", str(out)])
    assert res.exit_code == 0, res.output
    m = json.loads(out.read_text())
    for p in m["particles"]:
        assert {"label", "volume_nm3", "r_p_nm", "r_inscribed_nm", "centroid_nm", "aspect_ratio_hw"} <= set(p)
        assert len(p["centroid_nm"]) == 3
    (pair,) = m["pairs"]
    assert {"labels", "r_n_nm", "contact_area_nm2", "d_nm", "d_xy_nm", "d_z_nm"} <= set(pair)
    assert pair["r_n_nm"] == pytest.approx(0.5 * r_n, abs=0.5)  # within 1 voxel of 0.5 nm
    assert pair["protocol_2d"]["r_p_nm"] > 0 and "Ihara 2D protocol" in res.output


def test_measure_needs_voxel_size(tmp_path):
    path = write_array(tmp_path / "lab.tif", np.zeros((3, 3, 3), np.int32))
    res = runner.invoke(app, ["measure", str(path)])
    assert res.exit_code == 2 and "--voxel-size" in res.output


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and "insitu4d" in res.output


def test_reconstruct_tv_from_the_command_line(synthetic_stack, tmp_path):  # noqa: F811
    mrc, tlt = synthetic_stack
    vol = tmp_path / "tv.h5"
    res = runner.invoke(app, ["reconstruct", str(mrc), "--tilts", str(tlt), "--pixel-size", str(PIXEL_NM),
                              "--method", "tv", "--iterations", "30", "--tv-weight", "0.3", "--no-align",
                              "-o", str(vol)])
    assert res.exit_code == 0, res.output
    data, attrs = read_array(vol)
    assert attrs["provenance"]["method"] == "tv" and attrs["provenance"]["tv_weight"] == 0.3
    assert data.shape == (48, 48, 48) and data.min() >= 0


def test_reconstruct_asd_pocs_and_backend_choice(synthetic_stack, tmp_path):  # noqa: F811
    from insitu4d.recon import available_backends

    mrc, tlt = synthetic_stack
    vol = tmp_path / "asd.h5"
    base = ["reconstruct", str(mrc), "--tilts", str(tlt), "--pixel-size", str(PIXEL_NM), "--no-align"]
    res = runner.invoke(app, [*base, "--method", "asd-pocs", "--iterations", "5", "--backend", "cpu", "-o", str(vol)])
    assert res.exit_code == 0, res.output
    _, attrs = read_array(vol)
    assert attrs["provenance"]["method"] == "asd-pocs" and attrs["provenance"]["backend"] == "cpu"
    if "gpu" not in available_backends():
        res = runner.invoke(app, [*base, "--backend", "gpu", "-o", str(tmp_path / "gpu.h5")])
        assert res.exit_code == 2
        assert "BackendUnavailable" in res.output and "insitu4d[gpu]" in res.output


def test_dose_and_knockon_print_the_reference_values_as_json():
    res = runner.invoke(app, ["dose", "--current-pA", "2", "--dwell-time-ns", "500", "--pixel-size-nm", "1.04",
                              "--shape", "1024x1024", "--frames", "41", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["electrons_per_frame"] == pytest.approx(6.544697e6, rel=1e-6)  # CODATA e (docs/science.md §6)
    assert d["electrons_total"] == pytest.approx(2.683326e8, rel=1e-6)
    assert d["dose_per_frame_e_per_nm2"] == pytest.approx(5.7706, rel=1e-4)
    assert d["dose_total_e_per_nm2"] == pytest.approx(236.60, rel=1e-4)
    res = runner.invoke(app, ["dose", "--current-pA", "2", "--dwell-time-ns", "500", "--pixel-size-nm", "1.04",
                              "--shape", "1024by1024"])
    assert res.exit_code == 2 and "NYxNX" in res.output
    res = runner.invoke(app, ["knockon", "--beam-keV", "200", "--mass-u", "180.948", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["max_energy_transfer_eV"] == pytest.approx(2.900, abs=5e-4)
    res = runner.invoke(app, ["knockon", "--beam-keV", "300", "--mass-u", "63.546", "--threshold-eV", "19"])
    assert res.exit_code == 0 and "13.4 eV" in res.output and "not reached" in res.output


def test_fit_prints_laws_and_writes_the_plot(tmp_path):
    from insitu4d.physics.sintering import neck_ratio_law

    t = np.linspace(1.0, 300.0, 40)
    x = neck_ratio_law(t + 5.0, 5.0, 0.3 ** 5 / 65.0) * (1 + 0.02 * np.random.default_rng(1).standard_normal(t.size))
    lines = ["time_s,pair_id,label_a,label_b,r_n_nm,d_nm,r_p_nm"]
    lines += [f"{ti},1,1,2,{50 * xi},{95.0},50" for ti, xi in zip(t, x)]
    csv_path = tmp_path / "pairs_timeseries.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    res = runner.invoke(app, ["fit", str(csv_path), "--bootstrap", "30", "--json-out", str(tmp_path / "fit.json")])
    assert res.exit_code == 0, res.output
    assert "pair 1: (r_n/r_p)^n = B (t − t0)" in res.output and "volume diffusion" in res.output
    assert (tmp_path / "neck_growth_fit.png").stat().st_size > 10_000
    fit = json.loads((tmp_path / "fit.json").read_text())["fits"][0]
    assert abs(fit["n"] - 5.0) < 0.5
    csv_path.write_text("time_s,pair_id,r_n_nm\n1,1,3\n")
    res = runner.invoke(app, ["fit", str(csv_path)])
    assert res.exit_code == 2 and "lacks the column(s) d_nm, r_p_nm" in res.output


def test_fit_splits_holds_from_the_holder_log_and_gives_the_activation_energy(tmp_path):
    from test_kinetics import Q_EV, programme_rows

    rows = programme_rows(3)
    lines = ["time_s,pair_id,r_n_nm,d_nm,r_p_nm"] + [f"{r['time_s']},1,{50 * r['r_n_over_r_p']},95,50" for r in rows]
    csv_path = tmp_path / "pairs_timeseries.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    log = tmp_path / "holder.csv"  # holds 0–600, 700–1300, 1400–2000 s at 300/350/400 °C, ramps between
    log.write_text("Time (s),Temperature (C)\n" + "".join(
        f"{t},{T}\n" for t, T in [(0, 300), (600, 300), (700, 350), (1300, 350), (1400, 400), (2000, 400)]))
    res = runner.invoke(app, ["fit", str(csv_path), "--holder-log", str(log), "--time-exponent", "5",
                              "--bootstrap", "20", "--min-hold-s", "100", "--json-out", str(tmp_path / "fit.json")])
    assert res.exit_code == 0, res.output
    assert "pair 1 at 350.0 °C" in res.output and "Q = " in res.output
    (entry,) = json.loads((tmp_path / "fit.json").read_text())["arrhenius"]
    assert entry["arrhenius"]["Q_eV"] == pytest.approx(Q_EV, rel=0.15)
    res = runner.invoke(app, ["fit", str(csv_path), "--holder-log", str(tmp_path / "none.csv")])
    assert res.exit_code == 2 and "does not exist" in res.output


@pytest.mark.parametrize("method", ["xcorr", "com"])
def test_align_writes_the_aligned_series_and_the_shifts(synthetic_stack, tmp_path, method):  # noqa: F811
    from test_pipeline import TILTS

    mrc, tlt = synthetic_stack
    shifts = np.random.default_rng(2).uniform(-3, 3, (len(TILTS), 2))  # as the fixture made them
    shifts[np.argmin(np.abs(TILTS))] = 0
    out_mrc, out_json = tmp_path / "aligned.mrc", tmp_path / "align.json"
    res = runner.invoke(app, ["align", str(mrc), "--tilts", str(tlt), "--method", method, "--pixel-size", "1",
                              "-o", str(out_mrc), "--json-out", str(out_json)])
    assert res.exit_code == 0, res.output
    info = json.loads(out_json.read_text())
    applied = np.array(info["shifts_px"])
    assert applied.shape == (len(shifts), 2) and {"tilt_axis_offset_px", "tilt_axis_rotation_deg"} <= set(info)
    # the applied shifts undo the known ones along the tilt axis (y), up to a common constant
    err = applied[:, 0] + shifts[:, 0]
    assert np.sqrt(np.mean((err - err.mean()) ** 2)) < 0.5
    assert out_mrc.with_suffix(".rawtlt").is_file()


def test_denoise_calibrates_on_a_second_exposure_and_records_it(tmp_path):
    rng = np.random.default_rng(0)
    clean = np.zeros((3, 48, 48), np.float32)
    clean[:, 12:36, 12:36] = 3.0
    write_array(tmp_path / "a.tif", rng.poisson(clean).astype(np.float32))
    write_array(tmp_path / "b.tif", rng.poisson(clean).astype(np.float32))
    res = runner.invoke(app, ["denoise", str(tmp_path / "a.tif"), "--second-exposure", str(tmp_path / "b.tif"),
                              "-o", str(tmp_path / "d.tif")])
    assert res.exit_code == 0, res.output
    record = json.loads((tmp_path / "d.denoise.json").read_text())
    assert record["strategy"] == "two_exposures" and record["strength"] > 0
    assert f"strength {record['strength']:.3g}" in res.output
    denoised, _ = read_array(tmp_path / "d.tif")
    assert np.mean((denoised - clean) ** 2) < 0.5 * np.mean((rng.poisson(clean) - clean) ** 2)
    res = runner.invoke(app, ["denoise", str(tmp_path / "a.tif"), "--method", "bm4d", "-o", str(tmp_path / "e.tif")])
    assert res.exit_code == 2


def test_drift_corrects_a_movie_and_records_the_shifts(tmp_path):
    from test_movie_drift import GLITCHES, low_dose_movie

    counts, drift = low_dose_movie(n=30, peak_counts=4.0)
    write_array(tmp_path / "movie.tif", counts)
    res = runner.invoke(app, ["drift", str(tmp_path / "movie.tif"), "-o", str(tmp_path / "fixed.tif"),
                              "--json-out", str(tmp_path / "drift.json")])
    assert res.exit_code == 0, res.output
    info = json.loads((tmp_path / "drift.json").read_text())
    assert info["rejected"] == [g for g in GLITCHES if g < 30]
    err = np.array(info["shifts_px"]) + (drift - drift[0])
    good = np.setdiff1d(np.arange(30), GLITCHES)
    assert np.sqrt(np.mean((err[good] - err[good].mean(axis=0)) ** 2)) < 0.5
    assert read_array(tmp_path / "fixed.tif")[0].shape == counts.shape
    assert "2 frame(s) rejected as outliers" in res.output and "warning" not in res.output
    assert (tmp_path / "fixed_drift.png").read_bytes()[:4] == b"\x89PNG" and info["warning"] is None
    res = runner.invoke(app, ["drift", str(tmp_path / "movie.tif"), "--method", "sift", "-o", str(tmp_path / "x.tif")])
    assert res.exit_code == 2


def test_drift_warns_when_a_quarter_of_the_frames_are_rejected(tmp_path):
    """A movie with 10 of 30 frames blank: exit 0 (the corrected movie is written) but a warning that says what to
    try, and the plot beside the output."""
    from test_movie_drift import low_dose_movie

    counts, _ = low_dose_movie(n=30, peak_counts=4.0)
    rng = np.random.default_rng(0)
    counts[rng.choice(np.arange(5, 30), 10, replace=False)] = rng.poisson(0.05, counts.shape[1:])
    write_array(tmp_path / "movie.tif", counts)
    res = runner.invoke(app, ["drift", str(tmp_path / "movie.tif"), "-o", str(tmp_path / "fixed.h5")])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "warning" in text and "more than a quarter" in text and "--method mi" in text
    assert (tmp_path / "fixed_drift.png").is_file()


def test_global_options_quiet_verbose_and_log_file(tmp_path):
    rng = np.random.default_rng(3)
    p = write_mrc_stack(tmp_path / "s.mrc", 10.0 + rng.poisson(50.0, (7, 16, 16)), voxel_size_angstrom=10)
    (tmp_path / "s.rawtlt").write_text(SEVEN_TILTS_FILE)
    log = tmp_path / "run.log"
    args = ["reconstruct", str(p), "-o", str(tmp_path / "v.h5"), "--no-align", "--method", "sirt",
            "--iterations", "20"]
    res = runner.invoke(app, ["--quiet", "--log-file", str(log), *args])
    assert res.exit_code == 0, res.output
    assert "reconstruct" not in res.output.split("volume")[0]  # no progress before the result line
    assert "volume (16, 16, 16)" in res.output
    lines = log.read_text().splitlines()
    assert lines[1].endswith("reconstruct 1/20") and lines[-1].endswith("reconstruct 20/20")  # progress: to the log
    res = runner.invoke(app, ["--verbose", "--threads", "1", *args])
    assert res.exit_code == 0 and "reconstruct 10/20" in res.output  # lines, not bars
    res = runner.invoke(app, ["--threads", "0", *args])
    assert res.exit_code == 2 and "--threads" in res.output
    res = runner.invoke(app, ["--quiet", "--log-file", str(log), "run", str(tmp_path / "missing.mrc"), "-o",
                              str(tmp_path / "o")])
    assert res.exit_code == 2 and "file not found" in res.output  # errors are printed even when quiet
    assert "error: UnreadableFile: file not found" in log.read_text()
    res = runner.invoke(app, ["--log-file", str(tmp_path), "info", str(p)])
    assert res.exit_code == 2 and "cannot write the log file" in res.output


def test_every_command_and_option_has_help():
    from typer.main import get_command

    command = get_command(app)
    for name, sub in command.commands.items():
        assert sub.help, name
        for param in sub.params:
            if param.param_type_name in ("option", "argument") and param.name != "ctx":
                assert getattr(param, "help", None), (name, param.name)
