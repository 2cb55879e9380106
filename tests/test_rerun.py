"""A time point repeated from its run.json alone gives the same numbers; the record says how and where it ran."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import sphere_projections, write_mrc_stack
from typer.testing import CliRunner

from insitu4d.cli import app
from insitu4d.errors import InvalidParameter, UnreadableFile
from insitu4d.io.writers import read_array
from insitu4d.pipeline import RunParameters, run_tilt_series
from insitu4d.pipeline.rerun import rerun_time_point
from insitu4d.provenance import RunProvenance, current_environment


TILTS = np.arange(-60, 61, 3.0)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished time point of two touching spheres (SIRT, counts-like noise so the thinning seed is used)."""
    d = tmp_path_factory.mktemp("rerun")
    clean = sphere_projections([((0.0, 0.0, -7.0), 8.0), ((0.0, 0.0, 7.0), 8.0)], TILTS, 40, 40)
    counts = np.random.default_rng(5).poisson(20.0 + 60.0 * clean).astype(np.float32)
    stack = write_mrc_stack(d / "pair.mrc", counts)
    (d / "pair.rawtlt").write_text("\n".join(f"{t:.1f}" for t in TILTS))
    params = RunParameters(pixel_size_nm=1.0, method="sirt", iterations=20)
    run_tilt_series(stack, d / "out", tilts=d / "pair.rawtlt", params=params, figures=False)
    return d


def test_a_time_point_reruns_from_its_record_alone(finished_run, tmp_path):
    """Only run.json is kept (the colleague's copy); the rerun reads the recorded inputs and gets the same volume,
    labels and tables."""
    record = tmp_path / "record" / "run.json"
    record.parent.mkdir()
    shutil.copy(finished_run / "out" / "run.json", record)
    again = rerun_time_point(record, tmp_path / "again", figures=False)
    original = finished_run / "out"
    for name in ("volume.h5", "labels.h5", "aligned_tilt_series.h5"):
        np.testing.assert_array_equal(read_array(tmp_path / "again" / name)[0], read_array(original / name)[0])
    for name in ("particles.csv", "pairs.csv"):
        assert (tmp_path / "again" / name).read_text() == (original / name).read_text()
    first = json.loads((original / "run.json").read_text())
    assert again.n_pairs == first["n_pairs"] == 1
    assert again.reprojection_residual == pytest.approx(first["reprojection_residual"], rel=0, abs=0)


def test_run_json_records_where_and_how_it_ran(finished_run):
    saved = json.loads((finished_run / "out" / "run.json").read_text())
    prov = RunProvenance.from_dict(saved["provenance"])
    assert prov.started_utc <= prov.finished_utc and prov.finished_utc.endswith("+00:00")
    assert prov.random_seeds == {"noise_thinning": 0}
    assert prov.libraries["numpy"] == np.__version__ and "insitu4d" in prov.libraries
    assert prov.python and prov.host is not None and "logical cores" in prov.cpu
    assert prov.command_line  # sys.argv of the process (pytest's here)
    for name, entry in saved["inputs"].items():  # absolute paths
        assert entry["path"].startswith("/"), name
    assert "aligned_tilt_series.h5" in saved["outputs"]
    aligned, attrs = read_array(finished_run / "out" / "aligned_tilt_series.h5")
    assert aligned.shape[0] == len(TILTS) and np.allclose(attrs["tilts_deg"], TILTS)
    assert attrs["pixel_size_nm"] == pytest.approx(1.0)


def test_environment_record_round_trips():
    env = current_environment().finished(bootstrap_resamples=100, twin=3)
    assert RunProvenance.from_dict(json.loads(json.dumps(env.to_dict()))) == env
    assert env.bootstrap_resamples == 100 and env.random_seeds == {"twin": 3}


def test_rerun_refuses_a_changed_input_and_its_own_folder(finished_run, tmp_path):
    saved = json.loads((finished_run / "out" / "run.json").read_text())
    copy = tmp_path / "pair.mrc"
    shutil.copy(saved["inputs"]["tilt_series"]["path"], copy)
    saved["inputs"]["tilt_series"]["path"] = str(copy)
    (tmp_path / "run.json").write_text(json.dumps(saved))
    with pytest.raises(InvalidParameter, match="folder of the run being repeated"):
        rerun_time_point(tmp_path / "run.json", tmp_path)
    with open(copy, "r+b") as f:  # one byte of the stack changed
        f.seek(-1, 2)
        f.write(b"\x01")
    with pytest.raises(UnreadableFile, match=r"input 'tilt_series' .* has changed since the run: .*pair.mrc"):
        rerun_time_point(tmp_path / "run.json", tmp_path / "again")
    copy.unlink()
    result = CliRunner().invoke(app, ["rerun", str(tmp_path / "run.json"), "-o", str(tmp_path / "again")])
    assert result.exit_code == 2 and "is gone" in result.output and "Restore it" in result.output
