"""Volumes, labels and alignments in the formats other tools open, with their voxel size.

* **MRC** (IMOD 3dmod, ChimeraX, tomviz): ``mrcfile``, voxel size in Å in the header, (z, y, x) as
  sections, rows, columns.
* **HSPY** (HyperSpy's ``load``, through RosettaSciIO's hspy writer): axes ``z``, ``y``, ``x`` in nm.
* **TIFF** with resolution tags: ImageJ hyperstack metadata (``spacing`` and ``unit`` = nm) and
  the X/Y resolution in pixels per nm, as Fiji reads them.
* **OME-Zarr** (napari, Fiji's MoBIE/BigDataViewer, neuroglancer; extra ``omezarr``: ome-zarr-py):
  one store per time point, ``volume.ome.zarr``, the volume as the image and the labels as
  ``labels/particles``, axes z, y, x in nanometre with the voxel size as the scale
  (NGFF 0.5 ``coordinateTransformations``), and 2× pyramid levels (every axis binned) while
  every axis keeps at least 16 voxels.
* **IMOD alignment**: a ``.xf`` file, one line ``A11 A12 A21 A22 DX DY`` per image (here the
  identity and the shift applied to the image, x then y, in pixels of the stack as stored; the
  y index of a stack read from an MRC file is IMOD's y), and a ``.tlt`` file of the tilt angles
  in degrees.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import InvalidParameter, UnreadableFile
from .writers import atomic_path, read_array

__all__ = ["VOLUME_FORMATS", "RUN_FORMATS", "export_volume", "export_ome_zarr", "write_imod_xf", "read_imod_xf",
           "write_tlt", "export_run_folder"]

#: formats :func:`export_volume` writes
VOLUME_FORMATS = ("mrc", "hspy", "tif")
#: formats :func:`export_run_folder` writes: those and OME-Zarr (volume and labels in one store)
RUN_FORMATS = (*VOLUME_FORMATS, "ome-zarr")


def _hspy(path: Path, data: np.ndarray, voxel_size_nm: float, title: str) -> None:
    from rsciio.hspy import file_writer

    axes = [{"name": a, "units": "nm", "scale": float(voxel_size_nm), "offset": 0.0, "size": int(n),
             "navigate": False} for a, n in zip("zyx", data.shape)]
    signal = {"data": data, "axes": axes, "metadata": {"General": {"title": title}, "Signal": {"signal_type": ""}},
              "original_metadata": {}, "tmp_parameters": {}, "attributes": {"_lazy": False},
              "package_info": {"name": "insitu4d", "version": ""}, "learning_results": {}, "models": {}}
    file_writer(str(path), signal)


def export_volume(volume_path, out_dir, *, formats=VOLUME_FORMATS, voxel_size_nm: float | None = None) -> list[Path]:
    """Write a volume or label volume of insitu4d (``.h5`` with ``/data``) as MRC, HSPY and/or TIFF.

    Parameters
    ----------
    volume_path : str or Path
        ``volume.h5`` or ``labels.h5``.
    out_dir : str or Path
        Where to write ``<stem>.mrc``, ``<stem>.hspy``, ``<stem>.tif``.
    formats : sequence of {"mrc", "hspy", "tif"}
    voxel_size_nm : float, nm, optional
        When the file does not record it.

    Returns
    -------
    list of Path

    Raises
    ------
    UnreadableFile
        What :func:`insitu4d.io.writers.read_array` raises.
    InvalidParameter
        An unknown format, or no voxel size recorded and none given.
    """
    unknown = [f for f in formats if f not in VOLUME_FORMATS]
    if unknown:
        raise InvalidParameter(f"unknown export format(s) {unknown}; choose from {', '.join(VOLUME_FORMATS)}.")
    path = Path(volume_path)
    data, attrs = read_array(path)
    voxel = voxel_size_nm or attrs.get("voxel_size_nm") or attrs.get("pixel_size_nm")
    if not voxel:
        raise InvalidParameter(f"{path.name} records no voxel size; give voxel_size_nm.")
    voxel = float(voxel)
    # types all three formats hold (MRC modes 2 and 6, ImageJ 'f' and 'H'): labels as uint16 when they fit
    small = data.dtype.kind in "iub" and data.min() >= 0 and data.max() < 2 ** 16
    data = np.ascontiguousarray(data.astype(np.uint16 if small else np.float32))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        target = out_dir / f"{path.stem}.{fmt}"
        with atomic_path(target) as tmp:
            if fmt == "mrc":
                import mrcfile

                with mrcfile.new(tmp, overwrite=True) as mrc:
                    mrc.set_data(data)
                    mrc.voxel_size = voxel * 10.0  # Å
            elif fmt == "hspy":
                _hspy(tmp, data, voxel, path.stem)
            else:
                import tifffile

                tifffile.imwrite(tmp, data, imagej=True, resolution=(1.0 / voxel, 1.0 / voxel),
                                 metadata={"spacing": voxel, "unit": "nm", "axes": "ZYX"})
        written.append(target)
    return written


def export_ome_zarr(run_folder, out_dir) -> Path:
    """Write a time point's volume and labels as one OME-Zarr store, ``out_dir/volume.ome.zarr``.

    Parameters
    ----------
    run_folder : str or Path
        A time-point folder with ``volume.h5`` and ``labels.h5``.
    out_dir : str or Path

    Returns
    -------
    Path
        The store (a folder), replaced whole: it is written beside and renamed into place.

    Raises
    ------
    MissingExtra
        ome-zarr-py is not installed (extra ``omezarr``).
    UnreadableFile
        ``volume.h5`` or ``labels.h5`` is missing or unreadable.
    InvalidParameter
        The volume records no voxel size.
    """
    import shutil
    import tempfile

    from ..errors import MissingExtra

    try:
        import zarr
        from ome_zarr.writer import write_image, write_labels
    except ImportError:
        raise MissingExtra("OME-Zarr export needs ome-zarr-py, which is not installed: "
                           "pip install 'insitu4d[omezarr]'.") from None
    run_folder, out_dir = Path(run_folder), Path(out_dir)
    volume, attrs = read_array(run_folder / "volume.h5")
    labels, _ = read_array(run_folder / "labels.h5")
    voxel = attrs.get("voxel_size_nm")
    if not voxel:
        raise InvalidParameter(f"{run_folder / 'volume.h5'} records no voxel_size_nm.")
    levels = int(max(0, np.floor(np.log2(min(volume.shape) / 16.0))))  # down to about 16 voxels per axis
    factors = [{a: 2 ** k for a in "zyx"} for k in range(1, levels + 1)]  # isotropic: z is binned too
    common = {"axes": ["z", "y", "x"], "scale": {a: float(voxel) for a in "zyx"},
              "axes_units": {a: "nanometer" for a in "zyx"}, "scale_factors": factors}
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "volume.ome.zarr"
    tmp = Path(tempfile.mkdtemp(prefix=".volume.ome.zarr.", suffix=".part", dir=out_dir))
    try:
        root = zarr.open_group(str(tmp), mode="w")
        write_image(np.asarray(volume, np.float32), root, name="volume", **common)
        write_labels(np.asarray(labels, np.uint32), root, name="particles", scaler=None, **common)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def write_imod_xf(path, shifts_px) -> Path:
    """Write per-image shifts as an IMOD ``.xf`` file (identity rotation, DX DY in pixels).

    Parameters
    ----------
    path : str or Path
    shifts_px : (n_images, 2) array of float, pixels
        (dy, dx) applied to each image, as in ``run.json``'s ``alignment.shifts_px``.

    Returns
    -------
    Path

    Raises
    ------
    InvalidParameter
        Shifts that are not (n, 2).
    """
    shifts = np.asarray(shifts_px, dtype=np.float64)
    if shifts.ndim != 2 or shifts.shape[1] != 2:
        raise InvalidParameter(f"shifts_px must be (n_images, 2) (dy, dx); got shape {shifts.shape}.")
    lines = "".join(f"{1.0:12.7f}{0.0:12.7f}{0.0:12.7f}{1.0:12.7f}{dx:12.3f}{dy:12.3f}\n" for dy, dx in shifts)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(lines)
    return path


def read_imod_xf(path) -> np.ndarray:
    """Read the shifts of an IMOD ``.xf`` file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    (n_images, 2) ndarray of float, pixels
        (dy, dx).

    Raises
    ------
    UnreadableFile
        A line that is not six numbers (the message names it).
    """
    path = Path(path)
    rows = []
    for k, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values = [float(v) for v in line.split()]
        except ValueError:
            values = []
        if len(values) != 6:
            raise UnreadableFile(f"{path.name}: line {k} is not six numbers (A11 A12 A21 A22 DX DY).")
        rows.append((values[5], values[4]))
    return np.array(rows).reshape(-1, 2)


def write_tlt(path, tilts_deg) -> Path:
    """Write tilt angles as an IMOD ``.tlt`` file, degrees, one per line.

    Parameters
    ----------
    path : str or Path
    tilts_deg : (n_images,) array of float, degrees

    Returns
    -------
    Path
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{t:.3f}\n" for t in np.asarray(tilts_deg, dtype=np.float64)))
    return path


