"""The overlay figure of a correlative registration: the volume's projection and the other image on its pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .timeseries import _save

__all__ = ["save_overlay"]


def save_overlay(path, projection: np.ndarray, moved: np.ndarray) -> Path:
    """Write the projection, the registered image, and the two overlaid (projection in magenta, image in green).

    Parameters
    ----------
    path : str or Path
        The ``.png``.
    projection : (ny, nx) array
    moved : (ny, nx) array
        The other image resampled onto the projection's pixels (NaN outside it).

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def unit(a):
        a = np.nan_to_num(np.asarray(a, np.float64), nan=float(np.nanmedian(a)))
        lo, hi = np.percentile(a, [1, 99])
        return np.clip((a - lo) / max(hi - lo, 1e-12), 0, 1)

    p, m = unit(projection), unit(moved)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8), constrained_layout=True)
    axes[0].imshow(p, cmap="gray")
    axes[0].set_title("projection of the volume", fontsize=9)
    axes[1].imshow(m, cmap="gray")
    axes[1].set_title("the image, registered", fontsize=9)
    axes[2].imshow(np.stack([p, m, p], axis=-1))
    axes[2].set_title("overlay: projection magenta, image green", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    path = Path(path)
    _save(fig, path)
    return path
