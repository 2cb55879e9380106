"""Slices through each pair's neck over time: the same plane in every time point, labels coloured by track.

For a pair, the slice is the array plane (z–x, y–x or z–y) that best contains the line of
centres, through the midpoint of the two particles at the first time point where the pair
is seen; every panel is cropped to a window of the same size (the largest pair's), so that
the scale and the scale bar are the same throughout; grey marks what lies beyond the volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .orthoslices import nice_scale_bar_nm
from .render3d import TRACK_COLOURS

__all__ = ["NeckView", "neck_view", "save_neck_slices"]

_AXES = "zyx"


@dataclass(frozen=True)
class NeckView:
    """Where to slice one pair.

    Attributes
    ----------
    pair_id : int
    centre_vox : (int, int, int)
        The slice's centre, (z, y, x) voxels.
    normal_axis : int
        The array axis the slice is perpendicular to (0: z, 1: y, 2: x).
    half_width_vox : int
        Half the side of the square window.
    """

    pair_id: int
    centre_vox: tuple[int, int, int]
    normal_axis: int
    half_width_vox: int


def neck_view(pair_id: int, centroid_a_nm, centroid_b_nm, r_p_nm: float, voxel_size_nm: float) -> NeckView:
    """The slice of a pair from its two centroids: the plane that best holds the line of centres, through its middle.

    Parameters
    ----------
    pair_id : int
    centroid_a_nm, centroid_b_nm : (3,) array_like, nm
        (z, y, x) centroids of the two particles.
    r_p_nm : float, nm
        The pair's particle radius.
    voxel_size_nm : float, nm

    Returns
    -------
    NeckView
        The window holds both particles with a margin of 0.3 r_p.
    """
    a, b = np.asarray(centroid_a_nm, float), np.asarray(centroid_b_nm, float)
    axis = b - a
    normal = int(np.argmin(np.abs(axis)))
    centre = tuple(int(v) for v in np.round((a + b) / 2 / voxel_size_nm))
    half = int(np.ceil((np.linalg.norm(axis) / 2 + 1.3 * r_p_nm) / voxel_size_nm))
    return NeckView(pair_id, centre, normal, max(half, 4))


def _window(image: np.ndarray, centre: tuple[int, int], half: int) -> np.ndarray:
    """The square window of ``image`` around ``centre``, padded with NaN (or 0 for labels) beyond the array."""
    fill = np.nan if image.dtype.kind == "f" else 0
    out = np.full((2 * half + 1, 2 * half + 1), fill, dtype=image.dtype)
    r0, c0 = centre[0] - half, centre[1] - half
    rs, cs = slice(max(r0, 0), min(r0 + 2 * half + 1, image.shape[0])), \
        slice(max(c0, 0), min(c0 + 2 * half + 1, image.shape[1]))
    out[rs.start - r0: rs.stop - r0, cs.start - c0: cs.stop - c0] = image[rs, cs]
    return out


def save_neck_slices(path, views: list[NeckView], frames: list[tuple[str, np.ndarray, np.ndarray, dict]],
                     voxel_size_nm: float) -> Path:
    """One row per pair, one column per frame: the pair's slice, labels coloured by track id, one scale bar length.

    Parameters
    ----------
    path : str or Path
        The ``.png`` to write (atomically).
    views : list of NeckView
    frames : list of (str, (nz, ny, nx) ndarray, (nz, ny, nx) ndarray of int, dict of int to int)
        Title, volume, labels and the track id of each label.
    voxel_size_nm : float, nm

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        No view or no frame.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    from ..io.writers import atomic_path

    if not views or not frames:
        raise ValueError("nothing to draw: give at least one pair view and one frame.")
    half = max(v.half_width_vox for v in views)  # one window size for every pair: one scale throughout
    bar = nice_scale_bar_nm(2 * half * voxel_size_nm)
    gray = plt.get_cmap("gray").copy()
    gray.set_bad("0.35")  # beyond the volume
    fig, axes = plt.subplots(len(views), len(frames), figsize=(3.2 * len(frames), 3.3 * len(views)), squeeze=False)
    for row, view in enumerate(views):
        kept = [i for i in range(3) if i != view.normal_axis]
        centre = (view.centre_vox[kept[0]], view.centre_vox[kept[1]])
        for col, (title, volume, labels, ids) in enumerate(frames):
            ax = axes[row, col]
            index = int(np.clip(view.centre_vox[view.normal_axis], 0, volume.shape[view.normal_axis] - 1))
            img = _window(np.take(np.asarray(volume, np.float32), index, axis=view.normal_axis), centre, half)
            lab = _window(np.take(labels, index, axis=view.normal_axis), centre, half)
            side = (2 * half + 1) * voxel_size_nm
            extent = (0, side, side, 0)
            lo, hi = np.nanpercentile(img, [0.5, 99.9]) if np.isfinite(img).any() else (0, 1)
            ax.imshow(img, cmap=gray, vmin=lo, vmax=hi, extent=extent, interpolation="nearest")
            overlay = np.zeros((*lab.shape, 4))
            for label in np.unique(lab[lab > 0]):
                shown = int(ids.get(int(label), label))
                overlay[lab == label] = to_rgba(TRACK_COLOURS[(shown - 1) % len(TRACK_COLOURS)], 0.35)
                rr, cc = np.nonzero(lab == label)
                ax.text((cc.mean() + 0.5) * voxel_size_nm, (rr.mean() + 0.5) * voxel_size_nm, str(shown),
                        color="white", ha="center", va="center", fontsize=9, weight="bold")
            ax.imshow(overlay, extent=extent, interpolation="nearest")
            x0, y0 = 0.06 * side, 0.92 * side
            ax.plot([x0, x0 + bar], [y0, y0], color="white", lw=4, solid_capstyle="butt")
            ax.text(x0 + bar / 2, y0 - 0.03 * side, f"{bar:g} nm", color="white", ha="center", va="bottom",
                    fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            where = f"{_AXES[kept[0]]}–{_AXES[kept[1]]} slice at {_AXES[view.normal_axis]} = " \
                    f"{index * voxel_size_nm:.0f} nm"
            ax.set_title(f"pair {view.pair_id}, {title}\n{where}", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
