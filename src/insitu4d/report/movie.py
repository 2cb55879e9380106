"""Plots and the HTML report of a movie run (:mod:`insitu4d.pipeline.movie`); they lay out, they compute nothing."""

from __future__ import annotations

import html
from pathlib import Path

from ..io.writers import atomic_path
from .html import _STYLE, _figure, _num, _table
from .timeseries import _save

__all__ = ["save_movie_plots", "write_movie_report"]

#: the x axes the neck plots are drawn against, when the frames carry them: (column, label)
_X_AXES = (("time_s", "time (s)"), ("temperature_C", "temperature (°C)"), ("dose_e_per_nm2", "dose (e⁻/nm²)"))


def save_movie_plots(outdir, frame_rows: list[dict], neck_rows: list[dict]) -> list[str]:
    """Write ``necks.png``: neck width and neck angle of every tracked pair against time, temperature and dose
    (those the frames carry; frame number when they carry none), and ``particles.png``: particles per frame.

    Parameters
    ----------
    outdir : str or Path
    frame_rows : list of dict
        Rows of ``frames.csv``.
    neck_rows : list of dict
        Rows of ``necks.csv``.

    Returns
    -------
    list of str
        The file names written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir = Path(outdir)
    axes_x = [(c, label) for c, label in _X_AXES if frame_rows and frame_rows[0].get(c) is not None]
    axes_x = axes_x or [("frame", "frame")]
    by_pair: dict[tuple, list[dict]] = {}
    for r in neck_rows:
        by_pair.setdefault((r["track_a"], r["track_b"]), []).append(r)
    fig, axes = plt.subplots(2, len(axes_x), figsize=(4.2 * len(axes_x), 6), constrained_layout=True, squeeze=False)
    for col, (key, label) in enumerate(axes_x):
        for (a, b), rows in sorted(by_pair.items()):
            x = [r[key] for r in rows]
            axes[0, col].plot(x, [r["neck_width_nm"] for r in rows], "o-", ms=3, label=f"tracks {a}–{b}")
            axes[1, col].plot(x, [r["neck_angle_deg"] for r in rows], "o-", ms=3)
        axes[0, col].set(xlabel=label, ylabel="neck width (nm)")
        axes[1, col].set(xlabel=label, ylabel="neck angle (°)")
    if by_pair:
        axes[0, 0].legend(fontsize=7)
    names = ["necks.png", "particles.png"]
    _save(fig, outdir / names[0])
    fig, ax = plt.subplots(figsize=(4.8, 3.2), constrained_layout=True)
    key, label = axes_x[0]
    ax.plot([r[key] for r in frame_rows], [r["n_particles"] for r in frame_rows], "o-", ms=3)
    ax.set(xlabel=label, ylabel="particles in the frame")
    _save(fig, outdir / names[1])
    return names


def write_movie_report(outdir, record: dict, neck_rows: list[dict], event_rows: list[dict]) -> Path:
    """Write ``outdir/report.html`` for a movie run, atomically.

    Parameters
    ----------
    outdir : str or Path
    record : dict
        The run record (``movie.json``).
    neck_rows, event_rows : list of dict
        Rows of ``necks.csv`` and ``events.csv``.

    Returns
    -------
    Path
    """
    outdir = Path(outdir)
    def e(value) -> str:
        return html.escape(str(value))

    r = record
    parts = [f"<h1>{e(Path(r['input']['source']).name)}</h1>",
             f"<p class=note>insitu4d {e(r['software']['version'])} · {r['input']['frames']} frames · "
             f"{r['n_tracks']} particle tracks · {len(r['events'])} events · pixel "
             f"{_num(r['acquisition']['pixel_size_nm'], '{:.4g}')} nm · contrast {e(r['chosen']['contrast'])}</p>"]
    if r["warnings"]:
        parts.append("<h2>Warnings</h2>" + "".join(f"<p>{e(w)}</p>" for w in r["warnings"]))
    parts.append("<h2>Necks</h2>")
    parts.append(_figure(outdir / "necks.png", "Neck width and neck angle (Hu et al. 2024) of each tracked pair."))
    last: dict[tuple, dict] = {}
    for row in neck_rows:
        last[(row["track_a"], row["track_b"])] = row
    parts.append(_table(["tracks", "frames", "last frame", "neck width (nm)", "neck angle (°)", "d (nm)"],
                        [[e(f"{a}–{b}"), e(sum(1 for x in neck_rows if (x["track_a"], x["track_b"]) == (a, b))),
                          e(row["frame"]), _num(row["neck_width_nm"], "{:.2f}"), _num(row["neck_angle_deg"], "{:.1f}"),
                          _num(row["d_nm"], "{:.2f}")] for (a, b), row in sorted(last.items())], left=1)
                 if last else "<p>No touching particles in any frame.</p>")
    parts.append("<h2>Identity events</h2>")
    parts.append(_table(["frame", "kind", "tracks", "into", "from"],
                        [[e(v["frame"]), e(v["kind"]), e(v["tracks"]), e(v["into"]), e(v["from"])]
                         for v in event_rows], left=2) if event_rows else "<p>None.</p>")
    parts.append(_figure(outdir / "particles.png", "Particles per frame."))
    parts.append(_figure(outdir / "drift.png", "Drift of the stage (rejected frames in red)."))
    parts.append("<h2>Acquisition and parameters</h2>")
    parts.append(_table(["", "value"], [[e(k), e(v)] for k, v in {**r["acquisition"], **r["parameters"]}.items()],
                        left=2))
    doc = (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{e(Path(r['input']['source']).name)}"
           f"</title><style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
    path = outdir / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(doc, encoding="utf-8")
    return path
