"""Orthoslice figure of a volume with particle outlines and a scale bar."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.writers import atomic_path

__all__ = ["save_orthoslices", "nice_scale_bar_nm"]


def nice_scale_bar_nm(field_nm: float) -> float:
    """A round scale-bar length (1, 2 or 5 × 10^k nm) near a fifth of the field of view.

    Parameters
    ----------
    field_nm : float, nm
        Width of the field of view.

    Returns
    -------
    float, nm
    """
    target = field_nm / 5.0
    exp = np.floor(np.log10(target))
    for m in (5, 2, 1):
        if m * 10**exp <= target:
            return float(m * 10**exp)
    return float(10**exp)


def save_orthoslices(path, volume: np.ndarray, voxel_size_nm: float, *, labels: np.ndarray | None = None,
                     centre_vox: tuple[int, int, int] | None = None, title: str = "") -> Path:
    """Save the three orthoslices (z–x at fixed y, y–x at fixed z, z–y at fixed x) as PNG.

    Parameters
    ----------
    path : str or Path
    volume : (nz, ny, nx) ndarray
    voxel_size_nm : float, nm
    labels : (nz, ny, nx) ndarray of int, optional
        Particle outlines drawn over the slices.
    centre_vox : (z, y, x) ints, optional
        Where the slices cross; default the volume centre.
    title : str

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    vol = np.asarray(volume, np.float32)
    nz, ny, nx = vol.shape
    cz, cy, cx = centre_vox or (nz // 2, ny // 2, nx // 2)
    views = [
        (f"z–x slice at y = {cy * voxel_size_nm:.0f} nm (across the tilt axis)", vol[:, cy, :],
         None if labels is None else labels[:, cy, :], ("x", "z")),
        (f"y–x slice at z = {cz * voxel_size_nm:.0f} nm", vol[cz], None if labels is None else labels[cz], ("x", "y")),
        (f"z–y slice at x = {cx * voxel_size_nm:.0f} nm", vol[:, :, cx],
         None if labels is None else labels[:, :, cx], ("y", "z")),
    ]
    lo, hi = np.percentile(vol, [0.5, 99.9])
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.4))
    for ax, (name, img, lab, (xl, yl)) in zip(axes, views):
        h, w = img.shape
        extent = (0, w * voxel_size_nm, h * voxel_size_nm, 0)
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, extent=extent, interpolation="nearest")
        if lab is not None and lab.max() > 0:
            centres_x = (np.arange(w) + 0.5) * voxel_size_nm
            centres_y = (np.arange(h) + 0.5) * voxel_size_nm
            ax.contour(centres_x, centres_y, lab > 0, levels=[0.5], colors="orange", linewidths=0.8)
        bar = nice_scale_bar_nm(w * voxel_size_nm)
        x0, y0 = 0.05 * w * voxel_size_nm, 0.93 * h * voxel_size_nm
        ax.plot([x0, x0 + bar], [y0, y0], color="white", lw=4, solid_capstyle="butt")
        ax.text(x0 + bar / 2, y0 - 0.03 * h * voxel_size_nm, f"{bar:g} nm", color="white", ha="center", va="bottom")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(f"{xl} (nm)")
        ax.set_ylabel(f"{yl} (nm)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path
