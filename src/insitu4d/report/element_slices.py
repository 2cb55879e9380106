"""A figure of element volumes: the central y–x and z–x slices of each line, and an overlay of three."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["save_element_slices", "save_element_maps"]

_OVERLAY = ("red", "green", "blue")


def _normalised(image: np.ndarray) -> np.ndarray:
    high = float(np.percentile(image, 99.5))
    return np.clip(image / high, 0, 1) if high > 0 else np.zeros_like(image)


def save_element_slices(path, names, volumes, voxel_size_nm: float, *, haadf: np.ndarray | None = None) -> Path:
    """Save one panel per line (y–x slice at the volume's centre over a z–x slice), and an RGB overlay.

    Parameters
    ----------
    path : str or Path
    names : sequence of str
    volumes : (n_lines, nz, ny, nx) ndarray
    voxel_size_nm : float, nm
    haadf : (nz, ny, nx) ndarray, optional
        Shown first.

    Returns
    -------
    Path
        The overlay shows the three lines with the most counts in red, green and blue.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    panels = ([("HAADF", haadf)] if haadf is not None else []) + list(zip(names, volumes))
    n = len(panels) + 1
    cols = min(n, 6)
    rows = int(np.ceil(n / cols))
    nz, ny, nx = np.asarray(panels[0][1]).shape
    fig, axes = plt.subplots(2 * rows, cols, figsize=(2.2 * cols, 2.2 * rows * (1 + nz / ny)),
                             gridspec_kw={"height_ratios": [ny, nz] * rows}, squeeze=False)
    extent_yx = (0, nx * voxel_size_nm, ny * voxel_size_nm, 0)
    extent_zx = (0, nx * voxel_size_nm, nz * voxel_size_nm, 0)
    for k, (name, vol) in enumerate(panels):
        r, c = divmod(k, cols)
        vol = np.asarray(vol, np.float32)
        axes[2 * r, c].imshow(_normalised(vol[nz // 2]), cmap="magma", extent=extent_yx)
        axes[2 * r, c].set_title(name, fontsize=8)
        axes[2 * r + 1, c].imshow(_normalised(vol[:, ny // 2, :]), cmap="magma", extent=extent_zx)
    strongest = np.argsort([-float(np.maximum(v, 0).sum()) for v in volumes])[:3]
    rgb_yx = np.zeros((ny, nx, 3))
    rgb_zx = np.zeros((nz, nx, 3))
    for channel, i in enumerate(strongest):
        rgb_yx[..., channel] = _normalised(np.asarray(volumes[i], np.float32)[nz // 2])
        rgb_zx[..., channel] = _normalised(np.asarray(volumes[i], np.float32)[:, ny // 2, :])
    r, c = divmod(len(panels), cols)
    axes[2 * r, c].imshow(rgb_yx, extent=extent_yx)
    axes[2 * r, c].set_title(" ".join(f"{names[i]}={_OVERLAY[ch][0].upper()}" for ch, i in enumerate(strongest)),
                             fontsize=7)
    axes[2 * r + 1, c].imshow(rgb_zx, extent=extent_zx)
    for ax in axes.ravel():
        ax.tick_params(labelsize=5)
    for k in range(n, rows * cols):
        r, c = divmod(k, cols)
        axes[2 * r, c].axis("off")
        axes[2 * r + 1, c].axis("off")
    fig.suptitle(f"element volumes: y–x slice at the centre (top), z–x slice (below); nm, voxel "
                 f"{voxel_size_nm:.1f} nm", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_element_maps(path, names, maps, pixel_size_nm: float | None, *, fits=()) -> Path:
    """Save the net-count map of each line side by side, with fitted core and outer circles drawn.

    Parameters
    ----------
    path : str or Path
    names : sequence of str
    maps : sequence of (ny, nx) ndarray
    pixel_size_nm : float or None, nm
        None: axes in pixels.
    fits : sequence of CoreShellFit
        Drawn as circles (core solid, outer dashed) with their particle number.

    Returns
    -------
    Path
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    h = pixel_size_nm or 1.0
    n = len(maps)
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 3.2), squeeze=False)
    for ax, name, image in zip(axes[0], names, maps):
        ny, nx = image.shape
        ax.imshow(np.clip(image, 0, None), cmap="magma", extent=(-0.5 * h, (nx - 0.5) * h, (ny - 0.5) * h, -0.5 * h))
        ax.set_title(name, fontsize=9)
        for f in fits:
            for radius, style in ((f.core_radius_nm, "-"), (f.outer_radius_nm, "--")):
                ax.add_patch(plt.Circle((f.centre_x_nm, f.centre_y_nm), radius, fill=False, color="cyan",
                                        linestyle=style, linewidth=0.8))
            ax.text(f.centre_x_nm, f.centre_y_nm, str(f.particle), color="white", fontsize=6, ha="center",
                    va="center")
        ax.tick_params(labelsize=6)
        ax.set_xlabel("nm" if pixel_size_nm else "px", fontsize=7)
    fig.suptitle("net counts per pixel" + (": fitted core (solid) and outer radius (dashed)" if fits else ""),
                 fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
