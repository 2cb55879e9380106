"""Accuracy of 2D particle segmentation (:func:`insitu4d.segment_frame.segment_frame`), defaults only.

1. Real bright-field TEM: the 20 test images of the msa-em segmentation set against their
   hand masks (IoU per image), when ``../shared/data/segmentation_msa_em`` is present; and the
   same frames inverted (bright particles, as in HAADF).
2. Random simulated frames nobody tuned to (:func:`insitu4d.simulate.frames.particle_frame`):
   coverage 10–55 %, dark or bright, 10–200 counts/px, illumination gradient up to 40 %, in two
   size regimes (radii 8–28 px and 5–14 px). Prints the IoU percentiles, the share of frames at
   IoU ≥ 0.85, the particle-count error and how often the contrast was found.

Usage::

    python benchmarks/bench_segment_frame.py [--frames 40] [--seed 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from skimage import io

from insitu4d.segment_frame import segment_frame
from insitu4d.simulate.frames import particle_frame

MSA_EM_ZIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "segmentation_msa_em" / \
    "msa_em_segtrack_dataset.zip"


def _iou(a, b) -> float:
    return float((a & b).sum() / (a | b).sum())


def _grey(path) -> np.ndarray:
    image = io.imread(path)
    return image[..., :3].mean(axis=-1) if image.ndim == 3 else image.astype(float)


def real_images() -> None:
    if not MSA_EM_ZIP.is_file():
        print("msa-em set not found; skipped")
        return
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(MSA_EM_ZIP) as z:
        z.extractall(tmp)
        root = Path(tmp) / "dataset" / "test"
        rows = []
        for k in range(20):
            image = _grey(root / "images" / f"image_{k}.png")
            truth = _grey(root / "labels" / f"label_{k}.png") > 0
            t0 = time.perf_counter()
            seg = segment_frame(image)
            dt = time.perf_counter() - t0
            inv = segment_frame(255.0 - image)
            rows.append((k, _iou(seg.mask, truth), _iou(inv.mask, truth), seg.sigma_px, seg.contrast, inv.contrast, dt))
            print(f"image_{k:<3d} IoU {rows[-1][1]:.3f}  inverted {rows[-1][2]:.3f}  σ {seg.sigma_px:g} px  "
                  f"{seg.contrast}/{inv.contrast}  {dt:.2f} s")
        iou = np.array([r[1] for r in rows])
        print(f"msa-em test: IoU mean {iou.mean():.3f}, min {iou.min():.3f}, all ≥ 0.85: {bool((iou >= 0.85).all())}")


def simulated(frames: int, seed: int, radius_range: tuple[float, float]) -> None:
    ious, count_err, contrast_ok = [], [], []
    for s in range(seed, seed + frames):
        rng = np.random.default_rng(s)
        r = rng.uniform(*radius_range)
        frame = particle_frame((256, 256), radius_px=(r, 2 * r), coverage=rng.uniform(0.1, 0.55),
                               contrast=str(rng.choice(["dark", "bright"])),
                               counts=float(rng.choice([10, 20, 50, 200])), gradient=rng.uniform(0, 0.4), seed=s)
        truth = frame.labels > 0
        seg = segment_frame(frame.image)
        ious.append(_iou(seg.mask, truth))
        count_err.append(abs(seg.labels.max() / frame.labels.max() - 1))
        contrast_ok.append(seg.contrast == ("dark" if frame.image[truth].mean() < frame.image.mean() else "bright"))
    ious = np.array(ious)
    p5, p50 = np.percentile(ious, [5, 50])
    c50, c95 = np.percentile(count_err, [50, 95])
    print(f"radius {radius_range[0]:g}–{2 * radius_range[1]:g} px, {frames} frames: IoU p5 {p5:.3f}, p50 {p50:.3f}, "
          f"min {ious.min():.3f}; IoU ≥ 0.85 in {100 * np.mean(ious >= 0.85):.0f} %; "
          f"count error p50 {100 * c50:.0f} %, p95 {100 * c95:.0f} %; "
          f"contrast right in {100 * np.mean(contrast_ok):.0f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--seed", type=int, default=5000)
    args = parser.parse_args()
    real_images()
    simulated(args.frames, args.seed, (8.0, 14.0))
    simulated(args.frames, args.seed + 10000, (5.0, 7.0))


if __name__ == "__main__":
    main()
