"""Random scenes of the digital twin, for judging the pipeline on cases nobody tuned it to.

A scene is a voxel grid, a voxel size and a list of bodies. The random draws follow the
conditions of the robustness benchmark (``benchmarks/bench_robustness.py``):

* a sintering pair (model C, :class:`~insitu4d.simulate.phantom.SinteringPair`) of two
  spheres whose larger radius is 8–25 voxels, size ratio 1–1.5, neck radius 0.2–0.95 of
  the smaller radius, and a pair axis drawn uniformly on the sphere (so often out of the
  image plane);
* optionally a lone particle of 6–10 voxels radius beside it;
* a 4D sequence in which the neck of such a pair grows to a full neck and the body then
  relaxes through spheroids to one sphere of the same volume (coalescence).

The physical size sets the counts: the larger particle's radius is drawn in 25–75 nm (the
Cu particles of the in situ sintering work this project follows; Ihara et al., Nanoscale
15, 10133 (2023), doi:10.1039/d3nr00992k, have r_p ≈ 60–75 nm), and the voxel size is that
radius over its radius in voxels, as a user bins a series until particles are 8–25
voxels across their radius. At a fixed dose per area a particle then scatters the same
number of electrons whatever the binning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InvalidParameter
from .phantom import SinteringPair, Sphere, Spheroid

__all__ = ["Scene", "random_axis", "random_pair_scene", "coalescence_sequence", "write_scene_experiment"]


@dataclass(frozen=True)
class Scene:
    """Bodies on a voxel grid (centred coordinates, nm), ready for :func:`insitu4d.simulate.simulate_scene`.

    Attributes
    ----------
    shape_px : (nz, ny, nx) tuple of int
        ``nz == nx``, so the default reconstruction thickness (the image width) holds it.
    voxel_size_nm : float
    spheres : tuple of Sphere or Spheroid
        Particles that are not in a pair (labels 1 … in order).
    pairs : tuple of SinteringPair
    """

    shape_px: tuple[int, int, int]
    voxel_size_nm: float
    spheres: tuple = ()
    pairs: tuple = ()


def random_axis(rng: np.random.Generator) -> np.ndarray:
    """A unit vector (z, y, x) drawn uniformly on the sphere.

    Parameters
    ----------
    rng : numpy.random.Generator

    Returns
    -------
    (3,) ndarray of float
    """
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def _grid(extent_nm: np.ndarray, voxel_size_nm: float, margin_vox: int) -> tuple[int, int, int]:
    """A grid that holds ±extent (z, y, x) with a margin, nz = nx (even sizes)."""
    n = 2 * (np.ceil(extent_nm / voxel_size_nm).astype(int) + margin_vox)
    nzx = int(max(n[0], n[2]))
    return nzx, int(n[1]), nzx


def _pair_extent(pair: SinteringPair) -> np.ndarray:
    a, b = pair.centres_nm()
    r_a, r_b = pair.radii_nm
    return np.maximum(np.abs(a) + r_a, np.abs(b) + r_b)


def random_pair_scene(rng: np.random.Generator, *, radius_vox=(8.0, 25.0), size_ratio=(1.0, 1.5),
                      neck_ratio=(0.2, 0.95), radius_nm=(25.0, 75.0), lone_radius_vox=None,
                      margin_vox: int = 6, Z: int = 29) -> Scene:
    """A random sintering pair (and optionally a lone small particle beside it).

    Parameters
    ----------
    rng : numpy.random.Generator
    radius_vox, size_ratio, neck_ratio, radius_nm : (low, high)
        Uniform ranges of the larger radius in voxels, the ratio larger/smaller radius, the
        neck radius over the smaller radius, and the larger radius in nm (which with
        ``radius_vox`` sets the voxel size).
    lone_radius_vox : (low, high), optional
        Add a lone sphere of this radius (voxels), 3–6 voxels of gap from the pair, in a
        random direction across the pair axis.
    margin_vox : int
        Empty voxels around the bodies.
    Z : int
        Atomic number of the particles.

    Returns
    -------
    Scene

    Raises
    ------
    InvalidParameter
        A range with low > high, or a neck ratio outside (0, 1].
    """
    for name, (lo, hi) in {"radius_vox": radius_vox, "size_ratio": size_ratio, "neck_ratio": neck_ratio,
                           "radius_nm": radius_nm}.items():
        if not 0 < lo <= hi:
            raise InvalidParameter(f"{name} must be a range 0 < low ≤ high; got ({lo}, {hi}).")
    if neck_ratio[1] > 1:
        raise InvalidParameter(f"neck_ratio must not exceed 1 (model C ends at a full neck); got {neck_ratio}.")
    r_vox = rng.uniform(*radius_vox)
    h = rng.uniform(*radius_nm) / r_vox
    r_big = r_vox * h
    r_small = r_big / rng.uniform(*size_ratio)
    radii = (r_big, r_small) if rng.random() < 0.5 else (r_small, r_big)
    r_n = rng.uniform(*neck_ratio) * r_small
    axis = random_axis(rng)
    pair = SinteringPair((0.0, 0.0, 0.0), tuple(axis), radii[0], r_n, Z, r_p_b_nm=radii[1])
    extent = _pair_extent(pair)
    spheres: tuple = ()
    if lone_radius_vox is not None:
        r_lone = rng.uniform(*lone_radius_vox) * h
        across = np.cross(axis, random_axis(rng))
        across /= np.linalg.norm(across)
        centre = across * (r_big + r_lone + rng.uniform(3.0, 6.0) * h)
        spheres = (Sphere.round(centre, r_lone, Z),)
        extent = np.maximum(extent, np.abs(centre) + r_lone)
    jitter = rng.uniform(-0.5, 0.5, 3) * h  # sub-voxel position
    pair = SinteringPair(tuple(jitter), tuple(axis), radii[0], r_n, Z, r_p_b_nm=radii[1])
    spheres = tuple(Sphere.round(np.asarray(s.centre_nm) + jitter, s.semi_axes_nm[0], Z) for s in spheres)
    return Scene(_grid(extent + h, h, margin_vox), float(h), spheres, (pair,))


def coalescence_sequence(rng: np.random.Generator, neck_ratios, relax_aspect=(1.4, 1.15, 1.0), *,
                         radius_vox=(10.0, 20.0), size_ratio=(1.0, 1.3), radius_nm=(25.0, 75.0),
                         shift_vox: float = 3.0, margin_vox: int = 6, Z: int = 29) -> tuple[list[Scene], int]:
    """A 4D sequence: a pair's neck grows through ``neck_ratios`` to a full neck, then it relaxes to one sphere.

    The time points first hold a model-C pair at each neck ratio (r_n over the smaller
    radius); a ratio of 1 has no constriction left. Then the body is one spheroid along the
    pair axis of the pair's volume for each aspect ratio in ``relax_aspect`` (1: a sphere).
    Every time point is moved by a random translation (up to ``shift_vox`` voxels per axis),
    as each time point is reconstructed in its own frame.

    Parameters
    ----------
    rng : numpy.random.Generator
    neck_ratios : sequence of float
        Increasing, in (0, 1].
    relax_aspect : sequence of float
        Aspect ratios (along / across) of the merged body, ≥ 1.
    radius_vox, size_ratio, radius_nm : (low, high)
        As :func:`random_pair_scene`.
    shift_vox : float
    margin_vox : int
    Z : int

    Returns
    -------
    scenes : list of Scene
        One per time point, all on the same grid.
    merge_index : int
        The first time point without a neck: the first neck ratio ≥ 1, else the first
        merged body.

    Raises
    ------
    InvalidParameter
        Neck ratios not increasing within (0, 1], or an aspect ratio below 1.
    """
    ratios = np.asarray(neck_ratios, float)
    if ratios.size == 0 or np.any(ratios <= 0) or np.any(ratios > 1) or np.any(np.diff(ratios) <= 0):
        raise InvalidParameter(f"neck_ratios must increase within (0, 1]; got {list(ratios)}.")
    if any(a < 1 for a in relax_aspect):
        raise InvalidParameter(f"relax_aspect values must be ≥ 1 (along over across); got {list(relax_aspect)}.")
    r_vox = rng.uniform(*radius_vox)
    h = rng.uniform(*radius_nm) / r_vox
    r_big = r_vox * h
    r_small = r_big / rng.uniform(*size_ratio)
    axis = tuple(random_axis(rng))
    pairs = [SinteringPair((0.0, 0.0, 0.0), axis, r_big, r * r_small, Z, r_p_b_nm=r_small) for r in ratios]
    volume = 4.0 / 3.0 * np.pi * (r_big ** 3 + r_small ** 3)
    extent = np.max([_pair_extent(p) for p in pairs], axis=0) + shift_vox * h
    shape = _grid(extent + h, h, margin_vox)
    scenes = []
    for i in range(len(pairs) + len(relax_aspect)):
        shift = rng.uniform(-shift_vox, shift_vox, 3) * h
        if i < len(pairs):
            p = pairs[i]
            mid = np.asarray(p.centres_nm()).mean(axis=0) + shift
            body = SinteringPair(tuple(mid), axis, r_big, p.r_n_nm, Z, r_p_b_nm=r_small)
            scenes.append(Scene(shape, float(h), (), (body,)))
        else:
            aspect = float(relax_aspect[i - len(pairs)])
            across = (3.0 * volume / (4.0 * np.pi * aspect)) ** (1.0 / 3.0)
            scenes.append(Scene(shape, float(h), (Spheroid(tuple(shift), axis, aspect * across, across, Z),), ()))
    ends = np.flatnonzero(ratios >= 1.0)
    merge_index = int(ends[0]) if ends.size else len(pairs)
    return scenes, merge_index


def write_scene_experiment(scenes, folder, tilts_deg, dose_e_per_nm2: float, rng: np.random.Generator, *,
                           interval_s: float = 10.0, drift_max_px: float = 0.0,
                           tilt_axis_offset_px: float = 0.0) -> tuple[Path, list[list[dict]]]:
    """Image a sequence of scenes as tilt series and write the experiment TOML that runs them (defaults only).

    Parameters
    ----------
    scenes : sequence of Scene
        One per time point, on one grid and voxel size.
    folder : str or Path
        Receives ``T01.mrc`` + ``T01.rawtlt`` … and ``experiment.toml``.
    tilts_deg : (n_tilts,) array_like of float, degrees
    dose_e_per_nm2 : float
        Per tilt series.
    rng : numpy.random.Generator
    interval_s : float
        Time between time points.
    drift_max_px, tilt_axis_offset_px : float
        Misalignment of every tilt series (:func:`insitu4d.simulate.haadf.haadf_tilt_series`).

    Returns
    -------
    toml : Path
    truth : list of list of dict
        Per time point, the truth rows of :func:`insitu4d.simulate.simulate_scene`.

    Raises
    ------
    InvalidParameter
        No scenes, or scenes on different grids.
    """
    from ..io import write_tilt_series
    from .twin import simulate_scene

    scenes = list(scenes)
    if not scenes or any(s.shape_px != scenes[0].shape_px or s.voxel_size_nm != scenes[0].voxel_size_nm
                         for s in scenes):
        raise InvalidParameter("give at least one scene, all on the same grid and voxel size.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ['name = "scene sequence"', "[acquisition]", f"pixel_size_nm = {scenes[0].voxel_size_nm!r}",
             f"dose_e_per_nm2 = {float(dose_e_per_nm2)!r}", "[uncertainty]", "repeats = 0"]
    truth = []
    for i, scene in enumerate(scenes):
        ts, rows, _, _ = simulate_scene(scene.shape_px, scene.voxel_size_nm, tilts_deg, dose_e_per_nm2,
                                        spheres=scene.spheres, pairs=scene.pairs, rng=rng, drift_max_px=drift_max_px,
                                        tilt_axis_offset_px=tilt_axis_offset_px)
        write_tilt_series(folder / f"T{i + 1:02d}.mrc", ts)
        truth.append(rows)
        lines += ["[[timepoints]]", f"time_s = {interval_s * i!r}", f"tiltseries = 'T{i + 1:02d}.mrc'",
                  f"tilts = 'T{i + 1:02d}.rawtlt'"]
    toml = folder / "experiment.toml"
    toml.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return toml, truth
