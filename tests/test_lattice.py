"""Lattice spots and d-spacings against FCC lattice images whose spacings are known exactly.

Oracle: ``d_hkl = a / √(h² + k² + l²)`` for the lattice constant the image was made with
(Au: a = 4.078 Å, d₁₁₁ = 2.3545 Å, d₂₀₀ = 2.039 Å), and the angles between ``hkl`` vectors.
"""

from __future__ import annotations

import numpy as np
import pytest

from insitu4d.errors import InvalidParameter
from insitu4d.lattice import (angle_between, fcc_d_spacing, find_lattice_spots, index_fcc, spot_families,
                              track_d_spacing)
from insitu4d.simulate.lattice import fcc_lattice_image

AU_A = 4.078
#: the acceptance's tolerance on a d-spacing
D_TOLERANCE = 0.005


def _draw(rng, n=256):
    """A random Au [110] image: pixel 0.03–0.07 nm, any in-plane rotation, 20–1000 e⁻/px."""
    return dict(pixel_size_nm=float(rng.uniform(0.03, 0.07)), rotation_deg=float(rng.uniform(0, 180)),
                counts=float(rng.choice([20, 100, 1000])), shape=(n, n))


def _near(spots, d_A, tol=0.03):
    return [s for s in spots if abs(s.d_spacing_A / d_A - 1) < tol]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("expansion", [1.0, 1.047])
def test_d_spacings_within_half_a_percent(seed, expansion):
    """Both {111} spots and the {200} spot of Au [110] are found and placed within 0.5 %: at 2.355 Å, and at
    2.466 Å for the 4.7 % expansion Hu et al. report (so the expansion reads as 4.7 ± 0.5 %)."""
    rng = np.random.default_rng(seed)
    draw = _draw(rng)
    a = AU_A * expansion
    image = fcc_lattice_image(lattice_constant_A=a, contrast=0.2, seed=seed, **draw)
    spots = find_lattice_spots(image, pixel_size_nm=draw["pixel_size_nm"])
    d111, d200 = fcc_d_spacing(a, (1, 1, 1)), fcc_d_spacing(a, (2, 0, 0))
    s111, s200 = _near(spots, d111), _near(spots, d200)
    assert len(s111) == 2 and len(s200) == 1
    for s in s111 + s200:
        assert s.d_spacing_A == pytest.approx(d111 if s in s111 else d200, rel=D_TOLERANCE)
    measured = np.mean([s.d_spacing_A for s in s111]) / fcc_d_spacing(AU_A, (1, 1, 1)) - 1
    assert measured == pytest.approx(expansion - 1, abs=D_TOLERANCE)


def test_two_families_their_angles_and_the_zone_axis():
    """Au [110]: families at 2.355 Å (two spots, 70.5° apart) and 2.039 Å (54.7° from each {111}); indexed as
    [110], with the {220} spot at 1.442 Å when the pixel resolves it."""
    image = fcc_lattice_image((256, 256), pixel_size_nm=0.04, lattice_constant_A=AU_A, rotation_deg=23.0,
                              counts=100, contrast=0.2, seed=3)
    spots = find_lattice_spots(image, pixel_size_nm=0.04)
    families = spot_families(spots)
    assert [round(f[0].d_spacing_A, 2) for f in families[:3]] == [2.35, 2.04, 1.44]
    assert [len(f) for f in families[:2]] == [2, 1]
    a, b = families[0]
    c = families[1][0]
    assert angle_between(a, b) == pytest.approx(70.53, abs=1.0)
    assert angle_between(a, c) == pytest.approx(54.74, abs=1.0) and angle_between(b, c) == pytest.approx(54.74, abs=1)
    matches = index_fcc([a, b, c], AU_A)
    assert matches and matches[0].zone == (1, 1, 0)
    assert sorted(sum(abs(v) for v in hkl) for hkl in matches[0].hkl) == [2, 3, 3]


def test_other_zone_axes_are_indexed():
    """[100] shows {200} spots 90° apart and {220} at 45°; [111] shows {220} spots 60° apart."""
    for zone, expect in (((1, 0, 0), (1, 0, 0)), ((1, 1, 1), (1, 1, 1))):
        image = fcc_lattice_image((256, 256), pixel_size_nm=0.035, lattice_constant_A=AU_A, zone=zone,
                                  rotation_deg=11.0, counts=1000, contrast=0.2, seed=1)
        spots = find_lattice_spots(image, pixel_size_nm=0.035)
        assert index_fcc(spots[:3], AU_A)[0].zone == expect


