"""Tracking through coalescence in 2D movies: insitu4d's tracker against laptrack, on the same segmented frames.

Movies nobody tuned to (:func:`insitu4d.simulate.frames.particle_movie`): 10–25 particles that wander
(0.3–1.0 px per frame and axis) on a drifting stage (up to 1 px per frame), 1–3 pairs that touch and merge,
20–60 counts/px, dark or bright. Each frame is segmented (:func:`insitu4d.segment_frame.segment_frame`, no drift
correction, so the trackers see the drift) and measured; the same particles go to both trackers:

* insitu4d: :func:`insitu4d.measure.tracking.track_particles` (translation vote, Hungarian matching gated at the
  particle radius, area bookkeeping for merges and splits);
* laptrack (Fukai & Kawaguchi, Bioinformatics 39, btac799 (2023), doi:10.1093/bioinformatics/btac799):
  ``LapTrack`` with merging, the cutoff at the largest particle radius (squared distance), gap closing off.

Scores, against the truth (a segmented particle is the truth particle whose centre it covers):

* identity switches: changes of track id along a truth particle's life, not counting the frame where it merges;
* merges found: a merge of the two truth particles' tracks from 2 frames before they touch to 2 frames after
  they are one round particle (when a touching pair stops being two particles in the segmentation is a question
  of its neck, not of the tracker).

Usage::

    pip install laptrack            # the peer; not a dependency of insitu4d
    python benchmarks/bench_tracking2d.py [--movies 20] [--seed 9000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from insitu4d.measure.frame_particles import measure_frame_particles
from insitu4d.measure.tracking import track_particles
from insitu4d.segment_frame import segment_frame
from insitu4d.simulate.frames import particle_movie


def _truth_labels(movie, labels):
    """Per frame, {truth id: segmented label} for the truth particles whose centre lies on a label."""
    out = []
    for k, lab in enumerate(labels):
        found = {}
        for pid, (y, x) in zip(movie.ids[k], movie.centres_px[k]):
            iy, ix = int(round(y)), int(round(x))
            if 0 <= iy < lab.shape[0] and 0 <= ix < lab.shape[1] and lab[iy, ix] > 0:
                found[int(pid)] = int(lab[iy, ix])
        out.append(found)
    return out


def _score(movie, truth_labels, track_of, merge_pairs):
    """(identity switches, merges found) for ``track_of`` (per frame {label: track}) and ``merge_pairs``
    (list of (frame, track_gone, track_into))."""
    switches = 0
    for pid in {p for frame in truth_labels for p in frame}:
        previous = None
        for k, frame in enumerate(truth_labels):
            if pid not in frame:
                continue
            track = track_of[k].get(frame[pid])
            if previous is not None and track != previous and not _merging(movie, pid, k):
                switches += 1
            previous = track
    found = 0
    for touch, f, gone, into in movie.merges:
        seen = [k for k in range(max(touch - 3, 0), f) if gone in truth_labels[k] and into in truth_labels[k]
                and truth_labels[k][gone] != truth_labels[k][into]]
        if not seen:
            continue
        k = seen[-1]  # the last frame where the two are apart in the segmentation
        tracks = {track_of[k].get(truth_labels[k][gone]), track_of[k].get(truth_labels[k][into])}
        found += any({a, b} == tracks and touch - 2 <= g <= f + 2 for g, a, b in merge_pairs)
    return switches, found


def _merging(movie, pid, k) -> bool:
    """Whether truth particle ``pid`` is in a merge (touching or just merged) at frame ``k``: a track may change
    there by design (laptrack starts a new track for the merged particle)."""
    return any(pid in (gone, into) and touch - 2 <= k <= f + 2 for touch, f, gone, into in movie.merges)


def _laptrack(frames, cutoff_px):
    import pandas as pd
    from laptrack import LapTrack

    rows = [{"frame": k, "y": p.centroid_nm[0], "x": p.centroid_nm[1], "label": p.label}
            for k, particles in enumerate(frames) for p in particles]
    lt = LapTrack(cutoff=cutoff_px ** 2, merging_cutoff=cutoff_px ** 2, splitting_cutoff=False,
                  gap_closing_cutoff=False)
    track_df, _, merge_df = lt.predict_dataframe(pd.DataFrame(rows), ["y", "x"], only_coordinate_cols=False)
    track_of = [{} for _ in frames]
    for r in track_df.itertuples():
        track_of[int(r.frame)][int(r.label)] = int(r.track_id)
    first_frame = track_df.groupby("track_id")["frame"].min().to_dict()
    merges = []
    for child, group in merge_df.groupby("child_track_id"):
        parents = list(group["parent_track_id"])
        if len(parents) == 2:
            merges.append((int(first_frame[child]), int(parents[0]), int(parents[1])))
    return track_of, merges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=20)
    parser.add_argument("--seed", type=int, default=9000)
    args = parser.parse_args()
    totals = {"insitu4d": [0, 0, 0.0], "laptrack": [0, 0, 0.0]}
    n_merges = 0
    for s in range(args.seed, args.seed + args.movies):
        rng = np.random.default_rng(s)
        movie = particle_movie((192, 192), n_frames=30, coverage=float(rng.uniform(0.1, 0.25)),
                               n_merges=int(rng.integers(1, 4)), step_px=float(rng.uniform(0.3, 1.0)),
                               drift_px=float(rng.uniform(0, 1.0)), counts=float(rng.uniform(20, 60)),
                               contrast=str(rng.choice(["dark", "bright"])), seed=s)
        labels, frames = [], []
        for frame in movie.frames:
            seg = segment_frame(frame)
            labels.append(seg.labels)
            frames.append(measure_frame_particles(seg.labels, 1.0))
        truth = _truth_labels(movie, labels)
        n_merges += len(movie.merges)
        t0 = time.perf_counter()
        ours = track_particles(frames)
        t_ours = time.perf_counter() - t0
        ours_merges = [(ev["time_index"], ev["tracks"][0], ev["into"]) for ev in ours["events"]
                       if ev["kind"] == "merge"]
        sw, found = _score(movie, truth, ours["track_of"], ours_merges)
        totals["insitu4d"][0] += sw
        totals["insitu4d"][1] += found
        totals["insitu4d"][2] += t_ours
        try:
            t0 = time.perf_counter()
            lap_of, lap_merges = _laptrack(frames, float(max(p.r_p_nm for f in frames for p in f)))
            t_lap = time.perf_counter() - t0
            sw, found = _score(movie, truth, lap_of, lap_merges)
            totals["laptrack"][0] += sw
            totals["laptrack"][1] += found
            totals["laptrack"][2] += t_lap
        except ImportError:
            totals.pop("laptrack", None)
    print(f"{args.movies} movies, {n_merges} merges")
    for name, (sw, found, seconds) in totals.items():
        print(f"{name:9s}: identity switches {sw}, merges found {found}/{n_merges}, tracking time {seconds:.2f} s")


if __name__ == "__main__":
    main()
