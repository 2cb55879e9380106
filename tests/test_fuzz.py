"""Fuzzing of everything that reads a user's file: arbitrary bytes, and real files mutated (bytes flipped, cut
short, spliced), never give anything but a result or one of the project's errors, and never hang.

Property-based (hypothesis), derandomised so that CI is reproducible, with a deadline per
example against hangs; the whole module stays well under 2 minutes on 2 cores.
"""

import numpy as np
import pytest
from conftest import write_mrc_stack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insitu4d.errors import Insitu4dError
from insitu4d.io import read_array, read_tilt_file, read_tilt_series, write_array
from insitu4d.io.holder_log import read_holder_log
from insitu4d.pipeline import read_experiment
from insitu4d.pipeline.kinetics import read_pairs_table

FUZZ = settings(max_examples=40, deadline=5000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

TOML = """name = "fuzz"
[acquisition]
pixel_size_nm = 2.0
[reconstruct]
method = "sirt"
iterations = 10
[[timepoints]]
time_s = 0.0
tiltseries = "s.mrc"
tilts = "s.rawtlt"
[[timepoints]]
time_s = 10.0
temperature_C = 300.0
tiltseries = "s.mrc"
"""
HOLDER_LOG = "time_s,temperature_C\n0,25\n10,200\n20,350\n30,350\n40,350\n"
PAIRS = "time_s,pair_id,r_n_nm,d_nm,r_p_nm\n0,1,5,30,15\n10,1,6,29,15\n20,1,7,28,15\n30,1,8,27,15\n"
TILT_FILES = {".rawtlt": "-40\n-20\n0\n20\n40\n", ".csv": "tilt_deg\n-40\n0\n40\n",
              ".mdoc": "[ZValue = 0]\nTiltAngle = -40\n[ZValue = 1]\nTiltAngle = 40\n"}


def _outcome(read, path):
    """Call ``read(path)``: a result or an Insitu4dError pass; anything else fails the test."""
    try:
        read(path)
    except Insitu4dError:
        pass


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: float | None) -> bytes:
    buf = bytearray(data)
    for pos, value in edits:
        buf[pos % len(buf)] = value
    if cut is not None:
        buf = buf[: int(cut * len(buf))]
    return bytes(buf)


EDITS = st.lists(st.tuples(st.integers(0, 2 ** 20), st.integers(0, 255)), max_size=12)
CUTS = st.one_of(st.none(), st.floats(0.0, 1.0))


@pytest.fixture(scope="module")
def real_files(tmp_path_factory):
    """Small valid files of every kind the readers take."""
    d = tmp_path_factory.mktemp("fuzz_real")
    rng = np.random.default_rng(1)
    stack = rng.poisson(20.0, (9, 12, 12)).astype(np.float32)
    write_mrc_stack(d / "s.mrc", stack, voxel_size_angstrom=10)
    (d / "s.rawtlt").write_text("".join(f"{t}\n" for t in range(-40, 41, 10)))
    write_array(d / "v.h5", stack, attrs={"voxel_size_nm": 1.0})
    write_array(d / "v.tif", stack, attrs={"voxel_size_nm": 1.0})
    files = {"mrc": (d / "s.mrc").read_bytes(), "h5": (d / "v.h5").read_bytes(), "tif": (d / "v.tif").read_bytes()}
    return d, files


@FUZZ
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".mrc", ".dm3", ".dm4", ".emd", ".ser", ".tif",
                                                               ".hspy"]))
def test_tilt_series_reader_on_arbitrary_bytes(tmp_path, data, suffix):
    path = tmp_path / f"x{suffix}"
    path.write_bytes(data)
    _outcome(lambda p: read_tilt_series(p, tilts=np.arange(-40.0, 41.0, 10.0), pixel_size_nm=1.0), path)


@FUZZ
@given(edits=EDITS, cut=CUTS, kind=st.sampled_from(["mrc", "tif"]))
def test_tilt_series_reader_on_mutated_real_files(real_files, edits, cut, kind):
    d, files = real_files
    path = d / f"mutated.{kind}"
    path.write_bytes(_mutate(files[kind], edits, cut))
    _outcome(lambda p: read_tilt_series(p, tilts=np.arange(-40.0, 41.0, 10.0), pixel_size_nm=1.0), path)


@FUZZ
@given(edits=EDITS, cut=CUTS, kind=st.sampled_from(["h5", "tif"]))
def test_array_reader_on_mutated_real_files(real_files, edits, cut, kind):
    d, files = real_files
    path = d / f"mutated_array.{kind}"
    path.write_bytes(_mutate(files[kind], edits, cut))
    _outcome(read_array, path)


@FUZZ
@given(text=st.text(max_size=400), suffix=st.sampled_from(sorted(TILT_FILES)))
def test_tilt_file_parser_on_arbitrary_text(tmp_path, text, suffix):
    path = tmp_path / f"t{suffix}"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    _outcome(read_tilt_file, path)


@FUZZ
@given(edits=EDITS, cut=CUTS, suffix=st.sampled_from(sorted(TILT_FILES)))
def test_tilt_file_parser_on_mutated_files(tmp_path, edits, cut, suffix):
    path = tmp_path / f"m{suffix}"
    path.write_bytes(_mutate(TILT_FILES[suffix].encode(), edits, cut))
    _outcome(read_tilt_file, path)


@FUZZ
@given(edits=EDITS, cut=CUTS)
def test_experiment_loader_on_mutated_files(real_files, edits, cut):
    d, _ = real_files
    path = d / "exp.toml"
    path.write_bytes(_mutate(TOML.encode(), edits, cut))
    _outcome(read_experiment, path)


@FUZZ
@given(text=st.text(max_size=400))
def test_experiment_loader_on_arbitrary_text(tmp_path, text):
    path = tmp_path / "exp.toml"
    path.write_text(text, encoding="utf-8")
    _outcome(read_experiment, path)


@FUZZ
@given(edits=EDITS, cut=CUTS, kind=st.sampled_from(["holder", "pairs"]))
def test_holder_log_and_pair_table_on_mutated_files(tmp_path, edits, cut, kind):
    text, read = (HOLDER_LOG, read_holder_log) if kind == "holder" else (PAIRS, read_pairs_table)
    path = tmp_path / f"{kind}.csv"
    path.write_bytes(_mutate(text.encode(), edits, cut))
    _outcome(read, path)


@FUZZ
@given(text=st.text(max_size=400), kind=st.sampled_from(["holder", "pairs"]))
def test_holder_log_and_pair_table_on_arbitrary_text(tmp_path, text, kind):
    read = read_holder_log if kind == "holder" else read_pairs_table
    path = tmp_path / f"{kind}.csv"
    path.write_text(text, encoding="utf-8")
    _outcome(read, path)
