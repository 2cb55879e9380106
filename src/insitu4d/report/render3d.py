"""A static 3D view of the particles: isosurfaces of the labels at the first and the last time point.

Each particle's surface is the marching-cubes isosurface at 0.5 of its own mask
(:func:`skimage.measure.marching_cubes`, Lorensen & Cline, SIGGRAPH 1987,
doi:10.1145/37402.37422), drawn by matplotlib's ``mplot3d`` in the volume frame (x, y, z in nm;
z along the beam at 0° tilt), one colour per label, the same view for both time points.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

__all__ = ["TRACK_COLOURS", "save_particles_3d", "MESH_VOXELS"]

#: The most marching-cubes steps across one particle's box (coarser steps beyond it).
MESH_VOXELS = 48

#: One flat colour per track id (matplotlib's tab10), shared by the 3D view and the neck slices.
TRACK_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf")


def save_particles_3d(path, frames: list[tuple[str, np.ndarray, dict]], voxel_size_nm: float) -> Path:
    """Draw the isosurfaces of each label volume side by side, one panel per frame, and save a PNG.

    Parameters
    ----------
    path : str or Path
        The ``.png`` to write (atomically).
    frames : list of (str, (nz, ny, nx) ndarray of int, dict of int to int)
        Title, label volume (0: background) and the track id of each label (its colour and the
        number drawn on it, so that a particle keeps its colour across panels; a label
        missing from the dict is shown by its own number).
    voxel_size_nm : float, nm

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        ``frames`` is empty.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection
    from skimage.measure import marching_cubes

    from ..io.writers import atomic_path

    if not frames:
        raise ValueError("no label volume to draw.")
    fig = plt.figure(figsize=(5.2 * len(frames), 5.0))
    extent = np.array(frames[0][1].shape[::-1], float) * voxel_size_nm  # x, y, z
    for k, (title, labels, ids) in enumerate(frames, start=1):
        ax = fig.add_subplot(1, len(frames), k, projection="3d")
        for label, box in enumerate(ndimage.find_objects(labels), start=1):
            if box is None:
                continue
            mask = np.pad(labels[box] == label, 1).astype(np.float32)  # each particle in its own box
            if mask.sum() < 8:
                continue
            # at most MESH_VOXELS marching-cubes steps across a particle: a full-resolution particle
            # would otherwise give matplotlib millions of faces
            step = max(1, int(np.ceil(max(mask.shape) / MESH_VOXELS)))
            verts, faces, _, _ = marching_cubes(mask, 0.5, spacing=(voxel_size_nm,) * 3, step_size=step)
            origin = np.array([sl.start for sl in box], float) * voxel_size_nm
            verts = (verts - voxel_size_nm + origin)[:, ::-1]  # (z, y, x) -> (x, y, z), undo the padding
            mesh = Poly3DCollection(verts[faces], alpha=0.85, linewidths=0)
            shown = int(ids.get(int(label), label))
            mesh.set_facecolor(TRACK_COLOURS[(shown - 1) % len(TRACK_COLOURS)])
            ax.add_collection3d(mesh)
            ax.text(*verts.mean(axis=0), str(shown), fontsize=9, weight="bold", zorder=10)
        ax.set_xlim(0, extent[0])
        ax.set_ylim(0, extent[1])
        ax.set_zlim(0, extent[2])
        ax.set_box_aspect(tuple(extent))
        ax.set_xlabel("x (nm)")
        ax.set_ylabel("y, tilt axis (nm)")
        ax.set_zlabel("z, beam (nm)")
        ax.locator_params(nbins=4)
        ax.view_init(elev=25, azim=-60)
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
