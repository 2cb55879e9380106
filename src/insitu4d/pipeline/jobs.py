"""Jobs of one stage, file to file: what the commands ``reconstruct``, ``align``, ``drift``, ``denoise``,
``segment``, ``measure``, ``lattice``, ``correlate`` and ``simulate`` do.

Each checks its output path before any work, reads, runs its stage, and writes atomically.
The stages themselves live in their modules; here they are only wired to files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..align import Alignment, align_tilt_series
from ..align.movie import MovieDrift, movie_drift
from ..data import Volume
from ..denoise import denoise_calibrated
from ..errors import InvalidParameter, MissingPixelSize, NotAStack, UnreadableFile
from ..io.output_folder import check_output_file
from ..io.readers import read_tilt_series
from ..io.writers import read_array, write_array, write_json, write_tilt_series
from ..measure import Measurements, measure
from ..preprocess import normalise, remove_background, rotate_to_vertical_axis
from ..noise import noise_level
from ..recon import reconstruct
from ..recon.auto import choose_method
from ..report.drift import save_drift_plot
from ..segment import SegmentationParameters, segment
from .experiment import read_experiment

__all__ = ["reconstruct_file", "align_file", "movie_drift_file", "denoise_file", "segment_file", "measure_file",
           "simulate_file", "VOLUME_SUFFIXES"]

#: File endings an array (volume, labels, movie) can be written with (:func:`insitu4d.io.write_array`).
VOLUME_SUFFIXES = (".h5", ".hdf5", ".tif", ".tiff")
_JSON = (".json",)


def reconstruct_file(tilt_series_path, output, *, tilts=None, pixel_size_nm: float | None = None,
                     tilts_unit: str = "deg", tilt_axis_deg: float | str = "auto", align: bool = True,
                     method: str = "auto", iterations: int | None = None, filter_name: str = "ramp",
                     thickness_px: int | None = None, tv_weight: float | str = "auto", backend: str = "auto",
                     region: str = "auto", max_memory_gb: float | None = None,
                     progress: Callable[[int, int], None] | None = None) -> Volume | dict:
    """Reconstruct the volume of a tilt-series file and write it.

    Parameters
    ----------
    tilt_series_path : str or Path
        Tilt-series file (:func:`insitu4d.io.read_tilt_series`).
    output : str or Path
        ``.h5``/``.hdf5`` (dataset ``/data``) or ``.tif``/``.tiff``; checked before any work.
    tilts : str, Path or array_like, optional
        Tilt file or angles.
    pixel_size_nm : float, nm, optional
        Overrides the file's calibration.
    tilts_unit : {"deg", "rad"}
    tilt_axis_deg : float or "auto", degrees
        In-plane tilt-axis direction from image y; "auto" detects it (with ``align=False``: 0°).
    align : bool
        Register the images and find the tilt axis (:func:`insitu4d.align.align_tilt_series`);
        False for data already aligned.
    method, iterations, filter_name, thickness_px, tv_weight, backend, region
        As :func:`insitu4d.recon.reconstruct`.
    max_memory_gb : float, GB, optional
        Keep the process within this budget: the volume is made in slabs along the tilt axis
        and written slab by slab (:func:`insitu4d.recon.slabs.reconstruct_slabs`; FBP, SIRT or
        TV, HDF5 output; each slab over the whole field, whatever ``region``). The budget is
        checked on the tilt series' shape before alignment.
    progress : callable(done, total), optional
        Called after each iteration.

    Returns
    -------
    Volume or dict
        ``(nz, ny, nx)`` float32, voxel size in nm, with its provenance; as written. With
        ``max_memory_gb``, the provenance alone (the volume stays on disk).

    Raises
    ------
    UnwritableOutput
        ``output`` has another ending or cannot be written.
    UnreadableFile, MissingTiltAngles, TiltAngleMismatch, InvalidTiltAngles, MissingPixelSize,
    InvalidPixelValues, NotAStack, InvalidParameter, BackendUnavailable
        As the reader, the alignment and :func:`insitu4d.recon.reconstruct`.
    """
    output = check_output_file(output, VOLUME_SUFFIXES, "volume")
    ts = normalise(remove_background(read_tilt_series(tilt_series_path, tilts=tilts, pixel_size_nm=pixel_size_nm,
                                                      tilts_unit=tilts_unit)))
    if max_memory_gb is not None:
        from ..recon.slabs import SLAB_METHODS, TV_OVERLAP_ROWS, plan_slabs

        if method == "auto":
            method = choose_method(ts.tilts_deg, noise_level(ts.data)).method
        if method not in SLAB_METHODS:
            raise InvalidParameter(f"--max-memory-gb reconstructs in slabs by {', '.join(SLAB_METHODS)}; got "
                                   f"--method {method}.")
        n_tilts, ny, nx = ts.data.shape  # checked now, before the alignment
        plan_slabs(n_tilts, ny, nx, int(thickness_px or nx), method, max_memory_gb,
                   overlap_rows=TV_OVERLAP_ROWS if method == "tv" else 0)
    if align:
        ts, _ = align_tilt_series(ts, tilt_axis_deg=tilt_axis_deg)
    else:
        ts = rotate_to_vertical_axis(ts.replace(tilt_axis_deg=0.0 if tilt_axis_deg == "auto" else tilt_axis_deg))
    if max_memory_gb is not None:
        from ..recon.slabs import reconstruct_slabs

        return reconstruct_slabs(ts, output, max_memory_gb=max_memory_gb, method=method, iterations=iterations,
                                 filter_name=filter_name, thickness_px=thickness_px, tv_weight=tv_weight,
                                 backend=backend, progress=progress)[0]
    volume = reconstruct(ts, method=method, iterations=iterations, filter_name=filter_name,
                         thickness_px=thickness_px, tv_weight=tv_weight, backend=backend, region=region,
                         progress=progress)
    write_array(output, volume.data, attrs={"voxel_size_nm": volume.voxel_size_nm, "axes": "z,y,x",
                                            "provenance": volume.provenance})
    return volume


def align_file(tilt_series_path, output, *, tilts=None, pixel_size_nm: float | None = None, tilts_unit: str = "deg",
               tilt_axis_deg: float | str = "auto", method: str = "xcorr", json_path=None) -> Alignment:
    """Align a tilt-series file and write it as MRC (tilt axis along y through the centre) with its ``.rawtlt``.

    Parameters
    ----------
    tilt_series_path : str or Path
    output : str or Path
        ``.mrc``; checked before any work, as is ``json_path``.
    tilts, pixel_size_nm, tilts_unit
        As :func:`insitu4d.io.read_tilt_series`.
    tilt_axis_deg : float or "auto", degrees
    method : {"xcorr", "mi", "com"}
        Image registration (:func:`insitu4d.align.align_tilt_series`).
    json_path : str or Path, optional
        Where to write the alignment (shifts, axis) as JSON.

    Returns
    -------
    Alignment

    Raises
    ------
    UnwritableOutput
        An output path with another ending, or one that cannot be written.
    UnreadableFile, MissingTiltAngles, TiltAngleMismatch, InvalidTiltAngles, MissingPixelSize,
    InvalidPixelValues, NotAStack, InvalidParameter
        As the reader and the alignment.
    """
    output = check_output_file(output, (".mrc",), "aligned tilt series")
    if json_path is not None:
        check_output_file(json_path, _JSON, "alignment record")
    ts = remove_background(read_tilt_series(tilt_series_path, tilts=tilts, pixel_size_nm=pixel_size_nm,
                                            tilts_unit=tilts_unit))
    aligned, alignment = align_tilt_series(ts, tilt_axis_deg=tilt_axis_deg, method=method)
    write_tilt_series(output, aligned)
    if json_path is not None:
        write_json(json_path, {"input": str(tilt_series_path), **alignment.to_dict()})
    return alignment


def movie_drift_file(movie_path, output, *, method: str = "xcorr", reference_frames: int = 5,
                     json_path=None, plot_path=None) -> MovieDrift:
    """Correct the drift of a movie file (:func:`insitu4d.align.movie.movie_drift`) and write it.

    Parameters
    ----------
    movie_path : str or Path
        ``(n_frames, ny, nx)`` in ``.tif`` or ``.h5`` (dataset ``/data``).
    output : str or Path
        ``.tif``/``.h5``; checked before any work, as is ``json_path``.
    method : {"xcorr", "mi"}
    reference_frames : int
        Accepted frames averaged into the reference (≥ 1).
    json_path : str or Path, optional
        Where to write the shifts and rejected frames as JSON.
    plot_path : str or Path, optional
        Where to write the drift plot (:func:`insitu4d.report.drift.save_drift_plot`);
        ``<output stem>_drift.png`` beside the output by default.

    Returns
    -------
    MovieDrift
        Its ``warning`` says when the drift is not to be trusted.

    Raises
    ------
    UnwritableOutput, UnreadableFile, NotAStack, InvalidParameter, InvalidPixelValues
    """
    output = check_output_file(output, VOLUME_SUFFIXES, "drift-corrected movie")
    if json_path is not None:
        check_output_file(json_path, _JSON, "drift record")
    plot_path = check_output_file(plot_path if plot_path is not None else
                                  Path(output).with_name(Path(output).stem + "_drift.png"), (".png",), "drift plot")
    data, attrs = read_array(movie_path)
    corrected, drift = movie_drift(data, method=method, reference_frames=reference_frames)
    write_array(output, corrected, attrs={**attrs, "drift": drift.to_dict()})
    save_drift_plot(plot_path, drift)
    if json_path is not None:
        write_json(json_path, {"input": str(movie_path), **drift.to_dict()})
    return drift


def _read_stack(path, tilts, tilts_unit: str):
    """A TIFF/HDF5 stack as (data, None), or a tilt-series file as (data, TiltSeries)."""
    path = Path(path)
    if path.suffix.lower() in VOLUME_SUFFIXES:
        return read_array(path)[0], None
    ts = read_tilt_series(path, tilts=tilts, tilts_unit=tilts_unit)
    return ts.data, ts


def denoise_file(input_path, output, *, method: str = "tv", strength: float | None = None, reference=None,
                 second_exposure=None, tilts=None, tilts_unit: str = "deg", **model) -> tuple[Path, dict]:
    """Denoise a stack file with a given or calibrated strength (:func:`insitu4d.denoise.denoise_calibrated`).

    Parameters
    ----------
    input_path : str or Path
        A tilt series (any reader format) or a ``.tif``/``.h5`` stack.
    output : str or Path
        ``.mrc`` (a tilt series, with its ``.rawtlt``), ``.tif`` or ``.h5``; checked before any work.
    method : {"tv", "nlm", "wavelet", "gaussian", "bm3d"}
    strength : float, noise SDs, optional
        None calibrates it on ``reference``, ``second_exposure`` or the data.
    reference, second_exposure : str or Path, optional
        Stack files of the same shape.
    tilts, tilts_unit
        For a tilt-series input.
    **model
        ``vst``, ``gain``, ``read_noise``, ``offset``, ``per_frame`` (:func:`insitu4d.denoise.denoise`).

    Returns
    -------
    record_path : Path
        ``OUTPUT.denoise.json``, beside the output.
    record : dict
        The strength chosen and how.

    Raises
    ------
    UnwritableOutput, UnreadableFile, NotAStack, InvalidParameter, InvalidPixelValues, BackendUnavailable
    """
    tilt_series_in = Path(input_path).suffix.lower() not in VOLUME_SUFFIXES  # as _read_stack decides
    output = check_output_file(output, (".mrc", *VOLUME_SUFFIXES) if tilt_series_in else VOLUME_SUFFIXES,
                               "denoised stack")
    data, ts = _read_stack(input_path, tilts, tilts_unit)
    ref = _read_stack(reference, tilts, tilts_unit)[0] if reference is not None and strength is None else None
    pair = _read_stack(second_exposure, tilts, tilts_unit)[0] \
        if second_exposure is not None and strength is None else None
    result, chosen = denoise_calibrated(data, method, strength, reference=ref, second_exposure=pair, **model)
    if output.suffix.lower() == ".mrc":
        write_tilt_series(output, ts.replace(data=result))
    else:
        write_array(output, result, attrs={"denoise": {k: v for k, v in chosen.items()
                                                      if k not in ("strengths", "losses")}})
    record = output.with_name(output.stem + ".denoise.json")
    write_json(record, {"input": str(input_path), "output": str(output), **chosen})
    return record, chosen


def _voxel_size(path: Path, attrs: dict, voxel_size_nm: float | None) -> float:
    """The voxel size given, else the file's; never a default."""
    value = voxel_size_nm if voxel_size_nm is not None else attrs.get("voxel_size_nm")
    if value is None:
        raise MissingPixelSize(f"{path.name} does not store its voxel size; give it with --voxel-size NM "
                               "(voxel_size_nm=... in Python).")
    return float(value)


