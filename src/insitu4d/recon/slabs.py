"""Out-of-core reconstruction: a volume larger than a memory budget, in slabs along the tilt axis.

With the tilt axis along image y, every slice y of the volume is reconstructed from the
same row y of every image (parallel beam): slabs of rows are independent problems. FBP and
SIRT of a slab are those of the whole volume (the same arithmetic per slice; SIRT's row and
column sums belong to one slice's geometry). TV couples neighbouring slices through the
gradient along y, so each TV slab is reconstructed with ``overlap_rows`` extra rows on
either side, which are then dropped; its density scale and weight are the whole volume's
(the scale from every slab's first SIRT step, the weight chosen on the central slab when
"auto"), so only the seam remains (stated in the README, measured in the tests).

The budget covers the whole process: the memory it already holds when the plan is made
(the interpreter, the libraries, the tilt series) plus the working arrays of one slab,
:data:`WORDS_PER_VOXEL` and :data:`WORDS_PER_SINOGRAM_VALUE` float32 words per voxel and
per sinogram value of the slab (counted from the algorithms' arrays, with the copies of
the input and output). The slabs are written one by one into a chunked HDF5 dataset.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..data import TiltSeries
from ..errors import InvalidParameter, MemoryBudgetTooSmall

__all__ = ["SlabPlan", "plan_slabs", "reconstruct_slabs", "process_memory_bytes", "SLAB_METHODS",
           "TV_OVERLAP_ROWS", "WORDS_PER_VOXEL", "WORDS_PER_SINOGRAM_VALUE"]

#: Methods that can run in slabs.
SLAB_METHODS = ("fbp", "sirt", "tv")
#: float32 words per voxel of a slab while it is reconstructed: FBP the volume and its copy
#: out; SIRT x, the update, the copy out and one spare; TV x, x̄, the 3-component dual of the
#: gradient, its divergence, the copy out and two spares.
WORDS_PER_VOXEL = {"fbp": 3, "sirt": 5, "tv": 10}
#: float32 words per sinogram value of a slab: the input copies, b, the residual (SIRT) or the
#: dual p (TV) and the row weights; FBP the filtered copies (complex, padded).
WORDS_PER_SINOGRAM_VALUE = {"fbp": 8, "sirt": 5, "tv": 6}
#: Extra rows on each side of a TV slab (measured seam error in the README). TV's coupling along y reaches
#: further the larger the particles: on 256³ voxels with spheres of 10–31 voxels radius (TV-150, weight 0.2)
#: 8 rows left 7.0e-3 of the peak at the seams and 1.1e-3 10–19 rows from them; 24 rows leave 3.0e-4 and
#: 6e-6 (on spheres of 3–7 voxels, 8 rows had left 5e-5).
TV_OVERLAP_ROWS = 24
#: Target size of one HDF5 chunk (a block of whole slices).
CHUNK_BYTES = 8 * 1024 ** 2


def process_memory_bytes() -> int:
    """The resident memory of this process now (:mod:`psutil`).

    Returns
    -------
    int
        Bytes.
    """
    import psutil

    return int(psutil.Process().memory_info().rss)


@dataclass(frozen=True)
class SlabPlan:
    """How a volume is cut: ``rows`` slices per slab (plus ``overlap_rows`` each side), ``n_slabs`` slabs."""

    max_memory_gb: float
    held_gb: float
    slab_gb_per_row: float
    rows: int
    overlap_rows: int
    n_slabs: int

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def plan_slabs(n_tilts: int, ny: int, nx: int, nz: int, method: str, max_memory_gb: float, *,
               overlap_rows: int = 0, held_bytes: int | None = None) -> SlabPlan:
    """The largest slabs that keep the process within ``max_memory_gb``.

    Parameters
    ----------
    n_tilts, ny, nx : int
        The aligned tilt series' shape (tilt axis along y).
    nz : int
        The volume's thickness.
    method : {"fbp", "sirt", "tv"}
    max_memory_gb : float, GB (10⁹ bytes)
    overlap_rows : int
        Extra rows on each side of a slab (TV).
    held_bytes : int, optional
        Memory the process holds besides the slab; default :func:`process_memory_bytes`.

    Returns
    -------
    SlabPlan

    Raises
    ------
    InvalidParameter
        A method that cannot run in slabs, or a budget ≤ 0.
    MemoryBudgetTooSmall
        Not even one row (with its overlap) fits; the message gives the smallest budget that works.
    """
    if method not in SLAB_METHODS:
        raise InvalidParameter(f"a memory budget needs a method that runs in slabs ({', '.join(SLAB_METHODS)}); "
                               f"got {method!r}.")
    if not (isinstance(max_memory_gb, (int, float)) and max_memory_gb > 0):
        raise InvalidParameter(f"the memory budget must be a number of GB > 0; got {max_memory_gb!r}.")
    held = process_memory_bytes() if held_bytes is None else int(held_bytes)
    per_row = 4 * (WORDS_PER_VOXEL[method] * nz * nx + WORDS_PER_SINOGRAM_VALUE[method] * n_tilts * nx)
    free = max_memory_gb * 1e9 - held
    rows = min(int(free // per_row) - 2 * overlap_rows, ny)
    if rows < 1:
        slab = per_row * (1 + 2 * overlap_rows)
        smallest = math.ceil((held + slab) / 1e7) / 100  # GB, rounded up to 0.01
        overlap = f" with {overlap_rows} overlap rows on each side" if overlap_rows else ""
        raise MemoryBudgetTooSmall(
            f"a memory budget of {max_memory_gb:g} GB is below the smallest slab: this process already holds "
            f"{held / 1e9:.2f} GB, and one slice of {nz} × {nx} voxels from {n_tilts} tilts{overlap} "
            f"({method.upper()}) needs {slab / 1e9:.3f} GB more. Give --max-memory-gb {smallest:g} or more (or bin "
            "the tilt series).")
    return SlabPlan(float(max_memory_gb), held / 1e9, per_row / 1e9, rows, overlap_rows if rows < ny else 0,
                    math.ceil(ny / rows))


def _whole_density_scale(ts: TiltSeries, nz: int, plan: SlabPlan, backend: str) -> float:
    """The 99.9th percentile of one SIRT step over the whole volume, slab by slab (exact: each slab
    keeps its largest values, enough for the percentile's two neighbouring ranks)."""
    from .algorithms import DENSITY_PERCENTILE, first_sirt_step
    from .backends import get_projector

    n_tilts, ny, nx = ts.data.shape
    total = nz * ny * nx
    position = (total - 1) * DENSITY_PERCENTILE / 100.0
    keep = total - int(math.floor(position))  # the values at rank floor(position) and above
    proj = get_projector(ts.tilts_deg, nz, nx, backend)
    top = np.empty(0, np.float32)
    for y0 in range(0, ny, plan.rows):
        b = proj.sino_to_backend(np.asarray(ts.data[:, y0:y0 + plan.rows], np.float32))
        values = np.asarray(proj.volume_from_backend(first_sirt_step(proj, b))).ravel()
        top = np.concatenate([top, values])
        if top.size > keep:
            top = np.partition(top, top.size - keep)[-keep:]
    top.sort()
    # numpy's linear percentile over all values, from the largest `keep` of them (ascending)
    low = int(math.floor(position)) - (total - keep)
    frac = position - math.floor(position)
    value = top[low] if frac == 0 or low + 1 >= top.size else top[low] + frac * (top[low + 1] - top[low])
    return float(value) or 1.0


def reconstruct_slabs(tilt_series: TiltSeries, output, *, max_memory_gb: float, method: str = "sirt",
                      iterations: int | None = None, filter_name: str = "ramp", thickness_px: int | None = None,
                      nonnegative: bool = True, tv_weight: float | str = "auto", backend: str = "auto",
                      overlap_rows: int = TV_OVERLAP_ROWS, held_bytes: int | None = None,
                      progress: Callable[[int, int], None] | None = None) -> tuple[dict, SlabPlan]:
    """Reconstruct ``tilt_series`` slab by slab into ``output`` within a memory budget (module docstring).

    Parameters
    ----------
    tilt_series : TiltSeries
        Aligned, background-free; tilt axis along image y. Its ``data`` may be a
        memory-mapped or HDF5-backed array: only one slab of rows is read at a time.
    output : str or Path
        ``.h5``/``.hdf5``: dataset ``/data`` (nz, ny, nx) float32, chunked by whole slices,
        attributes ``voxel_size_nm``, ``axes``, ``provenance`` (JSON, with the plan); written
        atomically.
    max_memory_gb : float, GB (10⁹ bytes)
        Peak resident memory of the process.
    method : {"fbp", "sirt", "tv"}
    iterations, filter_name, thickness_px, nonnegative, tv_weight, backend
        As :func:`insitu4d.recon.reconstruct`.
    overlap_rows : int
        TV: rows added on each side of a slab and dropped (:data:`TV_OVERLAP_ROWS`).
    held_bytes : int, optional
        Memory the process holds besides the slabs; default :func:`process_memory_bytes` now.
    progress : callable(done, total), optional
        Called after each iteration of each slab.

    Returns
    -------
    provenance : dict
        As :func:`insitu4d.recon.reconstruct` records it, with ``slabs`` (the plan).
    plan : SlabPlan

    Raises
    ------
    InvalidParameter, MemoryBudgetTooSmall
        As :func:`plan_slabs`; an output that is not HDF5.
    """
    import h5py

    from . import DEFAULT_ITERATIONS, reconstruct
    from ..io.writers import atomic_path

    output = Path(output)
    if output.suffix.lower() not in (".h5", ".hdf5"):
        raise InvalidParameter(f"a volume made in slabs is written to HDF5 (.h5); got {output.name}.")
    n_tilts, ny, nx = tilt_series.data.shape
    nz = int(thickness_px or nx)
    overlap = overlap_rows if method == "tv" else 0
    plan = plan_slabs(n_tilts, ny, nx, nz, method, max_memory_gb, overlap_rows=overlap, held_bytes=held_bytes)
    iterations = DEFAULT_ITERATIONS.get(method, 1) if iterations is None else int(iterations)
    common = {"method": method, "iterations": iterations if method != "fbp" else None, "filter_name": filter_name,
              "thickness_px": nz, "nonnegative": nonnegative, "backend": backend, "region": "whole"}
    choices: dict = {}
    if method == "tv":
        common["tv_scale"] = _whole_density_scale(tilt_series, nz, plan, backend)
        choices["density_scale"] = common["tv_scale"]
        if tv_weight == "auto":  # chosen once, on the central slab, for every slab
            y0 = max(0, ny // 2 - plan.rows // 2)
            centre = _slab(tilt_series, y0, min(ny, y0 + plan.rows))
            tv_weight = reconstruct(centre, tv_weight="auto", **dict(common, iterations=1))\
                .provenance["tv_weight_choice"]["tv_weight"]
            choices["tv_weight_from"] = f"the central slab, rows {y0}–{min(ny, y0 + plan.rows) - 1}"
        common["tv_weight"] = float(tv_weight)
    total = plan.n_slabs * (iterations if method != "fbp" else 1)
    chunk_rows = max(1, min(plan.rows, CHUNK_BYTES // (4 * nz * nx)))
    provenance = None
    with atomic_path(output) as tmp, h5py.File(tmp, "w") as f:
        dset = f.create_dataset("data", shape=(nz, ny, nx), dtype=np.float32, chunks=(nz, chunk_rows, nx),
                                compression="gzip", compression_opts=4)
        for k, y0 in enumerate(range(0, ny, plan.rows)):
            y1 = min(ny, y0 + plan.rows)
            lo, hi = max(0, y0 - overlap), min(ny, y1 + overlap)

            def report(i, n, k=k):
                if progress is not None:
                    progress(k * (total // plan.n_slabs) + i, total)
            volume = reconstruct(_slab(tilt_series, lo, hi), **common, progress=report)
            dset[:, y0:y1, :] = volume.data[:, y0 - lo:y1 - lo, :]
            provenance = volume.provenance
            del volume
        provenance = dict(provenance, **choices, slabs=plan.to_dict())
        import json

        dset.attrs["voxel_size_nm"] = tilt_series.pixel_size_nm
        dset.attrs["axes"] = "z,y,x"
        dset.attrs["provenance"] = json.dumps(provenance, default=str)
    return provenance, plan


def _slab(ts: TiltSeries, lo: int, hi: int) -> TiltSeries:
    """Rows lo…hi − 1 of every image, read now (as float32)."""
    return TiltSeries(np.ascontiguousarray(ts.data[:, lo:hi, :], dtype=np.float32), ts.tilts_deg, ts.pixel_size_nm)
