"""Plots of pair time series: r_n/r_p and d/2r_p vs time, and r_n vs d over the geometry models."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.writers import atomic_path
from ..physics import model_c_com_distance, model_c_distance, truncated_sphere

__all__ = ["save_pair_plots"]


def save_pair_plots(outdir, rows: list[dict]) -> list[str]:
    """Write ``pairs_vs_time.png`` and ``neck_vs_distance.png``; return their names.

    Columns ``r_n_over_r_p_err`` and ``d_over_2r_p_err``, when the rows have them, are
    drawn as error bars in the first figure.

    The second figure overlays the measured pairs (centroid distance ``d_nm`` and
    inscribed-sphere-centre distance ``d_centre_nm``, both over 2 r_p) on the model
    curves of docs/science.md §2: model C between sphere centres and between the halves'
    centroids (what a centroid measurement returns), and truncated spheres.

    Parameters
    ----------
    outdir : str or Path
    rows : list of dict
        Pair time-series rows (``pair_id``, ``time_s``, ``r_n_over_r_p``, ``d_over_2r_p``,
        ``d_nm``, ``d_centre_nm``, ``r_p_nm``).

    Returns
    -------
    list of str
        The file names written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir = Path(outdir)
    by_pair: dict[int, list[dict]] = {}
    for r in rows:
        by_pair.setdefault(r["pair_id"], []).append(r)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    for pid, rs in sorted(by_pair.items()):
        t = [r["time_s"] for r in rs]
        for ax, key in zip(axes, ("r_n_over_r_p", "d_over_2r_p")):
            ax.errorbar(t, [r[key] for r in rs], yerr=_errors(rs, key + "_err"), fmt="o-", ms=3, capsize=2,
                        label=f"pair {pid}")
    if any(_errors(rs, "r_n_over_r_p_err") is not None for rs in by_pair.values()):
        fig.suptitle("error bars: RMS error of the twin re-imaged at the experiment's dose", fontsize=8)
    axes[0].set(xlabel="time (s)", ylabel="r_n / r_p")
    axes[1].set(xlabel="time (s)", ylabel="d / 2r_p (centroids)")
    if by_pair:
        axes[0].legend(fontsize=7)
    names = ["pairs_vs_time.png", "neck_vs_distance.png"]
    _save(fig, outdir / names[0])

    fig, ax = plt.subplots(figsize=(4.8, 3.8), constrained_layout=True)
    _model_curves(ax)
    for pid, rs in sorted(by_pair.items()):
        rp = np.array([r["r_p_nm"] for r in rs])
        ax.plot(np.array([r["d_nm"] for r in rs]) / (2 * rp), [r["r_n_over_r_p"] for r in rs], "o", ms=3,
                label=f"pair {pid}, centroids")
        ax.plot(np.array([r["d_centre_nm"] for r in rs]) / (2 * rp), [r["r_n_over_r_p"] for r in rs], "x", ms=3,
                label=f"pair {pid}, inscribed centres")
    ax.set(xlabel="d / 2r_p", ylabel="r_n / r_p", xlim=(0.4, 1.1), ylim=(0, 1.05))
    ax.legend(fontsize=6)
    _save(fig, outdir / names[1])
    return names


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


def _errors(rows: list[dict], key: str) -> np.ndarray | None:
    """The error-bar column ``key`` of ``rows`` (NaN drawn as no bar), or None when there is none."""
    values = np.array([r.get(key, np.nan) for r in rows], float)
    return None if np.all(np.isnan(values)) else np.nan_to_num(values, nan=0.0)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