def export_run_folder(folder, *, formats=VOLUME_FORMATS) -> list[Path]:
    """Export every tilt-series run under an insitu4d output folder: its volume and labels in ``formats`` and its
    alignment as ``.xf`` and ``.tlt``, into an ``export/`` folder beside each ``run.json``.

    Parameters
    ----------
    folder : str or Path
        The output of ``insitu4d run`` (a ``run.json``) or of a 4D run (time-point folders each with one).
    formats : sequence of {"mrc", "hspy", "tif", "ome-zarr"}

    Returns
    -------
    list of Path

    Raises
    ------
    UnreadableFile
        A folder that holds no ``run.json`` (not an insitu4d output).
    InvalidParameter
        An unknown format.
    MissingExtra
        "ome-zarr" without ome-zarr-py installed.
    """
    unknown = [f for f in formats if f not in RUN_FORMATS]
    if unknown:
        raise InvalidParameter(f"unknown export format(s) {unknown}; choose from {', '.join(RUN_FORMATS)}.")
    folder = Path(folder)
    runs = sorted(p.parent for p in folder.glob("run.json")) + sorted(p.parent for p in folder.glob("*/run.json"))
    if not runs:
        raise UnreadableFile(f"{folder} is not an insitu4d output folder: it holds no run.json (nor do its "
                             "sub-folders). Give the folder 'insitu4d run' wrote.")
    written = []
    for run in runs:
        record = json.loads((run / "run.json").read_text())
        out = run / "export"
        volume_formats = tuple(f for f in formats if f != "ome-zarr")
        for name in ("volume.h5", "labels.h5"):
            if (run / name).is_file() and volume_formats:
                written += export_volume(run / name, out, formats=volume_formats)
        if "ome-zarr" in formats:
            written.append(export_ome_zarr(run, out))
        alignment = record.get("alignment") or {}
        if alignment.get("shifts_px"):
            written.append(write_imod_xf(out / "alignment.xf", alignment["shifts_px"]))
        tilts = (record.get("tilt_series") or {}).get("tilts_deg")
        if tilts:
            written.append(write_tlt(out / "alignment.tlt", tilts))
    return written
