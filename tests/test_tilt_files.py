"""A tilt series of one file per tilt: angles from metadata, names or a tilt file; order, checks, and a run."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import SHARED_DATA, sphere_projections

from insitu4d.errors import InvalidTiltAngles, MissingPixelSize, MissingTiltAngles, NotAStack, UnreadableFile
from insitu4d.io import read_tilt_series
from insitu4d.io.tilt_files import tilt_from_file_name
from insitu4d.pipeline import RunParameters, run_tilt_series
from insitu4d.pipeline.rerun import rerun_time_point
from insitu4d.pipeline.result import InputFile

TILTS = np.arange(-60.0, 61.0, 5.0)


@pytest.mark.parametrize("name, tilt", [
    ("-40.bcf", -40.0), ("35.bcf", 35.0), ("12.5.dm4", 12.5), ("+7.tif", 7.0),
    ("tilt_p5.tif", 5.0), ("tilt_n5.tif", -5.0), ("HAADF_m10.emd", -10.0), ("p0.tif", 0.0),
    ("series_tilt-30.emd", -30.0), ("img_angle_+12.tif", 12.0), ("scan_deg15.dm3", 15.0),
    ("image_007.tif", None), ("sample5.tif", None), ("HAADF.tif", None),
])
def test_the_angle_a_file_name_states(name, tilt):
    assert tilt_from_file_name(name) == tilt


def _write_images(folder, names, images, voxel_angstrom=8.0):
    import mrcfile

    folder.mkdir(parents=True, exist_ok=True)
    for name, image in zip(names, images):
        with mrcfile.new(folder / name, overwrite=True) as m:
            m.set_data(np.asarray(image, np.float32))
            m.voxel_size = voxel_angstrom
    return folder


@pytest.fixture
def projections():
    return 100.0 + 50.0 * sphere_projections([((0.0, 0.0, -5.0), 6.0), ((0.0, 0.0, 6.0), 5.0)], TILTS, 32, 40)


def test_a_folder_and_a_glob_of_one_file_per_tilt(tmp_path, projections):
    """Names give the angles; the stack is ordered by angle whatever the natural order (-5 after -10 …), with the
    pixel size of the files' headers."""
    rng = np.random.default_rng(0)
    order = rng.permutation(len(TILTS))
    folder = _write_images(tmp_path / "series", [f"{TILTS[i]:g}.mrc" for i in order], projections[order])
    (folder / "notes.txt").write_text("not an image")
    for path in (folder, str(folder / "*.mrc")):
        ts = read_tilt_series(path)
        np.testing.assert_array_equal(ts.tilts_deg, TILTS)
        np.testing.assert_allclose(ts.data, projections, rtol=1e-6)
        assert ts.pixel_size_nm == pytest.approx(0.8)
        assert ts.raw_metadata["tilts_source"] == "file metadata or names"
        assert len(ts.raw_metadata["files"]) == len(TILTS)


def test_unnamed_files_take_a_tilt_file_and_bad_sets_are_refused(tmp_path, projections):
    folder = _write_images(tmp_path / "plain", [f"img_{k:03d}.mrc" for k in range(len(TILTS))], projections)
    with pytest.raises(MissingTiltAngles, match=r"no tilt angle for img_000.mrc.*--tilts"):
        read_tilt_series(folder)
    (folder / "angles.rawtlt").write_text("\n".join(f"{t:g}" for t in TILTS))
    np.testing.assert_array_equal(read_tilt_series(folder).tilts_deg, TILTS)  # the tilt file inside the folder
    given = read_tilt_series(folder, tilts=TILTS[::-1].copy())  # given in the files' natural order
    np.testing.assert_allclose(given.data, projections[::-1], rtol=1e-6)
    names = [f"{t:g}.mrc" for t in TILTS[:8]]
    odd = _write_images(tmp_path / "odd", names, [np.ones((8, 8))] * 7 + [np.ones((9, 8))])
    with pytest.raises(NotAStack, match=r"images differ in size: .*-25.mrc is \(9, 8\)"):
        read_tilt_series(odd)
    twice = _write_images(tmp_path / "twice", [*names[:7], "tilt_p5.mrc"], projections[:8])
    _write_images(twice, ["5.mrc"], projections[:1])
    with pytest.raises(InvalidTiltAngles, match="same tilt angle"):
        read_tilt_series(twice)
    mixed = _write_images(tmp_path / "mixed", names[:7], projections[:7])
    _write_images(mixed, names[7:], projections[7:8], voxel_angstrom=9.0)
    with pytest.raises(MissingPixelSize, match="pixel sizes differ"):
        read_tilt_series(mixed)
    with pytest.raises(NotAStack, match="holds no image file"):
        read_tilt_series(tmp_path / "plain" / "*.dm4")


def test_a_run_on_a_folder_records_and_resumes_it(tmp_path, projections):
    folder = _write_images(tmp_path / "series", [f"{t:g}.mrc" for t in TILTS], projections)
    params = RunParameters(method="sirt", iterations=10, neck_fit=False)
    run = run_tilt_series(folder, tmp_path / "out", params=params, figures=False)
    record = run.inputs["tilt_series"]
    assert record.path == str(folder.resolve()) and "tilts" not in run.inputs
    assert record.same_content(folder) and InputFile.of(folder) == record
    assert run.n_particles >= 1
    again = run_tilt_series(folder, tmp_path / "out", params=params, figures=False)
    assert again.resumed_from_volume_h5
    rerun = rerun_time_point(tmp_path / "out" / "run.json", tmp_path / "again", figures=False)  # a folder input
    assert (tmp_path / "again" / "particles.csv").read_text() == (tmp_path / "out" / "particles.csv").read_text()
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    _write_images(copy, ["0.mrc"], [projections[len(TILTS) // 2] * 1.01])  # one tilt re-recorded
    assert not record.same_content(copy) and rerun.n_particles == run.n_particles
    _write_images(folder, ["0.mrc"], [projections[len(TILTS) // 2] * 1.01])
    assert record.state() == "changed"
    with pytest.raises(UnreadableFile, match="has changed since the run"):
        rerun_time_point(tmp_path / "out" / "run.json", tmp_path / "third", figures=False)
    shutil.rmtree(folder)
    assert record.state() == "missing"
    with pytest.raises(UnreadableFile, match="is gone"):
        rerun_time_point(tmp_path / "out" / "run.json", tmp_path / "third", figures=False)


@pytest.mark.skipif(not (SHARED_DATA / "eds_tomo_idp").is_dir(), reason="../shared/data not present")
def test_the_real_bruker_series_reads_as_one_tilt_series():
    """16 Bruker .bcf files, one per tilt, named by angle: the HAADF images in tilt order at 13.08 nm, 200 kV."""
    ts = read_tilt_series(SHARED_DATA / "eds_tomo_idp")
    assert ts.data.shape == (16, 256, 256)
    np.testing.assert_array_equal(ts.tilts_deg, np.arange(-40.0, 36.0, 5.0))
    assert ts.pixel_size_nm == pytest.approx(13.08, abs=0.01) and ts.beam_energy_keV == pytest.approx(200.0)
