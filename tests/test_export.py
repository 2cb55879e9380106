"""Volumes, labels and alignments exported for other tools, read back by those tools' readers with their voxel size."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from insitu4d.cli import app
from insitu4d.errors import InvalidParameter, UnreadableFile
from insitu4d.io.export import export_run_folder, export_volume, read_imod_xf, write_imod_xf
from insitu4d.io.writers import write_array, write_json


def _run_folder(tmp_path):
    """A minimal insitu4d run folder: volume, labels and run.json with an alignment."""
    run = tmp_path / "run"
    rng = np.random.default_rng(0)
    volume = rng.random((6, 8, 10)).astype(np.float32)
    labels = (volume > 0.5).astype(np.int32)
    write_array(run / "volume.h5", volume, attrs={"voxel_size_nm": 2.5})
    write_array(run / "labels.h5", labels, attrs={"voxel_size_nm": 2.5})
    shifts = rng.normal(0, 3, (7, 2)).round(3)
    write_json(run / "run.json", {"alignment": {"shifts_px": shifts.tolist()},
                                  "tilt_series": {"tilts_deg": [-30, -20, -10, 0, 10, 20, 30]}})
    return run, volume, labels, shifts


def test_volumes_open_in_hyperspy_mrc_and_tiff_readers_with_their_voxel_size(tmp_path):
    """RosettaSciIO's hspy reader (what HyperSpy's load uses) gives axes z, y, x of 2.5 nm; mrcfile gives 25 Å;
    tifffile's ImageJ metadata gives spacing 2.5 nm and 0.4 px/nm; the data are equal."""
    import mrcfile
    import tifffile
    from rsciio.hspy import file_reader

    run, volume, labels, _ = _run_folder(tmp_path)
    written = export_volume(run / "volume.h5", tmp_path / "out")
    assert sorted(p.name for p in written) == ["volume.hspy", "volume.mrc", "volume.tif"]
    signal = file_reader(str(tmp_path / "out" / "volume.hspy"))[0]
    np.testing.assert_array_equal(signal["data"], volume)
    assert [(a["name"], a["units"], a["scale"]) for a in signal["axes"]] == [(a, "nm", 2.5) for a in "zyx"]
    with mrcfile.open(tmp_path / "out" / "volume.mrc") as mrc:
        np.testing.assert_array_equal(mrc.data, volume)
        assert float(mrc.voxel_size.x) == pytest.approx(25.0) and float(mrc.voxel_size.z) == pytest.approx(25.0)
    with tifffile.TiffFile(tmp_path / "out" / "volume.tif") as tif:
        np.testing.assert_array_equal(tif.asarray(), volume)
        assert tif.imagej_metadata["spacing"] == pytest.approx(2.5) and tif.imagej_metadata["unit"] == "nm"
        x_res = tif.pages[0].tags["XResolution"].value
        assert x_res[0] / x_res[1] == pytest.approx(0.4)
    export_volume(run / "labels.h5", tmp_path / "out", formats=("mrc",))
    with mrcfile.open(tmp_path / "out" / "labels.mrc") as mrc:
        np.testing.assert_array_equal(mrc.data, labels)


def test_an_xf_export_reads_back_as_the_shifts(tmp_path):
    run, *_, shifts = _run_folder(tmp_path)
    written = export_run_folder(run)
    assert {p.name for p in written} >= {"alignment.xf", "alignment.tlt", "volume.mrc", "labels.hspy"}
    np.testing.assert_allclose(read_imod_xf(run / "export" / "alignment.xf"), shifts, atol=5e-4)
    assert np.loadtxt(run / "export" / "alignment.tlt").tolist() == [-30, -20, -10, 0, 10, 20, 30]
    (tmp_path / "bad.xf").write_text("1 0 0 1 2\n")
    with pytest.raises(UnreadableFile, match="line 1 is not six numbers"):
        read_imod_xf(tmp_path / "bad.xf")
    with pytest.raises(InvalidParameter, match=r"\(n_images, 2\)"):
        write_imod_xf(tmp_path / "x.xf", np.zeros(3))