@pytest.mark.parametrize("seed", range(4))
def test_a_particle_region(seed):
    """A 5–9 nm Au particle on an amorphous support at 100 e⁻/px, analysed through its mask: {111} within 0.5 %."""
    rng = np.random.default_rng(50 + seed)
    draw = _draw(rng)
    draw["counts"] = 100.0
    n = draw["shape"][0]
    radius = rng.uniform(2.5, 4.5) / draw["pixel_size_nm"]
    yy, xx = np.mgrid[:n, :n]
    mask = (yy - n / 2) ** 2 + (xx - n / 2) ** 2 < radius ** 2
    image = fcc_lattice_image(lattice_constant_A=AU_A, contrast=0.2, mask=mask, seed=seed, **draw)
    spots = _near(find_lattice_spots(image, pixel_size_nm=draw["pixel_size_nm"], mask=mask), 2.3545)
    assert len(spots) == 2
    for s in spots:
        assert s.d_spacing_A == pytest.approx(2.3545, rel=D_TOLERANCE)


def test_noise_alone_gives_about_the_stated_false_spots():
    """The threshold rule: 30 Poisson-noise images at α = 0.01 expected false spots each yield 0.3 on average;
    5 or more would happen by chance with probability < 2e-4 (Poisson)."""
    rng = np.random.default_rng(0)
    found = sum(len(find_lattice_spots(rng.poisson(50.0, (128, 128)).astype(float), pixel_size_nm=0.05))
                for _ in range(30))
    assert found < 5


def test_a_d_spacing_followed_through_a_movie():
    """A lattice expanding linearly by 0 → 4.7 % over 8 frames (alloying or heating), 100 e⁻/px:
    each frame's {111} spacing within 0.5 % and the strain within 0.5 percentage points."""
    expansion = np.linspace(0.0, 0.047, 8)
    frames = np.stack([fcc_lattice_image((192, 192), pixel_size_nm=0.045, lattice_constant_A=AU_A * (1 + e),
                                         rotation_deg=40.0 + 2 * k, counts=100, contrast=0.2, seed=k)
                       for k, e in enumerate(expansion)])
    track = track_d_spacing(frames, pixel_size_nm=0.045, reference_d_A=2.3545, band=0.08)
    np.testing.assert_allclose(track.d_spacing_A, 2.3545 * (1 + expansion), rtol=D_TOLERANCE)
    np.testing.assert_allclose(track.strain, expansion, atol=D_TOLERANCE)


def test_bad_regions_and_parameters_say_what_to_fix():
    image = np.ones((64, 64))
    with pytest.raises(InvalidParameter, match="must be 2D"):
        find_lattice_spots(np.ones((2, 64, 64)), pixel_size_nm=0.05)
    with pytest.raises(InvalidParameter, match="mask is empty"):
        find_lattice_spots(image, pixel_size_nm=0.05, mask=np.zeros((64, 64), bool))
    small = np.zeros((64, 64), bool)
    small[10:20, 10:20] = True
    with pytest.raises(InvalidParameter, match="10 × 10 px; a lattice needs at least 16"):
        find_lattice_spots(image, pixel_size_nm=0.05, mask=small)
    with pytest.raises(InvalidParameter, match="pixel_size_nm must be > 0"):
        find_lattice_spots(image, pixel_size_nm=0.0)
    with pytest.raises(InvalidParameter, match="Nyquist limit at 2 Å per pixel is 4 Å"):
        find_lattice_spots(image, pixel_size_nm=0.2, max_d_A=3.0)
    with pytest.raises(InvalidParameter, match="NaN"):
        find_lattice_spots(np.full((64, 64), np.nan), pixel_size_nm=0.05)


def test_the_lattice_command(tmp_path):
    """A movie whose Au lattice expands 0, 1, 2, 3 %: the first frame's spots and zone axis are printed, the {111}
    spacing is followed into a CSV within 0.5 %; a single image without calibration asks for the pixel size."""
    import csv

    import tifffile
    from typer.testing import CliRunner

    from insitu4d.cli import app

    frames = np.stack([fcc_lattice_image((192, 192), pixel_size_nm=0.045, lattice_constant_A=AU_A * (1 + 0.01 * k),
                                         rotation_deg=30.0, counts=100, contrast=0.2, seed=k) for k in range(4)])
    tifffile.imwrite(tmp_path / "m.tif", frames.astype(np.float32), photometric="minisblack")
    res = CliRunner().invoke(app, ["lattice", str(tmp_path / "m.tif"), "--pixel-size", "0.045",
                                   "--fcc-lattice-constant", "4.078", "--track-d", "2.355",
                                   "--csv-out", str(tmp_path / "d.csv"), "--json-out", str(tmp_path / "l.json")])
    assert res.exit_code == 0, res.output
    assert "zone axis [110]" in res.output and "2.35" in res.output
    with open(tmp_path / "d.csv", newline="") as f:
        d = [float(r["d_spacing_A"]) for r in csv.DictReader(f)]
    np.testing.assert_allclose(d, fcc_d_spacing(AU_A, (1, 1, 1)) * (1 + 0.01 * np.arange(4)), rtol=D_TOLERANCE)
    tifffile.imwrite(tmp_path / "one.tif", frames[0].astype(np.float32), photometric="minisblack")
    res = CliRunner().invoke(app, ["lattice", str(tmp_path / "one.tif")])
    assert res.exit_code == 2 and "--pixel-size" in res.output
