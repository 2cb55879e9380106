import os

import numpy as np
import pytest
from conftest import SEVEN_TILTS, SEVEN_TILTS_FILE, write_mrc_stack

from insitu4d.errors import MissingPixelSize, MissingTiltAngles, NotAStack, TiltAngleMismatch, UnreadableFile
from insitu4d.io import read_array, read_tilt_file, read_tilt_series, write_array, write_csv, write_json
from insitu4d.io.readers import describe_file
from insitu4d.io.writers import atomic_path


def test_needle_mrc_tilts_and_pixel_size_from_fei_header(needle_paths):
    mrc, rawtlt = needle_paths
    ts = read_tilt_series(mrc)
    assert ts.shape == (77, 256, 256)
    assert ts.pixel_size_nm == pytest.approx(3.36, abs=1e-6)  # FEI header: 3.36e-9 m
    np.testing.assert_allclose(ts.tilts_deg, np.loadtxt(rawtlt))  # header agrees with the .rawtlt
    assert ts.raw_metadata["dtype"] == "int16"


def test_needle_dm3_tilts_from_tomography_axis():
    from conftest import SHARED_DATA

    dm3 = SHARED_DATA / "needle_tilt_series" / "HAADF.dm3"
    if not dm3.is_file():
        pytest.skip("../shared/data not present")
    ts = read_tilt_series(dm3)
    assert ts.shape == (91, 64, 64)
    np.testing.assert_allclose(ts.tilts_deg, np.arange(-90, 91, 2.0))
    assert ts.pixel_size_nm == pytest.approx(17.99, abs=0.01)  # 0.01799 µm in the DM calibration


def test_rawtlt_and_override(tmp_path):
    f = tmp_path / "a.rawtlt"
    f.write_text("-10\n 0.0\n\n10\n")
    np.testing.assert_array_equal(read_tilt_file(f), [-10, 0, 10])


def test_mdoc(tmp_path):
    f = tmp_path / "s.mrc.mdoc"
    f.write_text("PixelSpacing = 5\n[ZValue = 1]\nTiltAngle = 2.5\n[ZValue = 0]\nTiltAngle = -1.0\nExposureTime = 1\n")
    np.testing.assert_array_equal(read_tilt_file(f), [-1.0, 2.5])  # ordered by ZValue


