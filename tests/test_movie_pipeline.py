"""The 2D movie pipeline end to end: reading movies, the coalescence twin through drift, segmentation, necks and
tracking, the holder log on the frames, and the command line on real bright-field frames."""

from __future__ import annotations

import csv
import html.parser
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from insitu4d.cli import app
from insitu4d.errors import InvalidParameter, MissingPixelSize, NotAStack, UnreadableFile
from insitu4d.io.holder_log import HolderLog, LogChannel
from insitu4d.io.movies import Movie, read_movie
from insitu4d.pipeline.movie import MovieParameters, run_movie
from insitu4d.simulate.coalescence2d import coalescence_movie

MSA_EM = Path(__file__).parent / "data" / "msa_em"
runner = CliRunner()


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------------------------------------ reading
def test_a_folder_of_frames_is_read_in_natural_order(tmp_path):
    for k in (1, 2, 10):
        tifffile.imwrite(tmp_path / f"frame_{k}.tif", np.full((16, 16), k, np.float32))
    movie = read_movie(tmp_path, pixel_size_nm=0.5)
    assert movie.frame_files == ("frame_1.tif", "frame_2.tif", "frame_10.tif")
    np.testing.assert_array_equal(movie.frames[:, 0, 0], [1, 2, 10])
    assert movie.frame_start_s is None and movie.pixel_size_nm == 0.5


def test_a_stack_with_its_frame_time_and_the_errors(tmp_path):
    tifffile.imwrite(tmp_path / "m.tif", np.random.default_rng(0).random((4, 16, 16)).astype(np.float32),
                     photometric="minisblack")
    with pytest.raises(MissingPixelSize, match="--pixel-size"):
        read_movie(tmp_path / "m.tif")
    movie = read_movie(tmp_path / "m.tif", pixel_size_nm=1.0, frame_time_s=0.25)
    np.testing.assert_allclose(movie.frame_start_s, [0, 0.25, 0.5, 0.75])
    tifffile.imwrite(tmp_path / "one.tif", np.ones((16, 16), np.float32))
    with pytest.raises(NotAStack, match="one image"):
        read_movie(tmp_path / "one.tif", pixel_size_nm=1.0)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    tifffile.imwrite(mixed / "a.tif", np.ones((16, 16), np.float32))
    tifffile.imwrite(mixed / "b.tif", np.ones((16, 20), np.float32))
    with pytest.raises(UnreadableFile, match="differ in size"):
        read_movie(mixed, pixel_size_nm=1.0)
    with pytest.raises(UnreadableFile, match="holds no frames"):
        read_movie(_empty(tmp_path), pixel_size_nm=1.0)
    with pytest.raises(InvalidParameter, match="frame_time_s must be > 0"):
        read_movie(tmp_path / "m.tif", pixel_size_nm=1.0, frame_time_s=0.0)


def _empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_calibration_and_time_axis_from_the_metadata(tmp_path):
    """A HyperSpy file with a time axis in ms and a pixel in nm: both are taken from it."""
    from rsciio.hspy import file_writer

    data = np.random.default_rng(1).random((3, 16, 16)).astype(np.float32)
    image_axes = [{"name": a, "units": "nm", "scale": 0.2, "offset": 0.0, "size": 16, "navigate": False} for a in "yx"]
    signal = {"data": data,
              "axes": [{"name": "time", "units": "ms", "scale": 500.0, "offset": 0.0, "size": 3, "navigate": True},
                       *image_axes],
              "metadata": {"General": {"date": "2026-03-01", "time": "10:00:00", "title": "m"},
                           "Signal": {"signal_type": ""}},
              "original_metadata": {}, "tmp_parameters": {}, "attributes": {"_lazy": False},
              "package_info": {"name": "insitu4d", "version": "test"}, "learning_results": {}, "models": {}}
    file_writer(str(tmp_path / "m.hspy"), signal)
    movie = read_movie(tmp_path / "m.hspy", timezone="Europe/Amsterdam")
    assert movie.pixel_size_nm == pytest.approx(0.2)
    np.testing.assert_allclose(movie.frame_start_s, [0.0, 0.5, 1.0])
    assert movie.start == datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


# ------------------------------------------------------------------------------------------------ the pipeline
@pytest.fixture(scope="module")
def twin_run(tmp_path_factory):
    """The coalescence twin (seed 4) as a movie 2 s per frame, a holder log that ramps 300 → 400 °C on a clock 30 s
    ahead of the microscope's, and 1000 e⁻/nm² per frame."""
    twin = coalescence_movie(seed=4)
    n = len(twin.frames)
    start = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    movie = Movie(twin.frames.astype(np.float32), 0.5, 2.0 * np.arange(n), 1.0, start, "twin")
    t = np.arange(0.0, 200.0, 0.5)
    T = 300.0 + 100.0 * np.clip((t - 30.0) / 60.0, 0, 1)
    log = HolderLog(t, T, "ramp.csv", start - timedelta(seconds=10), channels=(LogChannel("T", T, "C"),))
    out = tmp_path_factory.mktemp("twin") / "out"
    params = MovieParameters(clock_offset_s=30.0, dose_per_frame_e_per_nm2=1000.0)
    record = run_movie(movie, out, params, holder_log=log)
    return twin, out, record


