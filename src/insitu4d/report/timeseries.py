"""Plots of pair time series: r_n/r_p, d/2r_p, r_n and d vs time with fits and truth, r_n vs d over the geometry
models, and the holder temperature vs time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.writers import atomic_path
from ..physics import model_c_com_distance, model_c_distance, truncated_sphere

__all__ = ["save_pair_plots", "save_composition_plot"]


def save_pair_plots(outdir, rows: list[dict], *, fits=(), truth: list[dict] | None = None,
                    temperatures: list[tuple[float, float | None]] | None = None,
                    holds: list[dict] | None = None) -> list[str]:
    """Write ``pairs_vs_time.png``, ``neck_vs_distance.png`` and (with temperatures) ``temperature_vs_time.png``.

    ``pairs_vs_time.png`` has four panels: r_n/r_p and d/2r_p (centroids) vs time with each fitted
    neck-growth law drawn over the time range it was fitted to, and r_n and d in nm vs time with
    the twin's true values where known. Columns ``*_err`` of the rows are drawn as error bars.
    The second figure overlays the measured pairs (centroid distance ``d_nm`` and
    inscribed-sphere-centre distance ``d_centre_nm``, both over 2 r_p) on the model curves of
    the geometric models (model C between sphere centres and between the halves' centroids,
    truncated spheres). No axis range cuts data off: each range covers every point drawn.

    Parameters
    ----------
    outdir : str or Path
    rows : list of dict
        Pair time-series rows (``pair_id``, ``time_s``, ``r_n_over_r_p``, ``d_over_2r_p``,
        ``r_n_nm``, ``d_nm``, ``d_centre_nm``, ``r_p_nm``).
    fits : sequence of PairFit
        :func:`insitu4d.pipeline.kinetics.fit_pairs`'s fits, drawn as curves.
    truth : list of dict, optional
        The twin's true ``r_n_nm`` and ``d_nm`` by ``pair_id`` and ``time_s``.
    temperatures : list of (float, float or None), (s, °C), optional
        The holder's temperature at each time point.
    holds : list of dict, optional
        Isothermal holds (``temperature_C``, ``start_s``, ``end_s``), shaded on the temperature plot.

    Returns
    -------
    list of str
        The file names written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..physics.sintering import neck_ratio_law

    outdir = Path(outdir)
    by_pair: dict[int, list[dict]] = {}
    for r in rows:
        by_pair.setdefault(r["pair_id"], []).append(r)
    colour = {pid: f"C{i}" for i, pid in enumerate(sorted(by_pair, key=str))}
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), constrained_layout=True)
    panels = (("r_n_over_r_p", "r_n_over_r_p_err", "r_n / r_p"), ("d_over_2r_p", "d_over_2r_p_err",
                                                                     "d / 2r_p (centroids)"),
              ("r_n_nm", "r_n_err_nm", "r_n (nm)"), ("d_nm", "d_err_nm", "d, centroids (nm)"))
    for pid, rs in sorted(by_pair.items(), key=lambda kv: str(kv[0])):
        t = [r["time_s"] for r in rs]
        for ax, (key, err_key, _) in zip(axes.flat, panels):
            ax.errorbar(t, [r[key] for r in rs], yerr=_errors(rs, err_key), fmt="o", ms=3, capsize=2,
                        color=colour[pid], label=f"pair {pid}")
        mine = sorted((r for r in truth or () if r["pair_id"] == pid), key=lambda r: r["time_s"])
        for ax, key in ((axes[1, 0], "r_n_nm"), (axes[1, 1], "d_nm")):
            if mine:
                ax.plot([r["time_s"] for r in mine], [r[key] for r in mine], "--", lw=1, color=colour[pid],
                        label=f"pair {pid}, twin truth")
    for pair_fit in fits:
        fit, (lo, hi) = pair_fit.fit, pair_fit.time_range_s
        tt = np.linspace(lo, hi, 200)
        axes[0, 0].plot(tt, neck_ratio_law(tt, fit.n, fit.B_per_s, fit.t0_s), "-", lw=1,
                        color=colour.get(pair_fit.pair_id, "k"),
                        label=f"pair {pair_fit.pair_id} fit: n = {fit.n:.2f}")
    if any(_errors(rs, "r_n_over_r_p_err") is not None for rs in by_pair.values()):
        fig.suptitle("error bars: RMS error of the twin re-imaged at the experiment's dose", fontsize=8)
    for ax, (*_, label) in zip(axes.flat, panels):
        ax.set(xlabel="time (s)", ylabel=label)
        if by_pair:
            ax.legend(fontsize=6)
    names = ["pairs_vs_time.png", "neck_vs_distance.png"]
    _save(fig, outdir / names[0])

    fig, ax = plt.subplots(figsize=(4.8, 3.8), constrained_layout=True)
    _model_curves(ax)
    xs, ys = [0.4, 1.1], [0.0, 1.05]
    for pid, rs in sorted(by_pair.items(), key=lambda kv: str(kv[0])):
        rp = np.array([r["r_p_nm"] for r in rs])
        y = [r["r_n_over_r_p"] for r in rs]
        for key, marker, what in (("d_nm", "o", "centroids"), ("d_centre_nm", "x", "inscribed centres")):
            x = np.array([r[key] for r in rs]) / (2 * rp)
            ax.plot(x, y, marker, ms=3, color=colour[pid], label=f"pair {pid}, {what}")
            xs += list(x[np.isfinite(x)])
        ys += [v for v in y if np.isfinite(v)]
    ax.set(xlabel="d / 2r_p", ylabel="r_n / r_p", xlim=_covering(xs), ylim=_covering(ys))
    ax.legend(fontsize=6)
    _save(fig, outdir / names[1])
    if temperatures and any(T is not None for _, T in temperatures):
        fig, ax = plt.subplots(figsize=(6, 3), constrained_layout=True)
        for k, hold in enumerate(holds or ()):
            ax.axvspan(hold["start_s"], hold["end_s"], color="0.9", label="isothermal holds" if k == 0 else None)
        t = [t for t, T in temperatures if T is not None]
        ax.plot(t, [T for _, T in temperatures if T is not None], "o-", ms=3, color="C3", label="holder, time points")
        ax.set(xlabel="time (s)", ylabel="temperature (°C)")
        ax.legend(fontsize=7)
        names.append("temperature_vs_time.png")
        _save(fig, outdir / names[-1])
    return names