def test_csv_with_header_and_without(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("image,tilt_deg,time_s\n0,-5,0\n1,5,1\n")
    np.testing.assert_array_equal(read_tilt_file(a), [-5, 5])
    b = tmp_path / "b.csv"
    b.write_text("-5\n5\n")
    np.testing.assert_array_equal(read_tilt_file(b), [-5, 5])
    c = tmp_path / "c.csv"
    c.write_text("image,foo\n0,1\n")
    with pytest.raises(UnreadableFile, match="no tilt-angle column"):
        read_tilt_file(c)


def test_bad_tilt_line_message(tmp_path):
    f = tmp_path / "a.tlt"
    f.write_text("1\nabc\n")
    with pytest.raises(UnreadableFile, match="line 2: expected one tilt angle"):
        read_tilt_file(f)


def test_missing_tilts_message(tmp_path):
    p = write_mrc_stack(tmp_path / "s.mrc", np.zeros((3, 8, 8)), voxel_size_angstrom=10)
    with pytest.raises(MissingTiltAngles, match="give a tilt file with --tilts"):
        read_tilt_series(p)


def test_tilt_sidecar_is_found(tmp_path):
    p = write_mrc_stack(tmp_path / "s.mrc", np.random.rand(7, 8, 8), voxel_size_angstrom=10)
    (tmp_path / "s.rawtlt").write_text(SEVEN_TILTS_FILE)
    ts = read_tilt_series(p)
    np.testing.assert_array_equal(ts.tilts_deg, SEVEN_TILTS)
    assert ts.pixel_size_nm == pytest.approx(1.0)  # 10 Å


def test_tilt_count_mismatch_from_file(tmp_path, needle_paths):
    f = tmp_path / "short.rawtlt"
    f.write_text("\n".join(str(t) for t in range(-74, 76, 2)))  # 75 angles
    with pytest.raises(TiltAngleMismatch, match="77 images but 75 tilt angles"):
        read_tilt_series(needle_paths[0], tilts=f)


def test_missing_pixel_size_message(tmp_path):
    p = write_mrc_stack(tmp_path / "s.mrc", np.random.rand(7, 8, 8))  # MRC default: no calibration
    with pytest.raises(MissingPixelSize, match="--pixel-size NM"):
        read_tilt_series(p, tilts=SEVEN_TILTS)
    assert read_tilt_series(p, tilts=SEVEN_TILTS, pixel_size_nm=0.5).pixel_size_nm == 0.5


def test_2d_file_message(tmp_path):
    import tifffile

    p = tmp_path / "one.tif"
    tifffile.imwrite(p, np.zeros((8, 8), np.float32))
    with pytest.raises(NotAStack, match="needs a stack of images"):
        read_tilt_series(p, tilts=[0.0], pixel_size_nm=1)


def test_unreadable_files(tmp_path):
    with pytest.raises(UnreadableFile, match="file not found"):
        read_tilt_series(tmp_path / "nope.mrc")
    bad = tmp_path / "x.xyz"
    bad.write_text("x")
    with pytest.raises(UnreadableFile, match="unknown file format '.xyz'"):
        read_tilt_series(bad)
    broken = tmp_path / "broken.mrc"
    broken.write_bytes(b"not an mrc file at all")
    with pytest.raises(UnreadableFile, match="broken.mrc has 22 bytes, less than the 1024 of an MRC header"):
        read_tilt_series(broken)


def test_describe_reports_missing(tmp_path):
    p = write_mrc_stack(tmp_path / "s.mrc", np.random.rand(7, 8, 8))
    d = describe_file(p, tilts=SEVEN_TILTS)
    assert d["pixel_size_nm"] is None and "pixel_size_nm" in d["missing"]
    d2 = describe_file(p)
    assert d2["tilts_deg"] is None and "tilts_deg" in d2["missing"]


@pytest.mark.parametrize("suffix", [".h5", ".tif"])
def test_array_roundtrip_with_attrs(tmp_path, suffix):
    data = np.random.rand(3, 4, 5).astype(np.float32)
    p = write_array(tmp_path / f"v{suffix}", data, attrs={"voxel_size_nm": 0.7, "provenance": {"method": "sirt"}})
    back, attrs = read_array(p)
    np.testing.assert_array_equal(back, data)
    assert attrs["voxel_size_nm"] == pytest.approx(0.7)
    assert attrs["provenance"] == {"method": "sirt"}


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text().strip().startswith("{")  # the old complete file is untouched
    assert sorted(os.listdir(tmp_path)) == ["out.json"]  # no temporary file left


def test_json_is_standard_json(tmp_path):
    # NaN and inf have no JSON spelling (RFC 8259): they become null, so strict parsers read the file
    import json

    p = write_json(tmp_path / "s.json", {"n": float("nan"), "v": np.array([1.0, np.inf]), "k": np.float32(0.5),
                                         "t": (np.int64(3), -np.inf)})
    back = json.loads(p.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert back == {"n": None, "v": [1.0, None], "k": 0.5, "t": [3, None]}


def test_csv_writer(tmp_path):
    p = write_csv(tmp_path / "t.csv", [{"a": 1.23456789, "b": "x"}], ["a", "b"])
    assert p.read_text().splitlines() == ["a,b", "1.23457,x"]


def test_read_array_errors(tmp_path):
    import h5py

    p = tmp_path / "n.h5"
    with h5py.File(p, "w") as f:
        f["other"] = np.zeros(3)
    with pytest.raises(UnreadableFile, match="no dataset '/data'"):
        read_array(p)
    q = write_array(tmp_path / "flat.h5", np.zeros((1, 2, 2)))
    with pytest.raises(NotAStack):
        read_array(q, ndim=2)


def test_mrc_one_angstrom_default_is_not_a_calibration(tmp_path):
    p = write_mrc_stack(tmp_path / "s.mrc", np.random.rand(7, 8, 8), voxel_size_angstrom=1.0)
    with pytest.raises(MissingPixelSize):
        read_tilt_series(p, tilts=SEVEN_TILTS)
