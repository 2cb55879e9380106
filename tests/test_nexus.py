"""NeXus NXem files: valid by pynxtools' own validator, readable with h5py alone, refused when broken."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from insitu4d.cli import app
from insitu4d.errors import UnreadableFile
from insitu4d.io import nexus as nexus_module
from insitu4d.io.nexus import export_nexus, validate_nexus
from insitu4d.pipeline import RunParameters, run_tilt_series

pytest.importorskip("pynxtools")


@pytest.fixture(scope="module")
def needle_nxs(tmp_path_factory, needle_paths):
    mrc, rawtlt = needle_paths
    out = tmp_path_factory.mktemp("needle_nx")
    run_tilt_series(mrc, out, tilts=rawtlt, params=RunParameters(iterations=10), figures=False)
    (path,) = export_nexus(out)
    return out, path


def test_the_needle_run_validates_against_nxem(needle_nxs):
    _, path = needle_nxs
    report = validate_nexus(path)
    assert report.valid, report.problems
    assert path.name == "run.nxs"


def test_h5py_alone_finds_the_numbers_of_run_json(needle_nxs):
    """The README's paths: tilt angles, dose, shifts, voxel size, volume, neck radii with error bars."""
    out, path = needle_nxs
    run = json.loads((out / "run.json").read_text())
    with h5py.File(path, "r") as f:
        e = f["entry1"]
        assert e["definition"][()].decode() == "NXem"
        tilt = e["sample_reference_frame/transformations/tilt"]
        np.testing.assert_allclose(tilt[()], run["tilt_series"]["tilts_deg"])
        assert tilt.attrs["units"] == "deg" and tilt.attrs["transformation_type"] == "rotation"
        np.testing.assert_allclose(tilt.attrs["vector"], [0, 1, 0])
        np.testing.assert_allclose(np.c_[e["alignment/shifts/shift_y"][()], e["alignment/shifts/shift_x"][()]],
                                   run["alignment"]["shifts_px"])
        voxel = e["reconstruction/parameters/voxel_size"]
        assert voxel[()] == pytest.approx(run["tilt_series"]["pixel_size_nm"]) and voxel.attrs["units"] == "nm"
        volume = e["reconstruction/volume/intensity"][()]
        np.testing.assert_array_equal(volume, h5py.File(out / "volume.h5", "r")["data"][()])
        np.testing.assert_allclose(np.diff(e["reconstruction/volume/x"][()]), voxel[()])
        assert e["reconstruction/volume"].attrs["signal"] == "intensity"
        assert e["segmentation/labels/label"].shape == volume.shape
        assert e["note_tilt_series/checksum"][()].decode() == run["inputs"]["tilt_series"]["sha256"]
        assert e["measurement/event1/image1/stack_2d/real"].shape == tuple(run["tilt_series"]["shape"])
        if "dose_per_frame_e_per_nm2" in run["dose"]:
            np.testing.assert_allclose(e["dose/dose/dose_per_image"][()], run["dose"]["dose_per_frame_e_per_nm2"])
        assert "z along the beam" in e["reconstruction/frames_of_reference/description"][()].decode()
        n_pairs = run["n_pairs"]
        if n_pairs:
            assert e["measurement_3d/pairs/r_n"].shape == e["measurement_3d/pairs/r_n_errors"].shape == (n_pairs,)


def _break(src, dst, action):
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        action(f)
    return dst


@pytest.mark.parametrize("what, action, named", [
    ("start_time removed", lambda f: f["entry1"].__delitem__("start_time"), "start_time"),
    ("start_time not a date", lambda f: (f["entry1"].__delitem__("start_time"),
                                         f["entry1"].create_dataset("start_time", data="yesterday")), "start_time"),
    ("definition removed", lambda f: f["entry1"].__delitem__("definition"), "definition"),
    ("an undocumented field", lambda f: f["entry1/reconstruction"].create_dataset("made_up_field", data=1),
     "made_up_field"),
])
def test_a_broken_file_does_not_validate(needle_nxs, tmp_path, what, action, named):
    _, path = needle_nxs
    report = validate_nexus(_break(path, tmp_path / "broken.nxs", action))
    assert not report.valid, what
    assert any(named in p for p in report.problems), report.problems


def test_export_names_what_is_missing(tmp_path, monkeypatch):
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(tmp_path), "--nexus"])
    assert result.exit_code == 2 and "not an insitu4d output folder" in result.output
    with pytest.raises(UnreadableFile, match="neither experiment.json"):
        export_nexus(tmp_path)
    monkeypatch.setattr(nexus_module, "nexus_available", lambda: False)
    result = runner.invoke(app, ["export", str(tmp_path), "--nexus"])
    assert result.exit_code == 2 and "pip install 'insitu4d[nexus]'" in result.output
    with pytest.raises(UnreadableFile, match="not an HDF5 file"):
        monkeypatch.undo()
        validate_nexus(tmp_path / "absent.nxs")


def test_a_correlation_goes_into_the_nexus_file(needle_nxs, tmp_path):
    """correlate on a folder with run.nxs rewrites it with the transform (here the volume's own projection at its
    voxel size: scale 1, rotation 0) and the image's checksum; the file stays valid."""
    import tifffile

    from insitu4d.align.correlate import project_volume
    from insitu4d.io.writers import read_array
    from insitu4d.pipeline.jobs import correlate_file

    out, path = needle_nxs
    volume, attrs = read_array(out / "volume.h5")
    tifffile.imwrite(tmp_path / "overview.tif", project_volume(volume).astype(np.float32))
    record = correlate_file(tmp_path / "overview.tif", out, pixel_size_nm=attrs["voxel_size_nm"])
    assert validate_nexus(path).valid
    with h5py.File(path, "r") as f:
        g = f["entry1/correlation"]
        assert g["parameters/scale"][()] == pytest.approx(record["transform"]["scale"])
        assert g["parameters/scale"][()] == pytest.approx(1.0, abs=0.01)
        assert abs(g["parameters/rotation_deg"][()]) < 0.5
        assert g["image/checksum"][()].decode() == record["image"]["sha256"]
