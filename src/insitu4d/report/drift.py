"""The drift plot of a movie: the trajectory in the image plane and the shifts against frame, rejected frames marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..align.movie import MovieDrift
from ..io.writers import atomic_path

__all__ = ["save_drift_plot"]


def save_drift_plot(path, drift: MovieDrift, *, pixel_size_nm: float | None = None) -> Path:
    """Write the drift of a movie as a PNG: the trajectory (x, y) coloured by frame, and y and x against frame.

    The drift is the negative of the applied shifts; rejected frames (their drift predicted,
    not measured) are drawn as red crosses, and the warning of ``drift``, if any, is the title.

    Parameters
    ----------
    path : str or Path
        The ``.png`` to write (atomically).
    drift : MovieDrift
    pixel_size_nm : float, optional
        Plot in nm instead of pixels.

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale, unit = (pixel_size_nm, "nm") if pixel_size_nm else (1.0, "px")
    xy = -np.asarray(drift.shifts_px) * scale
    frames = np.arange(len(xy))
    bad = np.asarray(drift.rejected, bool)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), constrained_layout=True)
    axes[0].plot(xy[:, 1], xy[:, 0], "-", color="0.7", lw=0.8)
    points = axes[0].scatter(xy[~bad, 1], xy[~bad, 0], c=frames[~bad], s=10, cmap="viridis")
    axes[0].plot(xy[bad, 1], xy[bad, 0], "x", color="red", ms=5, label="rejected (predicted)")
    axes[0].set(xlabel=f"drift x ({unit})", ylabel=f"drift y ({unit})", aspect="equal")
    axes[0].invert_yaxis()
    fig.colorbar(points, ax=axes[0], label="frame")
    for k, name in ((0, "y"), (1, "x")):
        axes[1].plot(frames, xy[:, k], "-", lw=1, label=name)
    axes[1].plot(frames[bad], xy[bad, 0], "x", color="red", ms=5)
    axes[1].plot(frames[bad], xy[bad, 1], "x", color="red", ms=5)
    axes[1].set(xlabel="frame", ylabel=f"drift ({unit})")
    axes[1].legend(fontsize=7)
    if bad.any():
        axes[0].legend(fontsize=7)
    title = f"{int(bad.sum())} of {len(bad)} frames rejected" + (": drift not trustworthy" if drift.warning else "")
    fig.suptitle(title, fontsize=9, color="red" if drift.warning else "black")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