def test_the_twin_through_the_pipeline(twin_run):
    """Drift-corrected, segmented, measured and tracked: one pair with a neck in every frame before the merge (width
    within 1.5 px, angle within 4°, as for single frames), one merge event at the first merged frame, no warnings."""
    twin, out, record = twin_run
    necks = _rows(out / "necks.csv")
    frames = sorted(int(r["frame"]) for r in necks)
    assert frames == list(np.flatnonzero(~twin.merged))
    for r in necks:
        k = int(r["frame"])
        assert float(r["neck_width_nm"]) / 0.5 == pytest.approx(twin.neck_width_px[k], abs=1.5)
        assert float(r["neck_angle_deg"]) == pytest.approx(twin.neck_angle_deg[k], abs=4.0)
        assert (r["track_a"], r["track_b"]) == (necks[0]["track_a"], necks[0]["track_b"])
    merges = [ev for ev in record["events"] if ev["kind"] == "merge"]
    assert len(merges) == 1 and merges[0]["time_index"] == int(np.flatnonzero(twin.merged)[0])
    assert record["warnings"] == [] and record["n_tracks"] == 2
    assert json.loads((out / "movie.json").read_text())["chosen"]["contrast"] == "dark"


def test_the_holder_log_and_the_dose_on_every_frame(twin_run):
    """Frame k starts 2k s after 12:00:00 and lasts 1 s; the log starts at 11:59:50 on a clock 30 s ahead: the log time
    is 2k + 0.5 + 10 + 30 s, and the temperature the ramp's there (computed here by hand). The dose adds 1000 per
    frame."""
    twin, out, _ = twin_run
    rows = _rows(out / "frames.csv")
    for r in rows:
        k = int(r["frame"])
        t_log = 2.0 * k + 0.5 + 10.0 + 30.0
        # the CSV keeps 6 significant digits
        assert float(r["log_time_s"]) == pytest.approx(t_log, abs=1e-3)
        assert float(r["temperature_C"]) == pytest.approx(300.0 + 100.0 * np.clip((t_log - 30.0) / 60.0, 0, 1),
                                                          abs=1e-3)
        assert float(r["dose_e_per_nm2"]) == pytest.approx(1000.0 * (k + 1))
    necks = _rows(out / "necks.csv")
    assert all(r["temperature_C"] and r["dose_e_per_nm2"] for r in necks)


