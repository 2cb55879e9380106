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
    curves of science.md §2: model C between sphere centres and between the halves'
    centroids (what a centroid measurement returns), and truncated spheres.
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
    rho = np.linspace(0.0, 1.0, 101)
    ax.plot(model_c_distance(rho, 1.0) / 2, rho, "k-", lw=1, label="model C, sphere centres")
    ax.plot(model_c_com_distance(rho, 1.0) / 2, rho, "k--", lw=1, label="model C, centroids")
    x = np.linspace(0.0, 1.2, 61)
    d, _ = truncated_sphere(x, 1.0)
    ax.plot(d / 2, x, "k:", lw=1, label="truncated spheres (r_p = a₀)")
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


def _errors(rows: list[dict], key: str) -> np.ndarray | None:
    """The error-bar column ``key`` of ``rows`` (NaN drawn as no bar), or None when there is none."""
    values = np.array([r.get(key, np.nan) for r in rows], float)
    return None if np.all(np.isnan(values)) else np.nan_to_num(values, nan=0.0)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
