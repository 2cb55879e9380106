"""Quality flags: each check against cases whose answer is known, and on real data."""

import numpy as np
import pytest
from scipy import ndimage

from insitu4d.quality import (check_alignment, check_counts, check_field_of_view, check_pairs, check_particles,
                              check_residual, check_tilts, edge_width_vox, edge_widths_vox,
                              signal_counts, signed_distance_vox)


def _codes(flags):
    return [f.code for f in flags]


def test_few_tilts_and_coarse_steps():
    assert check_tilts(np.arange(-40, 41, 2.0)) == []
    flags = check_tilts(np.arange(-40, 36, 5.0))  # the lamella: 16 tilts, 5° steps
    assert _codes(flags) == ["few_tilts", "few_tilts"]
    assert flags[0].value == 16 and flags[1].value == 5.0
    assert "at least 20 tilts" in flags[0].advice


def test_counts_for_the_method():
    # 10 counts at the brightest: starved for SIRT (limit 20), enough for TV (limit 1); non-count data: no check
    assert _codes(check_counts(10.0, "sirt")) == ["low_counts"]
    assert check_counts(10.0, "tv") == [] and check_counts(None, "sirt") == []
    assert _codes(check_counts(0.4, "tv")) == ["low_counts"]
    # signal_counts: the mean of the brightest 5 % after a 2 px blur: a flat 12-count square over
    # most of the image reads 12
    img = np.zeros((3, 64, 64))
    img[:, 8:56, 8:56] = 12.0
    assert signal_counts(img) == pytest.approx(12.0, rel=1e-3)


def test_unexplained_residual():
    # oracle: √(r² − ν²): residual 0.32 with noise 0.1 leaves 0.30 > 0.15; 0.18 with noise 0.12 leaves 0.13
    (flag,) = check_residual(0.32, 0.10)
    assert flag.code == "unexplained_residual" and flag.value == pytest.approx(np.sqrt(0.32 ** 2 - 0.01))
    assert check_residual(0.18, 0.12) == []
    assert check_residual(0.04, 0.0) == []  # the needle


def test_tilt_axis_undecided():
    assert _codes(check_alignment([[0.0, 0.336], [90.0, 0.318]])) == ["tilt_axis_undecided"]  # the lamella
    assert check_alignment([[0.0, 0.124], [90.0, 0.098]]) == []  # the needle: 27 % apart
    assert check_alignment([[0.0, 0.2]]) == []  # one direction given
    assert "the convention was taken" in check_alignment([[0.0, 0.336], [90.0, 0.318]])[0].message


def test_tilt_axis_direction_rule():
    from insitu4d.align import MIN_DIRECTION_CONTRAST, decide_direction, direction_contrast
    from insitu4d.errors import InvalidParameter

    assert direction_contrast([[0.0, 0.124], [90.0, 0.098]]) == pytest.approx(0.026 / 0.098)
    assert decide_direction([[0.0, 0.124], [90.0, 0.098]]) == (90.0, "residual")  # the needle: 27 % apart
    # within the margin the data do not decide: the convention (axis along y), whichever is lower
    low = 0.1 * (1 + 0.9 * MIN_DIRECTION_CONTRAST)
    assert decide_direction([[0.0, low], [90.0, 0.1]]) == (0.0, "convention")
    assert decide_direction([[0.0, 0.1], [90.0, low]]) == (0.0, "convention")
    assert decide_direction([[0.0, 0.1 * (1 + 1.1 * MIN_DIRECTION_CONTRAST)], [90.0, 0.1]]) == (90.0, "residual")
    assert decide_direction([[45.0, 0.2]]) == (45.0, "given")
    with pytest.raises(InvalidParameter, match="no tilt-axis direction"):
        decide_direction([])
    with pytest.raises(InvalidParameter, match="two directions"):
        direction_contrast([[0.0, 0.1]])


def test_truncated_field_of_view():
    # particles in the middle of the field: silent; a slab across the whole width: flagged
    img = np.zeros((5, 64, 64), np.float32)
    img[:, 20:40, 25:35] = 1.0
    assert check_field_of_view(img) == []
    img[:, 10:50, :] = 0.8
    (flag,) = check_field_of_view(img)
    assert flag.code == "truncated_field_of_view" and flag.value > 0.5