def segment_file(volume_path, output, *, voxel_size_nm: float | None = None,
                 params: SegmentationParameters | None = None) -> dict:
    """Segment a volume file into labelled particles (:func:`insitu4d.segment.segment`) and write the labels.

    Parameters
    ----------
    volume_path : str or Path
        ``(nz, ny, nx)`` in ``.h5``/``.tif``.
    output : str or Path
        ``.h5``/``.tif``; checked before any work. Stores ``voxel_size_nm``.
    voxel_size_nm : float, nm, optional
        Overrides the file's; one of the two is required.
    params : SegmentationParameters, optional

    Returns
    -------
    dict
        The segmentation record (``threshold``, ``n_particles``, ``parameters`` …).

    Raises
    ------
    UnwritableOutput, UnreadableFile, NotAStack
    MissingPixelSize
        Neither the file nor the caller gives the voxel size.
    InvalidParameter, InvalidPixelValues
        As :func:`insitu4d.segment.segment` (a constant volume among them).
    """
    output = check_output_file(output, VOLUME_SUFFIXES, "label volume")
    volume_path = Path(volume_path)
    data, attrs = read_array(volume_path)
    size = _voxel_size(volume_path, attrs, voxel_size_nm)
    labels, info = segment(Volume(data, size), params)
    write_array(output, labels, attrs={"voxel_size_nm": size, "axes": "z,y,x", "segmentation": info})
    return info