def test_the_report_and_the_plots_open(twin_run):
    """The report is well-formed HTML that embeds its figures; the PNGs are PNGs."""
    _, out, record = twin_run

    class Parser(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.images, self.stack = 0, []

        def handle_starttag(self, tag, attrs):
            self.images += tag == "img" and dict(attrs).get("src", "").startswith("data:image/png;base64,")

    parser = Parser()
    parser.feed((out / "report.html").read_text(encoding="utf-8"))
    assert parser.images >= 3
    for name in ("necks.png", "particles.png", "drift.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG" and name in record["outputs"]


def test_a_holder_log_needs_frame_times(tmp_path):
    movie = Movie(np.ones((3, 32, 32), np.float32), 1.0, None, None, None, "x")
    log = HolderLog(np.arange(10.0), np.full(10, 300.0), "log.csv")
    with pytest.raises(InvalidParameter, match="--frame-time"):
        run_movie(movie, tmp_path / "out", MovieParameters(correct_drift=False), holder_log=log)


def test_the_command_line_on_real_bright_field_frames(tmp_path):
    """The msa-em frames as a pseudo-movie (a folder, natural order): labels, tracks and the tables are written, exit
    0; the pixel size is asked for when missing."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for k in (0, 9, 18):
        shutil.copy(MSA_EM / f"image_{k}.png", frames / f"image_{k}.png")
    res = runner.invoke(app, ["movie", str(frames), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and "--pixel-size" in res.output
    res = runner.invoke(app, ["movie", str(frames), "--clock-offset-s", "soon", "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and "takes 'fit' or a number" in " ".join(res.output.split())
    res = runner.invoke(app, ["movie", str(frames), "--pixel-size", "0.5", "--frame-time", "2", "--no-drift",
                              "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    out = tmp_path / "out"
    particles = _rows(out / "particles.csv")
    assert {int(r["frame"]) for r in particles} == {0, 1, 2}
    assert all(int(r["track_id"]) > 0 for r in particles) and len(particles) >= 30
    record = json.loads((out / "movie.json").read_text())
    assert record["input"]["frame_files"] == ["image_0.png", "image_9.png", "image_18.png"]
    assert record["chosen"]["contrast"] == "dark"
    from insitu4d.io.writers import read_array

    labels, attrs = read_array(out / "labels.h5")
    assert labels.shape == (3, 512, 512) and attrs["pixel_size_nm"] == 0.5


@pytest.mark.parametrize("seed", range(3))
def test_tracking_through_merges_in_2d(seed):
    """Particles that wander on a drifting stage while pairs touch and merge: each merge is one merge event of the two
    particles' tracks, between 2 frames before they touch and 2 after they are one; a particle keeps its track
    otherwise (at most one identity switch per movie)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_tracking2d import _score, _truth_labels

    from insitu4d.measure.frame_particles import measure_frame_particles
    from insitu4d.measure.tracking import track_particles
    from insitu4d.segment_frame import segment_frame
    from insitu4d.simulate.frames import particle_movie

    movie = particle_movie((160, 160), n_frames=24, coverage=0.2, n_merges=2, step_px=0.6, drift_px=0.7, counts=30,
                           seed=100 + seed)
    labels, frames = [], []
    for frame in movie.frames:
        seg = segment_frame(frame)
        labels.append(seg.labels)
        frames.append(measure_frame_particles(seg.labels, 1.0))
    tracks = track_particles(frames)
    merges = [(ev["time_index"], ev["tracks"][0], ev["into"]) for ev in tracks["events"] if ev["kind"] == "merge"]
    switches, found = _score(movie, _truth_labels(movie, labels), tracks["track_of"], merges)
    assert found == len(movie.merges) == 2
    assert switches <= 1


def test_the_dose_per_frame_from_a_scans_metadata(tmp_path):
    """Probe current 50 pA and dwell 2 µs per pixel on 32² pixels of 0.5 nm: 50e-12 × 2e-6 / e per pixel over
    0.25 nm², computed here by hand, added up frame by frame."""
    frames = np.random.default_rng(0).poisson(30, (3, 32, 32)).astype(np.float32)
    vendor = {"metadata": {"Acquisition_instrument": {"TEM": {"beam_current": 0.05, "dwell_time": 2e-6}}}}
    movie = Movie(frames, 0.5, np.arange(3.0), None, None, "scan", metadata={"vendor": vendor})
    from insitu4d.pipeline.movie import _conditions

    per_frame = 50e-12 * 2e-6 / 1.602176634e-19 / 0.25
    np.testing.assert_allclose(_conditions(movie, None, MovieParameters())["dose_e_per_nm2"],
                               per_frame * np.arange(1, 4), rtol=1e-12)
    given = _conditions(movie, None, MovieParameters(dose_per_frame_e_per_nm2=7.0))["dose_e_per_nm2"]
    np.testing.assert_allclose(given, [7, 14, 21])


@pytest.mark.skipif(not (Path(__file__).resolve().parents[2] / "shared" / "data" / "needle_tilt_series"
                         / "HAADF.dm3").is_file(), reason="the DM3 stack lives in ../shared/data")
def test_a_dm3_stack_as_a_movie():
    """A Gatan DM3 stack (the needle's 91 images) read as a movie, with the pixel size of its calibrated axes."""
    movie = read_movie(Path(__file__).resolve().parents[2] / "shared" / "data" / "needle_tilt_series" / "HAADF.dm3")
    assert movie.frames.shape == (91, 64, 64) and 10 < movie.pixel_size_nm < 30


def test_the_clock_offset_fitted_from_thermal_drift(tmp_path):
    """A scene that drifts fast while the holder ramps (thermal drift follows |dT/dt|), 1 frame/s, seen on a
    microscope clock 17 s behind the log: ``clock_offset_s="fit"`` finds 17 s within 1.5 s (a frame and a half), and
    the frames get the temperatures of that offset; 'fit' without drift correction is refused."""
    from scipy import ndimage

    from insitu4d.simulate.frames import particle_frame

    true = 17.0
    t = np.arange(0.0, 400.0, 0.5)
    T = np.interp(t, [0, 100, 130, 250, 280, 400], [300, 300, 350, 350, 400, 400])
    log = HolderLog(t, T, "ramps.csv", channels=(LogChannel("T", T, "C"),))
    n = 240
    start_s = 30.0 + np.arange(n)
    rate = np.abs(np.gradient(T, t))
    speed = 0.02 + 0.4 * np.interp(start_s + 0.5 + true, t, rate)  # px per frame: 0.7 on the ramps
    scene = particle_frame((128, 128), radius_px=(6, 10), coverage=0.2, counts=1e4, gradient=0.0, seed=1).image
    path = np.cumsum(np.stack([speed * 0.6, speed * 0.8], axis=1), axis=0)
    path -= path.mean(axis=0)
    rng = np.random.default_rng(2)
    frames = np.stack([rng.poisson(np.maximum(ndimage.shift(scene, p, order=1, mode="nearest"), 0) / 200)
                       for p in path]).astype(np.float32)
    # no dates: the frame times count on the log's clock, the movie's first frame 30 s after the log's start
    movie = Movie(frames, 1.0, start_s, 1.0, None, "thermal")
    record = run_movie(movie, tmp_path / "out", MovieParameters(clock_offset_s="fit"), holder_log=log)
    assert record["chosen"]["clock_offset_s"] == pytest.approx(true, abs=1.5)
    with pytest.raises(InvalidParameter, match="do not combine it with --no-drift"):
        run_movie(movie, tmp_path / "out2", MovieParameters(clock_offset_s="fit", correct_drift=False),
                  holder_log=log)
    with pytest.raises(InvalidParameter, match="a number of seconds or 'fit'"):
        MovieParameters(clock_offset_s="auto")