def test_not_separated_particles():
    labels = np.zeros((40, 40, 40), int)
    labels[10:20, 10:20, 10:20] = 1
    labels[22:30, 22:30, 22:30] = 2
    assert check_particles(labels) == []
    film = labels.copy()
    film[15:25, :, :] = 3  # a layer from side to side
    assert _codes(check_particles(film)) == ["not_separated_particles"]
    assert _codes(check_particles(np.zeros((8, 8, 8), int))) == ["not_separated_particles"]
    # an object along the tilt axis (y) that spans the field top to bottom is fine (the needle)
    rod = np.zeros((40, 40, 40), int)
    rod[15:25, :, 15:25] = 1
    assert check_particles(rod) == []


def test_edge_width_of_a_blurred_edge():
    # oracle: a flat edge blurred by a Gaussian of σ = 1.2 voxels rises from 10 % to 90 % over
    # 2 × 1.2816 σ = 3.08 voxels; the profile is sampled in 0.5-voxel shells (5 %)
    x = np.arange(48)[None, None, :] * np.ones((8, 16, 1))
    slab = (x < 24).astype(float)
    blurred = ndimage.gaussian_filter1d(slab, 1.2, axis=2, mode="nearest")
    assert edge_width_vox(blurred, blurred > 0.5) == pytest.approx(2.5631 * 1.2, rel=0.05)
    assert edge_width_vox(blurred, blurred > 0.5, direction=(0, 0, 1)) == pytest.approx(2.5631 * 1.2, rel=0.05)
    assert np.isnan(edge_width_vox(blurred, np.zeros_like(slab, bool)))


def test_edge_width_along_a_direction():
    # oracle: a block blurred by σ = 2 along z and σ = 1.2 across: along z its edge is 2.56 × 2,
    # across 2.56 × 1.2 (the missing wedge blurs along the beam); 10 % for the block's corners.
    # (Edges much sharper than 1.2 are read wide: the profile is sampled once per voxel.)
    block = np.zeros((64, 64, 64))
    block[8:56, 8:56, 8:56] = 1.0
    blurred = ndimage.gaussian_filter(block, (2.0, 1.2, 1.2))
    mask = blurred > 0.5
    assert edge_width_vox(blurred, mask, direction=(1, 0, 0)) == pytest.approx(2.5631 * 2.0, rel=0.1)
    assert edge_width_vox(blurred, mask, direction=(0, 0, 1)) == pytest.approx(2.5631 * 1.2, rel=0.1)


@pytest.mark.parametrize("field_margin", [0, 24])
def test_edge_widths_along_several_directions_equal_the_whole_volume_gradient(field_margin):
    # oracle: the normals from np.gradient of the whole smoothed distance map (the shell-only
    # computation must select the same voxels), and one call per direction; with a field margin
    # the particles' box is a small part of the field, so the cropped distance map must equal the
    # whole field's where it is used
    rng = np.random.default_rng(3)
    block = np.zeros((40, 36, 44))
    block[6:30, 8:28, 5:40] = 1.0
    block = np.pad(block, field_margin)
    blurred = ndimage.gaussian_filter(block, (1.8, 1.0, 1.3)) + rng.normal(0, 0.02, block.shape)
    mask = blurred > 0.5
    directions = [None, (1, 0, 0), (0, 0.6, 0.8), (0.3, -0.2, 0.93)]
    widths = edge_widths_vox(blurred, mask, directions)
    assert widths == [edge_width_vox(blurred, mask, direction=d) for d in directions]
    signed = signed_distance_vox(mask)
    grad = np.stack(np.gradient(ndimage.gaussian_filter(signed, 1.0)))
    for d, w in zip(directions[1:], widths[1:]):
        u = np.asarray(d, float) / np.linalg.norm(d)
        cos = np.abs(np.tensordot(u, grad, axes=(0, 0))) / (np.linalg.norm(grad, axis=0) + 1e-12)
        select = (cos >= np.cos(np.deg2rad(30.0))) & (np.abs(signed) <= 5.5)
        bins = np.arange(-5.0, 5.25, 0.5)
        idx = np.digitize(signed[select], bins)
        sums = np.bincount(idx, weights=blurred[select], minlength=bins.size + 1)
        counts = np.bincount(idx, minlength=bins.size + 1)
        profile = sums[1:bins.size] / np.maximum(counts[1:bins.size], 1)
        centres = (bins[:-1] + bins[1:]) / 2
        valid = counts[1:bins.size] > 0
        centres, profile = centres[valid], profile[valid]
        lo, hi = profile[centres < -3.5].mean(), profile[centres > 3.5].mean()
        rise = np.maximum.accumulate((profile - lo) / (hi - lo))
        assert w == pytest.approx(np.interp(0.9, rise, centres) - np.interp(0.1, rise, centres), rel=1e-9)