def measure_file(labels_path, *, voxel_size_nm: float | None = None, json_path=None) -> Measurements:
    """Measure the particles and necks of a label-volume file (:func:`insitu4d.measure.measure`).

    Parameters
    ----------
    labels_path : str or Path
        ``(nz, ny, nx)`` integer labels in ``.h5``/``.tif``.
    voxel_size_nm : float, nm, optional
        Overrides the file's; one of the two is required.
    json_path : str or Path, optional
        Where to write the measurements; checked before any work.

    Returns
    -------
    Measurements
        Particles and pairs in nm (:func:`insitu4d.measure.measure`).

    Raises
    ------
    UnwritableOutput, UnreadableFile, NotAStack, InvalidParameter
    MissingPixelSize
        Neither the file nor the caller gives the voxel size.
    """
    if json_path is not None:
        check_output_file(json_path, _JSON, "measurements")
    labels_path = Path(labels_path)
    data, attrs = read_array(labels_path)
    result = measure(data, _voxel_size(labels_path, attrs, voxel_size_nm))
    if json_path is not None:
        write_json(json_path, result.to_dict())
    return result


def simulate_file(experiment_path, outdir) -> dict:
    """Write the digital twin of an experiment file: ``T01.mrc`` + ``T01.rawtlt`` … and ``truth.csv``.

    Parameters
    ----------
    experiment_path : str or Path
        Experiment file with a ``[simulation]`` table (:func:`~insitu4d.pipeline.experiment.read_experiment`).
    outdir : str or Path

    Returns
    -------
    dict
        :func:`insitu4d.simulate.write_twin`'s record (``tilt_series``: the files written …).

    Raises
    ------
    InvalidParameter
        The experiment has no ``[simulation]`` table, or a wrong setting.
    UnreadableFile
        The experiment file cannot be read.
    """
    from ..simulate import write_twin

    experiment = read_experiment(experiment_path)
    if experiment.twin is None:
        raise InvalidParameter(f"{Path(experiment_path).name} has no [simulation] table: nothing to simulate.")
    return write_twin(experiment.twin, outdir)


