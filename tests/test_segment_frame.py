"""Particles in 2D frames against hand masks (real bright-field TEM) and against simulated frames with known discs.

Real data: the msa-em segmentation set (three test images in ``tests/data/msa_em``; all 20 when
``../shared`` is present). The acceptance is an IoU ≥ 0.85 per image.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from skimage import io

from conftest import SHARED_DATA
from insitu4d.errors import InvalidParameter
from insitu4d.segment_frame import segment_frame, smoothing_scale
from insitu4d.simulate.frames import particle_frame

MSA_EM = Path(__file__).parent / "data" / "msa_em"
MSA_EM_ZIP = SHARED_DATA / "segmentation_msa_em" / "msa_em_segtrack_dataset.zip"
MIN_IOU = 0.85


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _grey(path) -> np.ndarray:
    image = io.imread(path)
    return image[..., :3].mean(axis=-1) if image.ndim == 3 else image.astype(float)


@pytest.mark.parametrize("number", [0, 9, 18])
def test_bright_field_frames_match_the_hand_masks(number):
    """IoU ≥ 0.85 against the hand mask; the same frame inverted (particles bright, as in HAADF) is read as bright
    and gives the same mask."""
    image = _grey(MSA_EM / f"image_{number}.png")
    truth = _grey(MSA_EM / f"label_{number}.png") > 0
    seg = segment_frame(image)
    assert seg.contrast == "dark"
    assert _iou(seg.mask, truth) >= MIN_IOU
    inverted = segment_frame(255.0 - image)
    assert inverted.contrast == "bright"
    assert _iou(inverted.mask, truth) == pytest.approx(_iou(seg.mask, truth), abs=0.01)


@pytest.mark.skipif(not MSA_EM_ZIP.is_file(), reason="the full msa-em set lives in ../shared/data")
def test_all_twenty_msa_em_test_images(tmp_path):
    with zipfile.ZipFile(MSA_EM_ZIP) as z:
        z.extractall(tmp_path)
    ious = {}
    for k in range(20):
        image = _grey(tmp_path / "dataset" / "test" / "images" / f"image_{k}.png")
        truth = _grey(tmp_path / "dataset" / "test" / "labels" / f"label_{k}.png") > 0
        ious[k] = _iou(segment_frame(image).mask, truth)
    assert min(ious.values()) >= MIN_IOU, ious


@pytest.mark.parametrize("seed", range(8))
def test_simulated_frames_of_any_crowding_contrast_and_dose(seed):
    """Random frames: 10–55 % coverage, radii 8–28 px, dark or bright, 10–200 counts/px, an illumination
    gradient up to 40 % across the field: the mask within IoU 0.85, the particle count within 10 %, the
    contrast found. (Smaller particles at 10–20 counts/px need more smoothing than their size allows:
    ``benchmarks/bench_segment_frame.py`` reports that regime.)"""
    rng = np.random.default_rng(300 + seed)
    r = rng.uniform(8, 14)
    frame = particle_frame((256, 256), radius_px=(r, 2 * r), coverage=rng.uniform(0.1, 0.55),
                           contrast=str(rng.choice(["dark", "bright"])), counts=float(rng.choice([10, 20, 50, 200])),
                           gradient=rng.uniform(0, 0.4), seed=seed)
    seg = segment_frame(frame.image)
    assert seg.contrast == ("dark" if frame.image[frame.labels > 0].mean() < frame.image.mean() else "bright")
    assert _iou(seg.mask, frame.labels > 0) >= MIN_IOU
    assert seg.labels.max() == pytest.approx(frame.labels.max(), rel=0.1)


def test_touching_particles_are_split_at_the_neck():
    """Two discs of radius 20 px, centres 34 px apart (a neck of 2√(20² − 17²) ≈ 21 px): two labels, divided within
    2 px of the line where the discs cross."""
    yy, xx = np.mgrid[0:128, 0:160].astype(float)
    pair = ((yy - 64) ** 2 + (xx - 63) ** 2 < 400) | ((yy - 64) ** 2 + (xx - 97) ** 2 < 400)
    image = np.random.default_rng(0).poisson(np.where(pair, 30.0, 100.0)).astype(float)
    seg = segment_frame(image)
    assert seg.labels.max() == 2
    row = seg.labels[64]
    boundary = np.flatnonzero(np.diff(row) != 0)
    inner = boundary[(boundary > 50) & (boundary < 110)]
    assert inner.size == 1 and abs(inner[0] + 0.5 - 80.0) <= 2.0


def test_the_smoothing_grows_with_the_noise():
    """The separability rule smooths more at fewer counts (the rule, not one outcome): over 4 seeds the scale at
    5 counts/px is never below the one at 500."""
    for seed in range(4):
        hi = particle_frame((192, 192), radius_px=(10, 16), counts=500, seed=seed, gradient=0.0).image
        lo = particle_frame((192, 192), radius_px=(10, 16), counts=5, seed=seed, gradient=0.0).image
        assert smoothing_scale(lo) >= smoothing_scale(hi)
        assert smoothing_scale(lo) > 1.0


def test_bad_frames_say_what_to_fix():
    with pytest.raises(InvalidParameter, match="colour channels"):
        segment_frame(np.ones((32, 32, 3)))
    with pytest.raises(InvalidParameter, match="is flat"):
        segment_frame(np.ones((32, 32)))
    with pytest.raises(InvalidParameter, match="contrast must be one of"):
        segment_frame(np.arange(1024.0).reshape(32, 32), contrast="haadf")
    with pytest.raises(InvalidParameter, match="split_h must be in"):
        segment_frame(np.arange(1024.0).reshape(32, 32), split_h=1.5)
    noise = np.random.default_rng(0).normal(100, 1, (64, 64))
    with pytest.raises(InvalidParameter, match="no particle separates"):
        segment_frame(noise, sigma_px=8.0)
