"""napari reader of an insitu4d 4D output folder: volumes, labels, particle tracks and pairs through time.

Registered through the npe2 manifest ``insitu4d/napari.yaml`` (extra ``napari``). Opening the folder
that ``insitu4d run EXPERIMENT.toml`` wrote gives, with the time point as the first axis:

* ``volume``: the reconstructions as one (t, z, y, x) image layer, scale (1, voxel, voxel, voxel) nm;
* ``labels``: the segmentations as one (t, z, y, x) labels layer, same scale;
* ``particle tracks``: a Tracks layer, rows (track id, t, z, y, x) with the centroids in nm;
* ``pairs``: a Points layer at the middle between the two particles' centroids of every pair and
  time point (nm), sized 2 r_n, with r_n, d and r_n/r_p as features.

Each time point is reconstructed in its own frame (the tilt series are aligned one by one), so
positions are in each time point's volume, as the layers show it. Volumes of different shapes
are padded with zeros to the largest. The reader needs NumPy and h5py only; napari is not
imported.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from .writers import read_array

__all__ = ["napari_get_reader", "read_output"]


def napari_get_reader(path):
    """The reader for ``path`` when it is an insitu4d 4D output folder, else None (napari's reader contract).

    Parameters
    ----------
    path : str or Path or list

    Returns
    -------
    callable or None
        :func:`read_output`.
    """
    if isinstance(path, (list, tuple)):
        path = path[0] if len(path) == 1 else None
    if path is None:
        return None
    path = Path(path)
    return read_output if (path / "experiment.json").is_file() else None


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    shape = tuple(max(a.shape[k] for a in arrays) for k in range(3))
    out = np.zeros((len(arrays), *shape), dtype=arrays[0].dtype)
    for t, a in enumerate(arrays):
        out[t, : a.shape[0], : a.shape[1], : a.shape[2]] = a
    return out


def read_output(path) -> list[tuple]:
    """The layers of an insitu4d 4D output folder (module notes).

    Parameters
    ----------
    path : str or Path
        The folder (holding ``experiment.json``).

    Returns
    -------
    list of (data, kwargs, layer_type)
        napari LayerData tuples: ``image``, ``labels``, ``tracks``, ``points``.

    Raises
    ------
    UnreadableFile
        A folder without ``experiment.json`` or a time point without its volume.
    """
    from ..errors import UnreadableFile

    folder = Path(path[0] if isinstance(path, (list, tuple)) else path)
    summary_path = folder / "experiment.json"
    if not summary_path.is_file():
        raise UnreadableFile(f"{folder} is not an insitu4d 4D output folder: it holds no experiment.json.")
    summary = json.loads(summary_path.read_text())
    names = [t["time_point"] for t in summary["time_points"]]
    volumes, labels, voxel = [], [], None
    for name in names:
        if not (folder / name / "volume.h5").is_file():
            raise UnreadableFile(f"time point {name} has no volume.h5 in {folder / name}.")
        data, attrs = read_array(folder / name / "volume.h5")
        volumes.append(data.astype(np.float32))
        voxel = voxel or float(attrs["voxel_size_nm"])
        labels.append(read_array(folder / name / "labels.h5")[0].astype(np.int32))
    scale = (1.0, voxel, voxel, voxel)
    times = {name: k for k, name in enumerate(names)}
    meta = {"time_points": names, "time_s": [t["time_s"] for t in summary["time_points"]], "unit": "nm"}
    layers = [(_stack(volumes), {"name": "volume", "scale": scale, "metadata": meta}, "image"),
              (_stack(labels), {"name": "labels", "scale": scale, "metadata": meta}, "labels")]
    particles = _rows(folder / "particles_timeseries.csv")
    if particles:
        tracks = np.array([[int(r["track_id"]), times[r["time_point"]], float(r["centroid_z_nm"]),
                            float(r["centroid_y_nm"]), float(r["centroid_x_nm"])] for r in particles])
        layers.append((tracks, {"name": "particle tracks", "metadata": meta}, "tracks"))
        centroid = {(r["time_point"], int(r["label"])): np.array([float(r[f"centroid_{a}_nm"]) for a in "zyx"])
                    for r in particles}
        pairs = _rows(folder / "pairs_timeseries.csv")
        points, features = [], {"r_n_nm": [], "d_nm": [], "r_n_over_r_p": [], "pair_id": []}
        for r in pairs:
            a, b = (r["time_point"], int(r["label_a"])), (r["time_point"], int(r["label_b"]))
            if a in centroid and b in centroid:
                points.append([times[r["time_point"]], *(0.5 * (centroid[a] + centroid[b]))])
                for key in features:
                    features[key].append(float(r[key]) if key != "pair_id" else int(r[key]))
        if points:
            layers.append((np.array(points), {"name": "pairs", "features": features,
                                              "size": 2 * np.array(features["r_n_nm"]), "metadata": meta},
                           "points"))
    return layers
