"""Neck width and neck angle on the 2D coalescence twin, per frame and through the movie pipeline.

The twin (:func:`insitu4d.simulate.coalescence2d.coalescence_movie`): two discs (radii 24 and 20 px) joined by a neck
that widens from 6 to 22 px while its angle opens from ``--start-angle`` to 180°, then one disc (3 frames); drift
0.6 px per frame in a random direction, Poisson noise at ``--counts`` per pixel. Each seed draws a new orientation,
drift and noise. Prints, pooled over the seeds, the share of frames within 1 px and 2°, the SD, the 95th percentile
and the largest error, and how many merges were found at the right frame; per frame (segmentation of the raw
frames) and through ``run_movie`` (drift correction first).

Usage::

    python benchmarks/bench_coalescence2d.py [--seeds 10] [--seed 0] [--counts 20] [--start-angle 160]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from insitu4d.io.movies import Movie
from insitu4d.measure.frame_necks import measure_frame_necks
from insitu4d.pipeline.movie import run_movie
from insitu4d.segment_frame import segment_frame
from insitu4d.simulate.coalescence2d import coalescence_movie


def _summary(name, dw, da, merges, n_movies, seconds):
    dw, da = np.abs(np.array(dw)), np.abs(np.array(da))
    print(f"{name}: {dw.size} frames with a neck; width within 1 px in {100 * np.mean(dw <= 1):.1f} %, "
          f"|error| p95 {np.percentile(dw, 95):.2f} px, max {dw.max():.2f} px; angle within 2° in "
          f"{100 * np.mean(da <= 2):.1f} %, p95 {np.percentile(da, 95):.2f}°, max {da.max():.2f}°; "
          f"merge found at the right frame in {merges}/{n_movies}; {seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--counts", type=float, default=20.0)
    parser.add_argument("--start-angle", type=float, default=160.0)
    args = parser.parse_args()
    frames_w, frames_a, frames_m, pipe_w, pipe_a, pipe_m = [], [], 0, [], [], 0
    t_frames = t_pipe = 0.0
    for seed in range(args.seed, args.seed + args.seeds):
        twin = coalescence_movie(seed=seed, counts=args.counts, start_angle_deg=args.start_angle)
        first_merged = int(np.flatnonzero(twin.merged)[0])
        t0 = time.perf_counter()
        counts = []
        for k, frame in enumerate(twin.frames):
            seg = segment_frame(frame)
            counts.append(int(seg.labels.max()))
            necks = measure_frame_necks(seg.labels, seg.flattened, 1.0, contrast=seg.contrast, sigma_px=seg.sigma_px)
            if not twin.merged[k] and len(necks) == 1:
                frames_w.append(necks[0].neck_width_nm - twin.neck_width_px[k])
                frames_a.append(necks[0].neck_angle_deg - twin.neck_angle_deg[k])
        frames_m += counts.index(1) == first_merged if 1 in counts else 0
        t_frames += time.perf_counter() - t0
        t0 = time.perf_counter()
        movie = Movie(twin.frames.astype(np.float32), 1.0, np.arange(len(twin.frames), dtype=float), None, None,
                      f"twin-{seed}")
        with tempfile.TemporaryDirectory() as tmp:
            record = run_movie(movie, Path(tmp) / "out")
            with open(Path(tmp) / "out" / "necks.csv", newline="") as f:
                for r in csv.DictReader(f):
                    k = int(r["frame"])
                    pipe_w.append(float(r["neck_width_nm"]) - twin.neck_width_px[k])
                    pipe_a.append(float(r["neck_angle_deg"]) - twin.neck_angle_deg[k])
        pipe_m += any(ev["kind"] == "merge" and ev["time_index"] == first_merged for ev in record["events"])
        t_pipe += time.perf_counter() - t0
    print(f"{args.seeds} movies (seeds {args.seed}–{args.seed + args.seeds - 1}), {args.counts:g} counts/px, "
          f"start angle {args.start_angle:g}°")
    _summary("per frame", frames_w, frames_a, frames_m, args.seeds, t_frames)
    _summary("pipeline ", pipe_w, pipe_a, pipe_m, args.seeds, t_pipe)


if __name__ == "__main__":
    main()