def lattice_file(image_path, *, pixel_size_nm: float | None = None, frame: int = 0,
                 lattice_constant_A: float | None = None, reference_d_A: float | None = None,
                 csv_path=None) -> dict:
    """Lattice spots of one frame of an image or movie, and optionally one spacing followed through all frames.

    Parameters
    ----------
    image_path : str or Path
        A single image, a stack or a folder of frames (:func:`insitu4d.io.movies.read_movie`).
    pixel_size_nm : float, nm, optional
        Overrides the metadata.
    frame : int
        The frame whose spots are listed.
    lattice_constant_A : float, Å, optional
        Index the spots on the zone axes of an FCC crystal of this lattice constant
        (:func:`insitu4d.lattice.index_fcc`).
    reference_d_A : float, Å, optional
        Follow this spacing through the frames (:func:`insitu4d.lattice.track_d_spacing`).
    csv_path : str or Path, optional
        Where to write the tracked spacing per frame (``.csv``); checked before any work.

    Returns
    -------
    dict
        ``spots`` (list of dict), ``families`` (d-spacings, Å), ``zone_axes`` (list of dict), ``track``
        (per-frame d, strain) when asked.

    Raises
    ------
    UnreadableFile, MissingPixelSize, InvalidParameter
        What reading raises; a frame number outside the movie.
    """
    from dataclasses import asdict

    from ..io.movies import read_movie
    from ..io.readers import _pixel_size_from_axes, _signal_axes, read_signal
    from ..io.writers import write_csv
    from ..lattice import find_lattice_spots, index_fcc, spot_families, track_d_spacing

    if csv_path is not None:
        csv_path = check_output_file(csv_path, (".csv",), "d-spacing table")
    path = Path(image_path)
    try:
        movie = read_movie(path, pixel_size_nm=pixel_size_nm)
        frames, pixel_size_nm = movie.frames, movie.pixel_size_nm
    except NotAStack:  # a single image
        signal = read_signal(path)
        frames = np.asarray(signal["data"], np.float64)[None]
        pixel_size_nm = pixel_size_nm or _pixel_size_from_axes(_signal_axes(signal))
        if pixel_size_nm is None:
            raise MissingPixelSize(f"{path.name} has no calibrated pixel size; give it with --pixel-size NM.") from None
    if not 0 <= frame < frames.shape[0]:
        raise InvalidParameter(f"frame {frame} is outside the {frames.shape[0]} frame(s) of {path.name}.")
    spots = find_lattice_spots(frames[frame], pixel_size_nm=pixel_size_nm)
    out = {"pixel_size_nm": pixel_size_nm, "frame": frame, "spots": [asdict(s) for s in spots],
           "families": [float(np.mean([s.d_spacing_A for s in f])) for f in spot_families(spots)]}
    if lattice_constant_A is not None and spots:
        out["zone_axes"] = [asdict(m) for m in index_fcc(spots[:4], lattice_constant_A)]
    if reference_d_A is not None:
        track = track_d_spacing(frames, pixel_size_nm=pixel_size_nm, reference_d_A=reference_d_A)
        rows = [{"frame": k, "d_spacing_A": d, "angle_deg": a, "strain": e}
                for k, (d, a, e) in enumerate(zip(track.d_spacing_A, track.angle_deg, track.strain))]
        out["track"] = rows
        if csv_path is not None:
            write_csv(csv_path, rows, ["frame", "d_spacing_A", "angle_deg", "strain"])
    return out


