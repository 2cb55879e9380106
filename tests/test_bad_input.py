"""The bad-input corpus: every command against bad or awkward input, through the command line as a user meets it.

Each case asserts the exit code and the words of the message (or, where the input is valid,
the right result), and that no traceback and no internal error reach the user. The cases stop
before any expensive stage, so the corpus runs in seconds.
"""

import csv
import json
import os
import struct

import numpy as np
import pytest
from conftest import write_mrc_stack
from typer.testing import CliRunner

from insitu4d.cli import app
from insitu4d.io import write_array

runner = CliRunner()

TILTS = np.arange(-40.0, 41.0, 10.0)  # 9 tilts, degrees


def _tilt_file(path, tilts):
    path.write_text("".join(f"{t:.6g}\n" for t in tilts))
    return path


def _pairs_csv(path, rows, columns=("time_s", "pair_id", "r_n_nm", "d_nm", "r_p_nm")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    """A folder of good and bad inputs."""
    d = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    stack = 100.0 + rng.poisson(20.0, (len(TILTS), 16, 16))
    write_mrc_stack(d / "good.mrc", stack, voxel_size_angstrom=10)
    _tilt_file(d / "good.rawtlt", TILTS)
    write_mrc_stack(d / "rad.mrc", stack, voxel_size_angstrom=10)
    _tilt_file(d / "rad.rawtlt", np.radians(TILTS))
    write_mrc_stack(d / "const.mrc", np.zeros_like(stack), voxel_size_angstrom=10)
    _tilt_file(d / "const.rawtlt", TILTS)
    write_mrc_stack(d / "few.mrc", stack[:3], voxel_size_angstrom=10)
    _tilt_file(d / "few.rawtlt", [-20, 0, 20])
    write_mrc_stack(d / "nocal.mrc", stack)
    _tilt_file(d / "nocal.rawtlt", TILTS)
    raw = (d / "good.mrc").read_bytes()
    (d / "nz.mrc").write_bytes(raw[:8] + struct.pack("<i", 5) + raw[12:])  # header says 5 of 9 images
    _tilt_file(d / "nz.rawtlt", TILTS[:5])
    (d / "cut.mrc").write_bytes(raw[:-300])
    (d / "tiny.mrc").write_bytes(b"not an mrc file at all")
    for name in ("empty.mrc", "empty.tif", "empty.dm4", "empty.h5", "empty.toml", "empty.csv", "empty.rawtlt",
                 "empty.hspy", "empty.emi"):
        (d / name).write_bytes(b"")
    for name in ("junk.dm3", "junk.emd", "junk.ser", "junk.h5", "junk.tif", "junk.hspy", "junk.emi", "junk.st"):
        (d / name).write_bytes(bytes(rng.integers(0, 256, 4000, dtype=np.uint8)))
    write_array(d / "cut_source.tif", stack.astype(np.float32))
    (d / "cut.tif").write_bytes((d / "cut_source.tif").read_bytes()[:2000])
    _tilt_file(d / "text.rawtlt", [0, 1]).write_text("-40\nminus thirty\n")
    _tilt_file(d / "down_up.rawtlt", [-40, -30, -20, -30, 0, 10, 20, 30, 40])
    _tilt_file(d / "twice.rawtlt", [-40, -30, -20, -10, -10, 10, 20, 30, 40])
    _tilt_file(d / "eight.rawtlt", TILTS[:8])
    (d / "nocol.csv").write_text("index,value\n0,-40\n")
    z, y, x = np.mgrid[:24, :24, :24]
    ball = (((z - 12) ** 2 + (y - 12) ** 2 + (x - 12) ** 2) < 49).astype(np.float32)
    write_array(d / "volume.h5", ball, attrs={"voxel_size_nm": 2.0})
    write_array(d / "volume_novs.h5", ball)
    write_array(d / "volume_const.h5", np.ones_like(ball), attrs={"voxel_size_nm": 2.0})
    write_array(d / "labels_zero.h5", np.zeros((24, 24, 24), np.int32), attrs={"voxel_size_nm": 2.0})
    write_array(d / "labels_novs.h5", ball.astype(np.int32))
    write_array(d / "movie_const.tif", np.full((6, 32, 32), 7.0, np.float32))
    write_array(d / "movie.tif", rng.poisson(30.0, (6, 32, 32)).astype(np.float32))
    rows = [(t, 1, 10 + t / 10, 30, 15) for t in (0, 10, 20, 30, 40)]
    _pairs_csv(d / "pairs.csv", rows)
    _pairs_csv(d / "pairs_text_time.csv", [("soon", 1, 10, 30, 15), *rows[1:]])
    _pairs_csv(d / "pairs_empty_rn.csv", [(0, 1, "", 30, 15), *rows[1:]])
    _pairs_csv(d / "pairs_cols.csv", [(0, 1)], columns=("time_s", "pair_id"))
    _pairs_csv(d / "pairs_three.csv", rows[:3])
    (d / "holder_empty.csv").write_text("")
    (d / "a_file").write_text("x")
    (d / "folder").mkdir()
    return d


def _toml(d, name, text):
    path = d / name
    path.write_text(text)
    return str(path)


TIMEPOINT = '[[timepoints]]\ntime_s = 0.0\ntiltseries = "good.mrc"\n'

#: (case id, argv from the corpus folder, exit code, words the message must hold)
CASES = [
    # tilt angles
    ("radians-run", lambda d: ["run", f"{d}/rad.mrc", "-o", f"{d}/o_rad"], 2, "look like radians"),
    ("radians-reconstruct", lambda d: ["reconstruct", f"{d}/rad.mrc", "-o", f"{d}/v.h5"], 2, "--tilts-unit rad"),
    ("radians-align", lambda d: ["align", f"{d}/rad.mrc", "-o", f"{d}/a.mrc"], 2, "look like radians"),
    ("radians-info", lambda d: ["info", f"{d}/rad.mrc"], 2, "look like radians"),
    ("radians-accepted-with-unit", lambda d: ["info", f"{d}/rad.mrc", "--tilts-unit", "rad"], 0,
     "9 from -40° to 40°"),
    ("tilts-unit-unknown", lambda d: ["info", f"{d}/good.mrc", "--tilts-unit", "grad"], 2,
     "'grad' is not one of 'deg'"),
    ("tilt-file-text", lambda d: ["info", f"{d}/good.mrc", "--tilts", f"{d}/text.rawtlt"], 2,
     "line 2: expected one tilt angle in degrees"),
    ("tilt-file-empty", lambda d: ["info", f"{d}/good.mrc", "--tilts", f"{d}/empty.rawtlt"], 2, "holds no tilt angle"),
    ("tilt-file-missing", lambda d: ["info", f"{d}/good.mrc", "--tilts", f"{d}/nope.rawtlt"], 2,
     "tilt file not found"),
    ("tilts-not-monotonic", lambda d: ["info", f"{d}/good.mrc", "--tilts", f"{d}/down_up.rawtlt"], 2,
     "not monotonic"),
    ("tilts-duplicated", lambda d: ["info", f"{d}/good.mrc", "--tilts", f"{d}/twice.rawtlt"], 2,
     "duplicated tilt angle -10°"),
    ("tilts-count", lambda d: ["run", f"{d}/good.mrc", "--tilts", f"{d}/eight.rawtlt", "-o", f"{d}/o_8"], 2,
     "9 images but 8 tilt angles"),
    ("tilts-csv-no-column", lambda d: ["info", f"{d}/good.mrc", "--tilts", f"{d}/nocol.csv"], 2,
     "no tilt-angle column"),
    ("few-tilts-run", lambda d: ["run", f"{d}/few.mrc", "-o", f"{d}/o_few"], 2, "at least 7 tilts"),
    ("few-tilts-align", lambda d: ["align", f"{d}/few.mrc", "-o", f"{d}/a.mrc"], 2, "at least 7 tilts"),
    # files: missing, empty, truncated, damaged, disagreeing with their header
    ("missing-input", lambda d: ["run", f"{d}/nope.mrc", "-o", f"{d}/o_nope"], 2, "file not found"),
    ("unknown-format", lambda d: ["info", f"{d}/a_file"], 2, "unknown file format"),
    ("mrc-header-nz-short", lambda d: ["info", f"{d}/nz.mrc"], 2, "holds more data than its header says"),
    ("mrc-truncated", lambda d: ["info", f"{d}/cut.mrc"], 2, "cut.mrc is truncated"),
    ("mrc-tiny", lambda d: ["run", f"{d}/tiny.mrc", "-o", f"{d}/o_tiny"], 2, "less than the 1024 of an MRC header"),
    ("mrc-empty", lambda d: ["info", f"{d}/empty.mrc"], 2, "empty.mrc is empty (0 bytes)"),
    ("tif-empty", lambda d: ["info", f"{d}/empty.tif"], 2, "empty.tif is empty (0 bytes)"),
    ("dm4-empty", lambda d: ["info", f"{d}/empty.dm4"], 2, "empty.dm4 is empty (0 bytes)"),
    ("tif-truncated", lambda d: ["info", f"{d}/cut.tif"], 2, "cut.tif is damaged, truncated or not a TIFF file"),
    ("dm3-junk", lambda d: ["info", f"{d}/junk.dm3"], 2, "junk.dm3 is damaged, truncated or not a"),
    ("emd-junk", lambda d: ["info", f"{d}/junk.emd"], 2, "junk.emd is damaged, truncated or not a"),
    ("ser-junk", lambda d: ["info", f"{d}/junk.ser"], 2, "junk.ser is damaged, truncated or not a"),
    ("hspy-junk", lambda d: ["info", f"{d}/junk.hspy"], 2, "junk.hspy is damaged, truncated or not a"),
    ("emi-junk", lambda d: ["info", f"{d}/junk.emi"], 2, "junk.emi holds no image data"),
    ("st-junk", lambda d: ["info", f"{d}/junk.st"], 2, "junk.st"),
    ("hspy-empty", lambda d: ["info", f"{d}/empty.hspy"], 2, "empty.hspy is empty (0 bytes)"),
    ("emi-empty", lambda d: ["info", f"{d}/empty.emi"], 2, "empty.emi is empty (0 bytes)"),
    ("constant-info", lambda d: ["info", f"{d}/const.mrc"], 2, "holds no image"),
    ("h5-empty-segment", lambda d: ["segment", f"{d}/empty.h5", "-o", f"{d}/l.h5"], 2, "empty.h5 is empty (0 bytes)"),
    ("h5-junk-segment", lambda d: ["segment", f"{d}/junk.h5", "-o", f"{d}/l.h5"], 2,
     "junk.h5 is damaged, truncated or not an HDF5 file"),
    ("tif-truncated-drift", lambda d: ["drift", f"{d}/cut.tif", "-o", f"{d}/m.tif"], 2,
     "cut.tif is damaged, truncated or not a TIFF file"),
    # constant stacks, for every command that takes one
    ("constant-run", lambda d: ["run", f"{d}/const.mrc", "-o", f"{d}/o_const"], 2, "holds no image"),
    ("constant-align", lambda d: ["align", f"{d}/const.mrc", "-o", f"{d}/a.mrc"], 2, "holds no image"),
    ("constant-reconstruct", lambda d: ["reconstruct", f"{d}/const.mrc", "-o", f"{d}/v.h5"], 2, "holds no image"),
    ("constant-denoise", lambda d: ["denoise", f"{d}/movie_const.tif", "-o", f"{d}/dn.tif"], 2, "holds no image"),
    ("constant-drift", lambda d: ["drift", f"{d}/movie_const.tif", "-o", f"{d}/m.tif"], 2, "holds no image"),
    ("constant-segment", lambda d: ["segment", f"{d}/volume_const.h5", "-o", f"{d}/l.h5"], 2, "constant"),
    ("zero-labels-measure", lambda d: ["measure", f"{d}/labels_zero.h5"], 0, "0 particle(s), 0 touching pair(s)"),
    # calibration stays missing when it is missing
    ("no-pixel-size-run", lambda d: ["run", f"{d}/nocal.mrc", "-o", f"{d}/o_nocal"], 2, "--pixel-size NM"),
    ("no-voxel-size-segment", lambda d: ["segment", f"{d}/volume_novs.h5", "-o", f"{d}/l.h5"], 2,
     "does not store its voxel size; give it with --voxel-size NM"),
    ("no-voxel-size-measure", lambda d: ["measure", f"{d}/labels_novs.h5"], 2, "does not store its voxel size"),
    ("voxel-size-given-measure", lambda d: ["measure", f"{d}/labels_novs.h5", "--voxel-size", "2"], 0,
     "1 particle(s)"),
    # numeric options out of range
    ("thickness-0", lambda d: ["reconstruct", f"{d}/good.mrc", "-o", f"{d}/v.h5", "--thickness-px", "0",
                               "--no-align"], 2, "thickness_px must be a whole number ≥ 1"),
    ("iterations-0", lambda d: ["run", f"{d}/good.mrc", "-o", f"{d}/o_it", "--iterations", "0"], 2,
     "iterations must be a whole number in [1, 10000]"),
    ("iterations-huge", lambda d: ["reconstruct", f"{d}/good.mrc", "-o", f"{d}/v.h5", "--iterations", "100000000",
                                   "--no-align"], 2, "iterations must be a whole number in [1, 10000]"),
    ("bin-0", lambda d: ["run", f"{d}/good.mrc", "-o", f"{d}/o_bin", "--bin", "0"], 2,
     "bin_factor must be a whole number ≥ 1"),
    ("pixel-size-0", lambda d: ["run", f"{d}/good.mrc", "-o", f"{d}/o_px", "--pixel-size", "0"], 2,
     "pixel_size_nm must be a positive number"),
    ("pixel-size-negative-info", lambda d: ["info", f"{d}/good.mrc", "--pixel-size", "-1"], 2,
     "pixel_size_nm must be a positive number"),
    ("tv-weight-negative", lambda d: ["run", f"{d}/good.mrc", "-o", f"{d}/o_tv", "--tv-weight", "-1"], 2,
     "tv_weight must be 'auto' or a number ≥ 0"),
    ("tv-weight-text", lambda d: ["run", f"{d}/good.mrc", "-o", f"{d}/o_tv", "--tv-weight", "strong"], 2,
     "--tv-weight takes 'auto' or a number"),
    ("tilt-axis-text", lambda d: ["run", f"{d}/good.mrc", "-o", f"{d}/o_ax", "--tilt-axis-deg", "up"], 2,
     "--tilt-axis-deg takes 'auto' or a number"),
    ("reference-frames-0", lambda d: ["drift", f"{d}/movie.tif", "-o", f"{d}/m.tif", "--reference-frames", "0"], 2,
     "reference_frames must be a whole number ≥ 1"),
    ("strength-negative", lambda d: ["denoise", f"{d}/movie.tif", "-o", f"{d}/dn.tif", "--strength", "-1"], 2,
     "strength must be a positive number"),
    ("gain-0", lambda d: ["denoise", f"{d}/movie.tif", "-o", f"{d}/dn.tif", "--gain", "0", "--strength", "1"], 2,
     "strength and gain must be > 0; got 1.0 and 0.0"),
    ("read-noise-negative", lambda d: ["denoise", f"{d}/movie.tif", "-o", f"{d}/dn.tif", "--read-noise", "-1",
                                       "--strength", "1"], 2, "read_noise must be a number ≥ 0"),
    ("bootstrap-negative", lambda d: ["fit", f"{d}/pairs.csv", "--bootstrap", "-1"], 2,
     "n_bootstrap must be a whole number ≥ 0"),
    ("hold-tolerance-0", lambda d: ["fit", f"{d}/pairs.csv", "--hold-tolerance-C", "0"], 2,
     "hold_tolerance_C must be a positive number"),
    ("min-hold-negative", lambda d: ["fit", f"{d}/pairs.csv", "--min-hold-s", "-5"], 2,
     "min_hold_s must be a number of seconds ≥ 0"),
    ("time-exponent-0", lambda d: ["fit", f"{d}/pairs.csv", "--time-exponent", "0"], 2,
     "time_exponent must be a positive number"),
    ("dose-frames-0", lambda d: ["dose", "--current-pA", "2", "--dwell-time-ns", "500", "--pixel-size", "1",
                                 "--shape", "64x64", "--frames", "0"], 2, "frames"),
    ("dose-pixel-0", lambda d: ["dose", "--current-pA", "2", "--dwell-time-ns", "500", "--pixel-size", "0",
                                "--shape", "64x64"], 2, "pixel"),
    ("dose-current-negative", lambda d: ["dose", "--current-pA", "-2", "--dwell-time-ns", "500", "--pixel-size",
                                         "1", "--shape", "64x64"], 2, "current"),
    ("dose-shape-text", lambda d: ["dose", "--current-pA", "2", "--dwell-time-ns", "500", "--pixel-size", "1",
                                   "--shape", "big"], 2, "NYxNX"),
    ("knockon-energy-0", lambda d: ["knockon", "--beam-keV", "0", "--mass-u", "63.5"], 2, "keV"),
    ("knockon-mass-0", lambda d: ["knockon", "--beam-keV", "300", "--mass-u", "0"], 2, "mass"),
    # output paths, checked before any work
    ("output-folder-is-file", lambda d: ["run", f"{d}/good.mrc", "-o", f"{d}/a_file"], 2,
     "output folder", ),
    ("reconstruct-output-suffix", lambda d: ["reconstruct", f"{d}/good.mrc", "-o", f"{d}/v.xyz"], 2,
     "use a file name ending in .h5"),
    ("reconstruct-output-folder", lambda d: ["reconstruct", f"{d}/good.mrc", "-o", f"{d}/folder"], 2,
     "is a folder; give a file name"),
    ("align-output-suffix", lambda d: ["align", f"{d}/good.mrc", "-o", f"{d}/a.tif"], 2, "ending in .mrc"),
    ("align-json-suffix", lambda d: ["align", f"{d}/good.mrc", "-o", f"{d}/a.mrc", "--json-out", f"{d}/a.txt"], 2,
     "ending in .json"),
    ("segment-output-under-file", lambda d: ["segment", f"{d}/volume.h5", "-o", f"{d}/a_file/l.h5"], 2,
     "is a file"),
    ("measure-json-suffix", lambda d: ["measure", f"{d}/labels_zero.h5", "--json-out", f"{d}/m.csv"], 2,
     "ending in .json"),
    ("fit-plot-suffix", lambda d: ["fit", f"{d}/pairs.csv", "--plot", f"{d}/fit.xyz"], 2, "ending in .png"),
    ("drift-output-suffix", lambda d: ["drift", f"{d}/movie.tif", "-o", f"{d}/m.mrc"], 2, "ending in .h5"),
    ("denoise-output-suffix", lambda d: ["denoise", f"{d}/movie.tif", "-o", f"{d}/dn.mrc"], 2, "ending in .h5"),
    ("simulate-output-is-file", lambda d: ["simulate", _toml(d, "sim.toml", SIM_TOML), "-o", f"{d}/a_file"], 2,
     "is a file"),
    ("simulate-without-simulation-table",
     lambda d: ["simulate", _toml(d, "nosim.toml", f"[acquisition]\npixel_size_nm = 1.0\n{TIMEPOINT}"), "-o",
                f"{d}/o_nosim"], 2, "nosim.toml has no [simulation] table: nothing to simulate"),
    # experiment files
    ("toml-table-typo", lambda d: ["run", _toml(d, "t1.toml", f"[reconstuct]\nmethod = 'tv'\n{TIMEPOINT}"),
                                   "-o", f"{d}/o_t"], 2, "unknown key 'reconstuct'; did you mean 'reconstruct'?"),
    ("toml-old-pipeline-table", lambda d: ["run", _toml(d, "t15.toml", f"[pipeline]\nmethod = 'tv'\n{TIMEPOINT}"),
                                           "-o", f"{d}/o_t"], 2, "move method → [reconstruct]"),
    ("toml-key-in-wrong-stage", lambda d: ["run", _toml(d, "t16.toml", f"[align]\niterations = 5\n{TIMEPOINT}"),
                                           "-o", f"{d}/o_t"], 2, "[align]: unknown key 'iterations'"),
    ("toml-timepoint-key-typo", lambda d: ["run", _toml(d, "t2.toml", f"{TIMEPOINT}temperature = 300\n"),
                                           "-o", f"{d}/o_t"], 2, "did you mean 'temperature_C'?"),
    ("toml-acquisition-key-typo", lambda d: ["run", _toml(d, "t3.toml", f"[acquisition]\npixel_size = 1\n{TIMEPOINT}"),
                                             "-o", f"{d}/o_t"], 2, "did you mean 'pixel_size_nm'?"),
    ("toml-segment-key-typo", lambda d: ["run", _toml(d, "t4.toml", f"[segment]\nmin_volume = 10\n{TIMEPOINT}"),
                                         "-o", f"{d}/o_t"], 2, "did you mean 'min_volume_vox'?"),
    ("toml-iterations-fraction", lambda d: ["run", _toml(d, "t5.toml", f"[reconstruct]\niterations = 2.7\n{TIMEPOINT}"),
                                            "-o", f"{d}/o_t"], 2, "iterations must be a whole number"),
    ("toml-timepoints-numbers", lambda d: ["run", _toml(d, "t6.toml", "timepoints = [1, 2]\n"), "-o", f"{d}/o_t"],
     2, "timepoints must be tables"),
    ("toml-tiltseries-number", lambda d: ["run", _toml(d, "t7.toml", "[[timepoints]]\ntime_s = 0\ntiltseries = 5\n"),
                                          "-o", f"{d}/o_t"], 2, "'tiltseries' must be a file name in quotes"),
    ("toml-time-text", lambda d: ["run", _toml(d, "t8.toml", "[[timepoints]]\ntime_s = 'zero'\n"), "-o", f"{d}/o_t"],
     2, "'time_s' must be a number"),
    ("toml-syntax", lambda d: ["run", _toml(d, "t9.toml", "[pipeline\nmethod = tv\n"), "-o", f"{d}/o_t"], 2,
     "is not valid TOML"),
    ("toml-empty", lambda d: ["run", f"{d}/empty.toml", "-o", f"{d}/o_t"], 2, "no [[timepoints]]"),
    ("toml-method-unknown", lambda d: ["run", _toml(d, "t10.toml", f"[reconstruct]\nmethod = 'art'\n{TIMEPOINT}"),
                                       "-o", f"{d}/o_t"], 2, "unknown reconstruction method 'art'"),
    ("toml-bool-text", lambda d: ["run", _toml(d, "t11.toml", f"[reconstruct]\ntemporal_prior = 'yes'\n{TIMEPOINT}"),
                                  "-o", f"{d}/o_t"], 2, "temporal_prior must be true or false"),
    ("toml-measure-bool-text", lambda d: ["run", _toml(d, "t17.toml", f"[measure]\nneck_fit = 'no'\n{TIMEPOINT}"),
                                          "-o", f"{d}/o_t"], 2, "neck_fit must be true or false"),
    ("toml-measure-key-typo", lambda d: ["run", _toml(d, "t18.toml", f"[measure]\nneckfit = false\n{TIMEPOINT}"),
                                         "-o", f"{d}/o_t"], 2, "did you mean 'neck_fit'?"),
    ("toml-segment-wrong-type", lambda d: ["run", _toml(d, "t12.toml", f"[segment]\nsplit_h = 'a'\n{TIMEPOINT}"),
                                           "-o", f"{d}/o_t"], 2, "[segment]"),
    ("toml-with-options", lambda d: ["run", _toml(d, "t13.toml", TIMEPOINT), "--method", "fbp", "--iterations", "5",
                                     "-o", f"{d}/o_t"], 2, "--method, --iterations do(es) not apply to an experiment"),
    ("toml-missing", lambda d: ["run", f"{d}/nope.toml", "-o", f"{d}/o_t"], 2, "does not exist"),
    ("toml-tiltseries-missing", lambda d: ["run", _toml(d, "t14.toml", TIMEPOINT.replace("good", "gone")),
                                           "-o", f"{d}/o_t14"], 2, "file not found"),
    # tables
    ("csv-time-text", lambda d: ["fit", f"{d}/pairs_text_time.csv"], 2,
     "line 2: time_s must be a number (seconds); got 'soon'"),
    ("csv-empty-value", lambda d: ["fit", f"{d}/pairs_empty_rn.csv"], 2, "line 2: r_n_nm must be a number; got ''"),
    ("csv-missing-columns", lambda d: ["fit", f"{d}/pairs_cols.csv"], 2, "lacks the column(s) r_n_nm, d_nm, r_p_nm"),
    ("csv-empty", lambda d: ["fit", f"{d}/empty.csv"], 2, "lacks the column(s)"),
    ("csv-too-few-points", lambda d: ["fit", f"{d}/pairs_three.csv"], 2, "4 or more time points"),
    ("holder-log-empty", lambda d: ["fit", f"{d}/pairs.csv", "--holder-log", f"{d}/holder_empty.csv"], 2,
     "holder_empty.csv"),
]

SIM_TOML = """
[acquisition]
pixel_size_nm = 2.0
dose_e_per_nm2 = 250.0
[[timepoints]]
time_s = 0.0
[simulation]
shape_px = [8, 16, 16]
"""


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_its_message(d, case):
    _, argv, code, words = case
    res = runner.invoke(app, argv(d))
    text = " ".join(res.output.split())  # rich may wrap; compare the words
    assert "Traceback" not in res.output and "internal error" not in res.output, res.output
    assert res.exit_code == code, res.output
    assert " ".join(words.split()) in text, res.output


def test_a_failed_run_leaves_no_result_that_looks_like_its_own(d, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"n_particles": 7}))
    res = runner.invoke(app, ["run", f"{d}/const.mrc", "-o", str(out)])
    assert res.exit_code == 2
    assert not (out / "run.json").exists()
    assert json.loads((out / "run.json.previous").read_text()) == {"n_particles": 7}
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and "holds no image" in status["error"]


def test_internal_errors_are_one_line_and_a_log(monkeypatch, d):
    import insitu4d.pipeline as pipeline

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(pipeline, "measure_file", broken)
    res = runner.invoke(app, ["measure", f"{d}/labels_zero.h5"])
    assert res.exit_code == 3 and "Traceback" not in res.output
    assert "internal error" in res.output and "ZeroDivisionError: a bug" in res.output
    log = res.output.split("The details are in ")[1].split(";")[0].strip()
    assert "Traceback" in open(log).read()
    os.unlink(log)