def _covering(values: list[float]) -> tuple[float, float]:
    """An axis range that holds every value, with a 3 % margin."""
    lo, hi = float(np.min(values)), float(np.max(values))
    pad = 0.03 * (hi - lo if hi > lo else 1.0)
    return lo - pad, hi + pad


def _model_curves(ax) -> None:
    """The geometric models of docs/science.md §2 in the (d/2r_p, r_n/r_p) plane."""
    rho = np.linspace(0.0, 1.0, 101)
    ax.plot(model_c_distance(rho, 1.0) / 2, rho, "k-", lw=1, label="model C, sphere centres")
    ax.plot(model_c_com_distance(rho, 1.0) / 2, rho, "k--", lw=1, label="model C, centroids")
    x = np.linspace(0.0, 1.2, 61)
    d, _ = truncated_sphere(x, 1.0)
    ax.plot(d / 2, x, "k:", lw=1, label="truncated spheres (r_p = a₀)")
    ax.plot(np.sqrt(1 - rho ** 2), rho, color="0.6", lw=1, label="interpenetration (no volume kept)")


def save_fit_plot(path, rows: list[dict], fits: list) -> Path:
    """Neck growth with the fitted laws (free n and the best mechanism), and r_n vs d over the models.

    Parameters
    ----------
    path : str or Path
        PNG to write.
    rows : list of dict
        Pair time-series rows (``pair_id``, ``time_s``, ``r_n_over_r_p``, ``d_over_2r_p``,
        optional ``r_n_over_r_p_err``).
    fits : list of PairFit
        From :func:`insitu4d.pipeline.kinetics.fit_pairs`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..physics.sintering import neck_ratio_law

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    _model_curves(axes[1])
    colours = {pid: f"C{i}" for i, pid in enumerate(dict.fromkeys(f.pair_id for f in fits))}
    for pair_fit in fits:
        colour, fit = colours[pair_fit.pair_id], pair_fit.fit
        lo, hi = pair_fit.time_range_s
        rs = sorted((r for r in rows if r["pair_id"] == pair_fit.pair_id and lo <= r["time_s"] <= hi),
                    key=lambda r: r["time_s"])
        t = np.array([r["time_s"] for r in rs])
        at = f" at {pair_fit.temperature_C:.0f} °C" if pair_fit.temperature_C is not None else ""
        axes[0].errorbar(t, [r["r_n_over_r_p"] for r in rs], yerr=_errors(rs, "r_n_over_r_p_err"), fmt="o",
                         ms=3, capsize=2, color=colour, label=f"pair {pair_fit.pair_id}{at}")
        tt = np.linspace(t.min(), t.max(), 200)
        axes[0].plot(tt, neck_ratio_law(tt, fit.n, fit.B_per_s, fit.t0_s), "-", color=colour, lw=1,
                     label=f"n = {fit.n:.2f} [{fit.n_ci[0]:.2f}, {fit.n_ci[1]:.2f}]")
        best = pair_fit.ranking.mechanisms[0]
        axes[0].plot(tt, neck_ratio_law(tt, best.time_exponent, best.B_per_s, best.t0_s), ":",
                     color=colour, lw=1, label=f"{best.name} (n = {best.time_exponent})")
        axes[1].plot([r["d_over_2r_p"] for r in rs], [r["r_n_over_r_p"] for r in rs], "o", ms=3, color=colour,
                     label=f"pair {pair_fit.pair_id}")
    axes[0].set(xlabel="time (s)", ylabel="r_n / r_p", title="(r_n/r_p)^n = B (t − t0), t0 free")
    axes[1].set(xlabel="d / 2r_p", ylabel="r_n / r_p", xlim=(0.4, 1.1), ylim=(0, 1.05))
    for ax in axes:
        ax.legend(fontsize=6)
    path = Path(path)
    _save(fig, path)
    return path


def save_composition_plot(path, rows: list[dict]) -> Path:
    """Plot each line's count fraction vs time, one panel per line, one curve per particle track, with error bars.

    Parameters
    ----------
    path : str or Path
    rows : list of dict
        Rows of ``composition_timeseries.csv`` (``time_s``, ``track_id``, ``line``,
        ``count_fraction``, ``count_fraction_error``).

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .render3d import TRACK_COLOURS

    lines = list(dict.fromkeys(r["line"] for r in rows))
    tracks = sorted({str(r["track_id"]) for r in rows}, key=lambda t: (len(t), t))
    cols = min(len(lines), 4)
    n_rows = int(np.ceil(len(lines) / cols))
    fig, axes = plt.subplots(n_rows, cols, figsize=(3.2 * cols, 2.6 * n_rows), squeeze=False)
    for ax, line in zip(axes.ravel(), lines):
        for k, track in enumerate(tracks):
            mine = sorted((r for r in rows if r["line"] == line and str(r["track_id"]) == track),
                          key=lambda r: float(r["time_s"]))
            if not mine:
                continue
            ax.errorbar([float(r["time_s"]) for r in mine], [float(r["count_fraction"]) for r in mine],
                        yerr=[float(r["count_fraction_error"]) for r in mine], marker="o", ms=3, capsize=2,
                        color=TRACK_COLOURS[k % len(TRACK_COLOURS)], label=f"track {track}")
        ax.set_title(line, fontsize=9)
        ax.set_xlabel("t (s)", fontsize=8)
        ax.set_ylabel("count fraction", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(lines):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    path = Path(path)
    _save(fig, path)
    return path


def _errors(rows: list[dict], key: str) -> np.ndarray | None:
    """The error-bar column ``key`` of ``rows`` (NaN drawn as no bar), or None when there is none."""
    values = np.array([r.get(key, np.nan) for r in rows], float)
    return None if np.all(np.isnan(values)) else np.nan_to_num(values, nan=0.0)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
