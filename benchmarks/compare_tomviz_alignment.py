"""Compare insitu4d's alignment of a tilt series with a hand alignment saved by tomviz.

tomviz saves its translations (``TomVizAlignments.json``) as one ``[dx, dy]`` per image in
whole pixels, in VTK's image frame, whose y axis points up: a shift of +dy in tomviz is −dy in
array rows. insitu4d's ``run.json`` holds ``alignment.shifts_px`` as ``(dy, dx)`` in array
rows and columns. The two are compared after removing their mean difference (a common offset
that moves the whole series and the axis with it).

Usage::

    python benchmarks/compare_tomviz_alignment.py OUT/run.json TomVizAlignments.json [--first 2]

``--first`` is the index in the tomviz file of the run's first image (the NCEM lamella's file
lists −50…+50°, the series holds −40…+35°: first 2).
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_json")
    parser.add_argument("tomviz_json")
    parser.add_argument("--first", type=int, default=0)
    args = parser.parse_args()
    shifts = np.asarray(json.load(open(args.run_json))["alignment"]["shifts_px"], float)
    tomviz = np.asarray(json.load(open(args.tomviz_json)), float)[args.first:args.first + len(shifts)]
    as_rows = np.stack([-tomviz[:, 1], tomviz[:, 0]], axis=1)  # (dx, dy up) -> (dy down, dx)
    difference = shifts - as_rows
    difference -= difference.mean(axis=0)
    rms = np.sqrt((difference ** 2).sum(axis=1).mean())
    print(f"{len(shifts)} images: RMS difference {rms:.2f} px (y {np.sqrt((difference[:, 0] ** 2).mean()):.2f}, "
          f"x {np.sqrt((difference[:, 1] ** 2).mean()):.2f}), largest {np.abs(difference).max():.2f} px; "
          f"rounding to whole pixels alone gives about 0.41 px")


if __name__ == "__main__":
    main()
