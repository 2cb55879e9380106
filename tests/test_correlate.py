"""Correlative registration against a known similarity transform, at another pixel size and another contrast."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage
from typer.testing import CliRunner

from insitu4d.align.correlate import Correlation, project_volume, register_to_projection
from insitu4d.cli import app
from insitu4d.errors import InvalidParameter
from insitu4d.io.writers import write_array
from insitu4d.simulate.frames import particle_frame

PX_NM = 2.0


def _projection(seed=3, shape=(160, 160)):
    """A field of particles as the volume's projection (bright, values 0 … 0.4)."""
    return particle_frame(shape, radius_px=(6, 12), coverage=0.25, counts=1e5, contrast="bright", gradient=0.0,
                          seed=seed).image / 1e5 - 1


def _other_image(projection, truth: Correlation, pixel_nm: float, shape, seed):
    """The projection seen by another instrument: sampled through the known transform on a grid of ``pixel_nm``
    (scipy's interpolation, independent of SimpleITK), with an inverted, non-linear contrast and noise, like an SEM
    image."""
    ny, nx = shape
    qy, qx = np.mgrid[:ny, :nx].astype(np.float64) * pixel_nm
    a = np.radians(truth.rotation_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    c = np.array(truth.centre_nm)[::-1]
    q = np.stack([qx.ravel(), qy.ravel()])
    p = rot.T @ (q - c[:, None] - np.array(truth.translation_nm)[::-1][:, None]) / truth.scale + c[:, None]
    values = ndimage.map_coordinates(projection, [p[1] / PX_NM, p[0] / PX_NM], order=1, cval=0.0).reshape(ny, nx)
    return 1 - 0.6 * np.power(np.clip(values, 0, None), 0.7) + np.random.default_rng(seed).normal(0, 0.05, (ny, nx))


def _error_px(found: Correlation, truth: Correlation) -> float:
    points = np.array([[40, 40], [120, 60], [80, 130], [20, 140]]) * PX_NM
    return max(np.linalg.norm(found.image_point_nm(p) - truth.image_point_nm(p)) for p in points) / PX_NM


@pytest.mark.parametrize("seed", range(4))
def test_a_known_similarity_is_recovered(seed):
    """Any rotation, scale 0.9–1.1, a shift of up to 30 nm, an image pixel 1.6× the voxel and an inverted contrast:
    points map within 0.5 px (measured ≤ 0.06 px) and the rotation within 0.2° (≤ 0.01°)."""
    rng = np.random.default_rng(40 + seed)
    projection = _projection()
    centre = ((projection.shape[0] - 1) * PX_NM / 2,) * 2
    truth = Correlation(float(rng.uniform(0.9, 1.1)), float(rng.uniform(-180, 180)),
                        tuple(rng.uniform(-30, 30, 2)), centre, 0.0)
    image = _other_image(projection, truth, 1.6 * PX_NM, (110, 110), seed)
    found = register_to_projection(image, 1.6 * PX_NM, projection, PX_NM)
    assert _error_px(found, truth) < 0.5
    assert (found.rotation_deg - truth.rotation_deg + 180) % 360 - 180 == pytest.approx(0, abs=0.2)
    assert found.scale == pytest.approx(truth.scale, rel=2e-3)


def test_the_volume_inside_a_wide_overview():
    """The volume's field is an off-centre ninth of an overview image taken with a pixel 2.5× the voxel and turned
    by 12°: projection points land where the overview's own transform sends them, within 0.5 px."""
    wide = particle_frame((480, 480), radius_px=(6, 12), coverage=0.25, counts=1e5, contrast="bright", gradient=0.0,
                          seed=11).image / 1e5 - 1
    projection = wide[100:260, 200:360]  # its pixel (0, 0) is the overview's (100, 200): (200, 400) nm
    overview_map = Correlation(1.0, 12.0, (0.0, 0.0), (300.0, 300.0), 0.0)
    image = _other_image(wide, overview_map, 2.5 * PX_NM, (200, 200), 1)
    found = register_to_projection(image, 2.5 * PX_NM, projection, PX_NM)
    for p in np.array([[40, 40], [120, 60], [80, 130]]) * PX_NM:
        expected = overview_map.image_point_nm(p + np.array([200.0, 400.0]))
        assert np.linalg.norm(found.image_point_nm(p) - expected) / PX_NM < 0.5
    assert found.rotation_deg == pytest.approx(12.0, abs=0.2)


def test_the_correlate_command(tmp_path):
    """From an output folder's volume: the transform as JSON and an overlay figure; without a pixel size the image's
    is asked for."""
    import tifffile

    projection = _projection()
    volume = np.repeat(projection[None] / 8, 8, axis=0).astype(np.float32)
    np.testing.assert_allclose(project_volume(volume), projection, rtol=1e-5, atol=1e-6)
    run = tmp_path / "T01"
    write_array(run / "volume.h5", volume, attrs={"voxel_size_nm": PX_NM})
    centre = ((projection.shape[0] - 1) * PX_NM / 2,) * 2
    truth = Correlation(1.02, -33.0, (12.0, -8.0), centre, 0.0)
    tifffile.imwrite(tmp_path / "sem.tif", _other_image(projection, truth, 1.6 * PX_NM, (110, 110), 2)
                     .astype(np.float32))
    runner = CliRunner()
    res = runner.invoke(app, ["correlate", str(tmp_path / "sem.tif"), str(run)])
    assert res.exit_code == 2 and "--pixel-size" in res.output
    res = runner.invoke(app, ["correlate", str(tmp_path / "sem.tif"), str(run), "--pixel-size", str(1.6 * PX_NM)])
    assert res.exit_code == 0, res.output
    record = json.loads((run / "correlation.json").read_text())
    found = Correlation(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in record["transform"].items()})
    assert _error_px(found, truth) < 0.5
    assert (run / "correlation.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(InvalidParameter, match="at least 32"):
        register_to_projection(np.ones((8, 8)), 1.0, projection, PX_NM)