def correlate_file(image_path, run_folder, *, pixel_size_nm: float | None = None, rotation_search: bool = True
                   ) -> dict:
    """Register an image from another instrument to the projection of a run's volume; write the transform and an
    overlay into the run's folder (``correlation.json``, ``correlation.png``).

    Parameters
    ----------
    image_path : str or Path
        A 2D image (SEM, wide-field HAADF overview; any format RosettaSciIO reads, PNG/TIFF included).
    run_folder : str or Path
        A folder with ``volume.h5`` (one time point of ``insitu4d run``).
    pixel_size_nm : float, nm, optional
        The image's pixel size, when its metadata has none.
    rotation_search : bool
        Search every starting rotation (else start at 0°).

    Returns
    -------
    dict
        The record written to ``correlation.json``.

    Raises
    ------
    UnreadableFile
        No ``volume.h5`` in the folder, or an unreadable image.
    MissingPixelSize
        The image's pixel size is neither in its metadata nor given.
    InvalidParameter
        An image that is not 2D, or what the registration refuses.
    """
    from ..align.correlate import image_in_projection_frame, project_volume, register_to_projection
    from ..io.readers import _pixel_size_from_axes, _signal_axes, read_signal
    from ..io.writers import sha256_file
    from ..report.correlation import save_overlay

    folder = Path(run_folder)
    volume_path = folder / "volume.h5"
    if not volume_path.is_file():
        raise UnreadableFile(f"{folder} holds no volume.h5: give a time-point folder of an insitu4d output.")
    signal = read_signal(image_path)
    image = np.asarray(signal["data"], np.float32)
    if image.ndim != 2:
        raise InvalidParameter(f"{Path(image_path).name} holds a {image.ndim}D array; give a single 2D image.")
    if pixel_size_nm is None:
        pixel_size_nm = _pixel_size_from_axes(_signal_axes(signal))
        if pixel_size_nm is None:
            raise MissingPixelSize(f"{Path(image_path).name} has no calibrated pixel size, and correlating needs it; "
                                   "give it with --pixel-size NM.")
    volume, attrs = read_array(volume_path)
    voxel = float(attrs.get("voxel_size_nm") or 0)
    if not voxel > 0:
        raise UnreadableFile(f"{volume_path} records no voxel_size_nm.")
    projection = project_volume(volume)
    found = register_to_projection(image, float(pixel_size_nm), projection, voxel, rotation_search=rotation_search)
    record = {"image": {"path": str(image_path), "sha256": sha256_file(image_path), "pixel_size_nm": pixel_size_nm},
              "volume": {"path": str(volume_path), "voxel_size_nm": voxel},
              "transform": found.to_dict(),
              "convention": "q = scale · R(rotation) (p − centre) + centre + translation; p in the projection "
                            "(nm, (y, x) from the centre of pixel (0, 0)), q in the image; rotation counter-"
                            "clockwise in (x, y)"}
    moved = image_in_projection_frame(image, float(pixel_size_nm), found, projection.shape, voxel)
    save_overlay(folder / "correlation.png", projection, moved)
    write_json(folder / "correlation.json", record)
    from ..io.nexus import export_nexus, nexus_available

    if (folder / "run.nxs").is_file() and nexus_available():  # the transform goes into the NeXus file too
        export_nexus(folder)
    return record