def _pair(labels, r_n_nm, r_n_over_r_p, d_over_2r_p):
    from insitu4d.measure import Pair

    r_p = r_n_nm / r_n_over_r_p
    d = 2 * r_p * d_over_2r_p
    return Pair(labels=labels, r_n_nm=r_n_nm, r_n_inscribed_nm=r_n_nm, contact_area_nm2=np.pi * r_n_nm ** 2,
                d_nm=d, d_xy_nm=d, d_z_nm=0.0, d_centre_nm=d,
                r_p_nm=r_p, r_n_over_r_p=r_n_over_r_p, d_over_2r_p=d_over_2r_p, neck_normal=(0.0, 0.0, 1.0),
                interface_faces=0)


def test_pair_checks():
    pairs = [_pair((1, 2), 5.0, 0.3, 0.95), _pair((2, 3), 30.0, 1.2, 0.7), _pair((3, 4), 30.0, 0.5, 0.4)]
    flags = check_pairs(pairs, 2.0, 1.8)  # resolution 1.8 voxels = 3.6 nm: a 5 nm neck is within one voxel of it
    assert check_pairs(pairs[:1], 2.0, [1.0]) == []  # 5 nm is 2.5 voxels: more than one above 1.0
    assert _codes(flags) == ["neck_at_resolution", "impossible_value"]
    assert "1–2" in flags[0].message and "2–3" in flags[1].message and "3–4" in flags[1].message
    assert check_pairs(pairs[:1], 1.0, float("nan")) == []


def test_neck_in_missing_wedge():
    # Oracle: the geometry of the cone. Tilts to ±40° see no surface whose normal is within
    # 50° of the beam (z); an asymmetric range −20…+60° is held to its smaller end (70°).
    import dataclasses

    base = _pair((1, 2), 20.0, 0.5, 0.9)

    def at(angle_deg):  # neck normal at this angle from the beam, in the z–y plane
        a = np.radians(angle_deg)
        return dataclasses.replace(base, neck_normal=(float(np.cos(a)), float(np.sin(a)), 0.0))

    pm40 = np.arange(-40, 41, 2.0)
    flags = check_pairs([at(0.0), at(45.0), at(55.0), at(90.0)], 1.0, float("nan"), tilts_deg=pm40)
    assert _codes(flags) == ["neck_in_missing_wedge"]
    assert "1–2 (0°)" in flags[0].message and "1–2 (45°)" in flags[0].message and "55°" not in flags[0].message
    assert flags[0].value == pytest.approx(0.0, abs=1e-6) and flags[0].limit == pytest.approx(50.0)
    assert check_pairs([at(55.0)], 1.0, float("nan"), tilts_deg=np.arange(-20, 61, 2.0))[0].limit == pytest.approx(70.0)
    assert check_pairs([at(0.0)], 1.0, float("nan")) == []  # no tilts given: no check
    # a neck fitted to the tilt series is not the volume's reading: neither neck flag applies to it
    small = dataclasses.replace(at(0.0), r_n_nm=1.0)
    assert _codes(check_pairs([small], 1.0, 2.0, tilts_deg=pm40)) == ["neck_at_resolution", "neck_in_missing_wedge"]
    assert check_pairs([small], 1.0, 2.0, tilts_deg=pm40, fitted=[(2, 1)]) == []