def test_export_refuses_what_is_not_an_insitu4d_output(tmp_path):
    with pytest.raises(UnreadableFile, match="not an insitu4d output folder"):
        export_run_folder(tmp_path)
    run, *_ = _run_folder(tmp_path)
    with pytest.raises(InvalidParameter, match="unknown export format"):
        export_volume(run / "volume.h5", tmp_path / "o", formats=("nifti",))
    res = CliRunner().invoke(app, ["export", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "not an insitu4d output folder" in res.output
    res = CliRunner().invoke(app, ["export", str(run), "--formats", "mrc,hspy"])
    assert res.exit_code == 0, res.output
    assert (run / "export" / "volume.mrc").is_file() and not (run / "export" / "volume.tif").exists()
    assert json.loads((run / "run.json").read_text())["alignment"]


def test_ome_zarr_reads_back_with_its_physical_scale(tmp_path):
    """ome-zarr-py's own reader finds the volume and the labels, equal to the run's, on axes z, y, x in nanometre
    with the voxel size as the scale of the full-resolution level."""
    pytest.importorskip("ome_zarr")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    run, volume, labels, _ = _run_folder(tmp_path)
    write_array(run / "volume.h5", np.pad(volume, 14), attrs={"voxel_size_nm": 2.5})  # ≥ 32 voxels: a pyramid
    write_array(run / "labels.h5", np.pad(labels, 14), attrs={"voxel_size_nm": 2.5})
    written = export_run_folder(run, formats=("ome-zarr",))
    store = run / "export" / "volume.ome.zarr"
    assert store in written and not list((run / "export").glob(".*part"))
    nodes = list(Reader(parse_url(str(store)))())
    image = nodes[0]
    np.testing.assert_array_equal(np.asarray(image.data[0]), np.pad(volume, 14))
    multiscales = image.metadata
    assert [a["name"] for a in multiscales["axes"]] == ["z", "y", "x"]
    assert {a["unit"] for a in multiscales["axes"]} == {"nanometer"}
    scale = next(t["scale"] for t in multiscales["coordinateTransformations"][0] if t["type"] == "scale")
    assert scale == pytest.approx([2.5, 2.5, 2.5])
    assert len(image.data) == 2 and image.data[1].shape == tuple(n // 2 for n in image.data[0].shape)  # one 2× level
    second = next(t["scale"] for t in multiscales["coordinateTransformations"][1] if t["type"] == "scale")
    assert second == pytest.approx([5.0, 5.0, 5.0])
    label_node = next(n for n in nodes if str(n.zarr.path).endswith("labels/particles"))
    assert len(label_node.data) == 2
    np.testing.assert_array_equal(np.asarray(label_node.data[0]), np.pad(labels, 14))
    export_run_folder(run, formats=("ome-zarr",))  # replaced whole, nothing left beside it
    assert sorted(p.name for p in (run / "export").iterdir()) == ["alignment.tlt", "alignment.xf", "volume.ome.zarr"]


def test_an_unknown_format_is_named_with_every_choice(tmp_path):
    run, *_ = _run_folder(tmp_path)
    with pytest.raises(InvalidParameter, match=r"unknown export format\(s\) \['zarr'\]; choose from mrc, hspy, tif, "
                                               r"ome-zarr"):
        export_run_folder(run, formats=("mrc", "zarr"))
    assert not (run / "export").exists()  # refused before anything is written


def test_ome_zarr_without_the_extra_names_it(tmp_path, monkeypatch):
    import builtins

    from insitu4d.errors import MissingExtra

    real_import = builtins.__import__

    def no_ome_zarr(name, *args, **kwargs):
        if name.startswith("ome_zarr"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    run, *_ = _run_folder(tmp_path)
    monkeypatch.setattr(builtins, "__import__", no_ome_zarr)
    with pytest.raises(MissingExtra, match=r"pip install 'insitu4d\[omezarr\]'"):
        export_run_folder(run, formats=("ome-zarr",))
