"""The main job for one tilt series: read → preprocess → align → reconstruct → segment → measure → write.

Every output is written atomically; ``run.json`` is written last, so its presence means the
run finished. A rerun whose aligned tilt series and reconstruction parameters are the same
reuses a finished ``volume.h5`` (the expensive stage) instead of reconstructing again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from .. import __version__
from ..align import AlignmentParameters, align_tilt_series, apply_alignment
from ..data import TiltSeries, Volume, require_positive
from ..denoise import DenoiseParameters, denoise_calibrated
from ..dose import tilt_series_dose
from ..errors import InvalidParameter, UnreadableFile
from ..io.readers import TILT_UNITS, read_tilt_series
from ..io.output_folder import output_folder
from ..io.writers import read_array, write_array, write_csv, write_json
from ..measure import measure
from ..measure import Measurements, Pair, Particle
from ..neck_fit import refine_necks
from ..noise import looks_like_counts, noise_level, noise_variance, thinned_difference
from ..quality import (check_alignment, check_counts, check_field_of_view, check_pairs, check_particles,
                       check_residual, check_tilts, edge_widths_vox, signal_counts)
from ..provenance import current_environment
from ..preprocess import (PreprocessParameters, bin_tilt_series, normalise, remove_background, rotate_images,
                          rotate_to_vertical_axis)
from ..recon import PRIOR_SHARE, ReconstructionParameters, reconstruct, reprojection_residual
from ..recon import check_parameters as check_reconstruction
from ..report.orthoslices import save_orthoslices
from ..segment import SegmentationParameters, segment
from .result import InputFile, TiltSeriesRecord, TimePointResult
from .edx import EdxParameters, check_edx_lines, edx_files_for, holds_spectrum_images, run_edx

__all__ = ["RunParameters", "run_tilt_series", "finished_measurements", "PARTICLE_COLUMNS", "PAIR_COLUMNS", "STAGES",
           "STAGE_TABLES"]

STAGES = ("read", "preprocess", "align", "reconstruct", "segment", "measure", "write")
#: The stages whose parameters an experiment file sets, one table each ([preprocess], [denoise] …); the
#: reading parameters (pixel size, tilt unit) are in [acquisition].
#: The acquisition settings of a tilt series that run.json records (TiltSeries attributes).
ACQUISITION_SETTINGS = ("beam_energy_keV", "probe_current_pA", "dwell_time_s", "frame_time_s")
#: The seed of the random thinning that splits detected counts into two halves (the noise estimate).
THINNING_SEED = 0

STAGE_TABLES = ("preprocess", "denoise", "align", "reconstruct", "segment", "measure", "edx")

#: Columns of particles.csv and pairs.csv: the records' own (:mod:`insitu4d.measure.records`).
PARTICLE_COLUMNS = Particle.columns()
PAIR_COLUMNS = Pair.columns()


@dataclass
class RunParameters:
    """Every parameter of :func:`run_tilt_series` (all recorded in ``run.json``), each belonging to one stage.

    An experiment file sets them in one table per stage (:data:`STAGE_TABLES`;
    :meth:`stage_fields`): ``[preprocess]`` background_offset, bin_factor; ``[denoise]``
    denoise_*; ``[align]`` align, align_method, align_sigma_px, search_tilt_axis,
    max_rotation_deg, tilt_axis_deg; ``[reconstruct]`` method, iterations, filter_name,
    tv_weight, thickness_px, backend, temporal_prior, temporal_prior_share; ``[segment]``
    seed_from_previous and the fields of :class:`~insitu4d.segment.SegmentationParameters`;
    ``[measure]`` neck_fit; ``[acquisition]`` pixel_size_nm, tilts_unit. Each stage checks its own settings, as
    its own record: :attr:`preprocessing` (:class:`~insitu4d.preprocess.PreprocessParameters`),
    :attr:`denoising` (:class:`~insitu4d.denoise.DenoiseParameters`), :attr:`alignment`
    (:class:`~insitu4d.align.AlignmentParameters`), :attr:`reconstruction`
    (:class:`~insitu4d.recon.ReconstructionParameters`) and ``segmentation``.

    Attributes
    ----------
    pixel_size_nm : float or None
        Overrides the file's calibration.
    tilts_unit : {"deg", "rad"}
        Unit of the tilt angles in the tilt file or metadata. Angles that look like radians
        (all within ±π/2 and spanning less than 3.2) stop the run unless this is "rad"
        (:func:`insitu4d.io.read_tilt_series`).
    tilt_axis_deg : float or "auto"
        In-plane direction of the tilt axis (from image y, counter-clockwise); "auto" detects
        0° or 90° from the data.
    background_offset : float or None
        Detector offset; None estimates it per image.
    bin_factor : int
        Pixel binning before alignment.
    denoise_method : {"tv", "nlm", "wavelet", "gaussian", "bm3d"} or None
        Denoise the images before alignment (:func:`insitu4d.denoise.denoise`, on
        Anscombe-stabilised counts unless ``denoise_vst="none"``); None skips it. Whole
        detected counts are denoised before the background is subtracted (the Poisson
        model holds for them), other data after it.
    denoise_strength : float or "auto"
        In noise SDs; "auto" calibrates it on the data, by Poisson thinning when
        they are whole counts, else by J-invariance (:func:`insitu4d.denoise.calibrate`; no
        reference exists in a run). The strength chosen, its strategy and the data it
        was applied to are recorded in ``run.json``.
    denoise_vst : {"anscombe", "none"}
    align : bool
        Register the images; ``search_tilt_axis`` also finds the axis offset and rotation.
    align_method : {"xcorr", "mi", "com"}
        Image registration (:func:`insitu4d.align.align_tilt_series`).
    align_sigma_px : float or "auto"
        Smoothing scale of the registration; "auto" grows it at low counts.
    method, iterations, filter_name, tv_weight, thickness_px, backend, region
        Reconstruction (:func:`insitu4d.recon.reconstruct`): ``method="auto"`` chooses it
        from the tilt range, the number of tilts and the noise, ``iterations=None`` takes
        the method's default, ``tv_weight="auto"`` the discrepancy principle on the noise
        (Poisson thinning of the counts when the file holds whole counts);
        ``backend="auto"`` uses a GPU when one is usable; ``region="auto"`` iterates only in
        the box that holds the sample when the field is large (:mod:`insitu4d.recon.region`).
    segmentation : SegmentationParameters
    seed_from_previous : bool
        4D runs: segment each time point from the particles of the one before
        (:func:`run_tilt_series` ``previous_labels``), so that identities survive deep necks.
    temporal_prior : bool
        4D runs: reconstruct each time point with the previous one's volume as a prior
        (:func:`run_tilt_series` ``previous_volume``; TV with a PICCS term,
        :mod:`insitu4d.recon.prior`). The method is then TV; ``method="auto"`` means TV
        for every time point, the first included.
    temporal_prior_share : float
        α in [0, 1]: the share of the TV weight on the change since the prior.
    neck_fit : bool
        Fit each pair's neck to the tilt series (:func:`insitu4d.neck_fit.refine_necks`):
        the fitted waist replaces the volume's reading where two spheres and a collar leave no
        more than the noise in the images; each fit is recorded in ``run.json`` (``neck_fits``).
    edx : {"auto", "off"}
        ``auto``: when the tilt series is one file per tilt and the files hold EDX spectrum
        images, reconstruct element volumes too (:mod:`insitu4d.pipeline.edx`).
    edx_lines : list of str or None
        X-ray lines (``["Fe_Ka", "O_K"]``); None: those the files' metadata lists.
    edx_method : {"separate", "fused"}
    edx_bin_factor : int or "auto"
        Binning of the X-ray maps beyond ``bin_factor``.
    edx_reference_line : str or None
        The line whose counts measure the detector shadowing per tilt; None: the rule of
        :mod:`insitu4d.pipeline.edx`.
    """

    pixel_size_nm: float | None = field(default=None, metadata={"stage": "acquisition"})
    tilts_unit: str = field(default="deg", metadata={"stage": "acquisition"})
    tilt_axis_deg: float | str = field(default="auto", metadata={"stage": "align"})
    background_offset: float | None = field(default=None, metadata={"stage": "preprocess"})
    bin_factor: int = field(default=1, metadata={"stage": "preprocess"})
    denoise_method: str | None = field(default=None, metadata={"stage": "denoise"})
    denoise_strength: float | str = field(default="auto", metadata={"stage": "denoise"})
    denoise_vst: str = field(default="anscombe", metadata={"stage": "denoise"})
    align: bool = field(default=True, metadata={"stage": "align"})
    search_tilt_axis: bool = field(default=True, metadata={"stage": "align"})
    max_rotation_deg: float = field(default=3.0, metadata={"stage": "align"})
    align_method: str = field(default="xcorr", metadata={"stage": "align"})
    align_sigma_px: float | str = field(default="auto", metadata={"stage": "align"})
    method: str = field(default="auto", metadata={"stage": "reconstruct"})
    iterations: int | None = field(default=None, metadata={"stage": "reconstruct"})
    filter_name: str = field(default="ramp", metadata={"stage": "reconstruct"})
    tv_weight: float | str = field(default="auto", metadata={"stage": "reconstruct"})
    thickness_px: int | None = field(default=None, metadata={"stage": "reconstruct"})
    backend: str = field(default="auto", metadata={"stage": "reconstruct"})
    region: str = field(default="auto", metadata={"stage": "reconstruct"})
    segmentation: SegmentationParameters = field(default_factory=SegmentationParameters,
                                                 metadata={"stage": "segment"})
    seed_from_previous: bool = field(default=True, metadata={"stage": "segment"})
    temporal_prior: bool = field(default=False, metadata={"stage": "reconstruct"})
    temporal_prior_share: float = field(default=PRIOR_SHARE, metadata={"stage": "reconstruct"})
    neck_fit: bool = field(default=True, metadata={"stage": "measure"})
    edx: str = field(default="auto", metadata={"stage": "edx"})
    edx_lines: list | None = field(default=None, metadata={"stage": "edx"})
    edx_method: str = field(default="separate", metadata={"stage": "edx"})
    edx_bin_factor: int | str = field(default="auto", metadata={"stage": "edx"})
    edx_reference_line: str | None = field(default=None, metadata={"stage": "edx"})

    def __post_init__(self) -> None:
        # each stage checks its own settings (its parameter class); the run checks what joins them
        require_positive(self.pixel_size_nm, "pixel_size_nm", "nm", optional=True)
        if self.tilts_unit not in TILT_UNITS:
            raise InvalidParameter(f"tilts_unit must be one of {', '.join(TILT_UNITS)}; got {self.tilts_unit!r}.")
        for name in ("align", "seed_from_previous", "temporal_prior", "neck_fit"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidParameter(f"{name} must be true or false; got {getattr(self, name)!r}.")
        if self.denoise_strength != "auto" and (isinstance(self.denoise_strength, (bool, str))
                                                or not isinstance(self.denoise_strength, (int, float))):
            raise InvalidParameter(f"denoise_strength must be 'auto' or a positive number of noise SDs; got "
                                   f"{self.denoise_strength!r}.")
        _ = self.preprocessing
        denoising = DenoiseParameters(self.denoise_method or DenoiseParameters.method,  # checked even when unused
                                      None if self.denoise_strength == "auto" else self.denoise_strength,
                                      self.denoise_vst)
        self.denoise_strength = "auto" if denoising.strength is None else denoising.strength
        self.tilt_axis_deg = self.alignment.tilt_axis_deg
        self.tv_weight = self.reconstruction.tv_weight
        if self.temporal_prior:
            check_reconstruction(method=self.method, prior=True, prior_share=self.temporal_prior_share)
        if self.edx not in ("auto", "off"):
            raise InvalidParameter(f"edx must be 'auto' (element volumes when the files hold spectrum images) or "
                                   f"'off'; got {self.edx!r}.")
        if isinstance(self.edx_lines, str):
            self.edx_lines = [t.strip() for t in self.edx_lines.split(",") if t.strip()]
        _ = self.edx_parameters

    @property
    def edx_parameters(self) -> EdxParameters:
        """The EDX stage's settings (:mod:`insitu4d.pipeline.edx`).

        Returns
        -------
        EdxParameters
        """
        return EdxParameters(None if self.edx_lines is None else tuple(self.edx_lines), self.edx_method,
                             self.edx_bin_factor, self.edx_reference_line)

    @property
    def preprocessing(self) -> PreprocessParameters:
        """The preprocessing stage's settings.

        Returns
        -------
        PreprocessParameters
        """
        return PreprocessParameters(self.background_offset, self.bin_factor)

    @property
    def denoising(self) -> DenoiseParameters | None:
        """The denoising stage's settings (None: no denoising).

        Returns
        -------
        DenoiseParameters or None
        """
        if self.denoise_method is None:
            return None
        return DenoiseParameters(self.denoise_method, None if self.denoise_strength == "auto"
                                 else self.denoise_strength, self.denoise_vst)

    @property
    def alignment(self) -> AlignmentParameters:
        """The alignment stage's settings (used when ``align`` is true).

        Returns
        -------
        AlignmentParameters
        """
        return AlignmentParameters(self.tilt_axis_deg, self.search_tilt_axis, self.max_rotation_deg,
                                   self.align_method, self.align_sigma_px)

    @property
    def reconstruction(self) -> ReconstructionParameters:
        """The reconstruction stage's settings; with the temporal prior, "auto" means TV.

        Returns
        -------
        ReconstructionParameters
        """
        method = "tv" if self.temporal_prior and self.method == "auto" else self.method
        return ReconstructionParameters(method, self.iterations, self.filter_name, self.tv_weight,
                                        self.thickness_px, self.backend, self.temporal_prior_share, self.region)

    def to_dict(self) -> dict:
        """Every parameter, the segmentation's as a nested dict (for ``run.json``).

        Returns
        -------
        dict
        """
        return asdict(self)

    @classmethod
    def stage_fields(cls, stage: str) -> list[str]:
        """The fields that belong to one stage: the keys of its table in an experiment file.

        Parameters
        ----------
        stage : str
            One of :data:`STAGE_TABLES` or ``"acquisition"``.

        Returns
        -------
        list of str
        """
        return [f.name for f in fields(cls) if f.metadata.get("stage") == stage and f.name != "segmentation"]


def _recon_key(ts: TiltSeries, params: RunParameters, noise: dict, prior_sha256: str | None = None) -> str:
    """Identity of a reconstruction: the aligned tilt series it is made from, its parameters, the
    noise level the automatic choices are made from, and the prior volume's checksum."""
    relevant = {k: v for k, v in params.to_dict().items() if k != "segmentation"}
    h = hashlib.sha256(np.ascontiguousarray(ts.data, dtype=np.float32).tobytes())
    h.update(ts.tilts_deg.tobytes())
    h.update(json.dumps({"params": relevant, "noise": noise, "prior": prior_sha256, "version": __version__},
                        sort_keys=True, default=str).encode())
    return h.hexdigest()


def run_tilt_series(input_path, outdir, *, tilts=None, params: RunParameters | None = None,
                    progress: Callable[[str, int, int], None] | None = None, figures: bool = True,
                    previous_labels=None, previous_volume=None, edx=None,
                    until: str | None = None) -> TimePointResult | None:
    """Run the main job on one tilt series and write every output to ``outdir``.

    Outputs: ``volume.h5`` and ``labels.h5`` (dataset ``/data``, (z, y, x), attributes
    ``voxel_size_nm`` and, in 4D, ``coalescing``: pairs of labels read as coalesced for
    the first time, which the next time point joins if it reads the same),
    ``aligned_tilt_series.h5`` ((tilt, y, x) as reconstructed, attributes ``pixel_size_nm`` and
    ``tilts_deg``), ``particles.csv``, ``pairs.csv``, ``measurements.json``, ``orthoslices.png``
    and ``run.json`` (software version, every parameter, absolute input paths and SHA-256,
    alignment, reprojection residual, stage timings, output list, and the run's provenance:
    command line, start and end, host, CPU, GPU, library versions, git commit, random seeds).

    Parameters
    ----------
    input_path : str or Path
        Tilt-series file (see :func:`insitu4d.io.read_tilt_series`).
    outdir : str or Path
    tilts : str, Path or array_like, optional
        Tilt file or angles in degrees.
    params : RunParameters, optional
    progress : callable(stage, done, total), optional
        Called as stages start (done = 0) and finish (done = total), and per SIRT iteration.
    figures : bool
        Draw ``orthoslices.png`` (the twin's error-bar repeats go without).
    previous_labels : str or Path, optional
        ``labels.h5`` of the previous time point of a 4D series: its particles seed the
        segmentation (:func:`insitu4d.segment.segment`), so that identities survive deep
        necks; recorded with its checksum.
    previous_volume : str or Path, optional
        ``volume.h5`` of the previous time point: with ``params.temporal_prior`` the
        reconstruction's prior (:func:`insitu4d.recon.reconstruct` ``prior``); recorded with
        its checksum. Ignored, with the reason in ``run.json``, on another grid.
    edx : str or Path, optional
        A folder or glob of EDX spectrum-image files, one per tilt, recorded beside the HAADF
        series (files named by their tilt, or in natural order): element volumes
        (:mod:`insitu4d.pipeline.edx`). Without it, the tilt series' own files are used
        when they hold spectrum images (Bruker ``.bcf``).
    until : {"reconstruct"}, optional
        Stop after this stage: ``volume.h5`` is written (and reused by a later full run with
        the same aligned tilt series and parameters), nothing else; no ``run.json``. A 4D run
        on a cluster reconstructs its time points this way in parallel before segmenting them
        in order (:mod:`insitu4d.pipeline.cluster`).

    Returns
    -------
    TimePointResult or None
        Its :meth:`~insitu4d.pipeline.result.TimePointResult.to_dict` is ``run.json``; None
        with ``until``.

    Raises
    ------
    UnreadableFile, MissingTiltAngles, TiltAngleMismatch, InvalidTiltAngles, MissingPixelSize,
    InvalidPixelValues, NotAStack, InvalidParameter
    """
    params = params or RunParameters()
    if until not in (None, "reconstruct"):
        raise InvalidParameter(f"until must be None or 'reconstruct'; got {until!r}.")
    # BLAS on one thread throughout: a multi-threaded BLAS sums (dot products, norms) in an order set by its
    # thread count, and a time point on a dask worker (whose BLAS gets cores / workers threads) must give the
    # same bytes as inline. The neck fits moved by ~1e-4 with BLAS on 2 threads; with only the measurement held
    # to one thread, the twin's 18 time points on 16 one-thread workers differed from inline on 16 cores, while
    # 16 workers on 2 cores and Numba on 16 threads against 1 gave the same bytes. The heavy work runs in Numba
    # and CuPy kernels, which do not use BLAS.
    with output_folder(outdir, "run.json") as folder, threadpool_limits(limits=1, user_api="blas"):
        return _run_tilt_series(input_path, folder, tilts=tilts, params=params, progress=progress, figures=figures,
                                previous_labels=previous_labels, previous_volume=previous_volume, edx=edx,
                                until=until)


def _run_tilt_series(input_path, outdir: Path, *, tilts, params: RunParameters, progress, figures: bool,
                     previous_labels, previous_volume, edx=None, until=None) -> TimePointResult | None:
    """:func:`run_tilt_series` in a folder it holds."""
    report = progress or (lambda stage, done, total: None)
    timings: dict[str, float] = {}
    environment = current_environment()

    def stage(name):
        class _Stage:
            def __enter__(self):
                self.t0 = time.perf_counter()
                report(name, 0, 1)
                return self

            def __exit__(self, exc_type, *_):
                if exc_type is None:
                    timings[name] = round(time.perf_counter() - self.t0, 3)
                    report(name, 1, 1)
                return False
        return _Stage()

    with stage("read"):
        ts = read_tilt_series(input_path, tilts=tilts, pixel_size_nm=params.pixel_size_nm,
                              tilts_unit=params.tilts_unit)
        raw_shape = ts.shape
        inputs = {"tilt_series": InputFile.of(input_path)}
        spectrum_files = _spectrum_files(ts, params, edx, inputs)
        if spectrum_files:  # lines and energy windows checked now, not after the reconstruction
            check_edx_lines(spectrum_files, params.edx_parameters)
        dose = tilt_series_dose(ts)
        tilt_file = _tilt_file(tilts, ts.raw_metadata.get("tilts_source"))
        if tilt_file is not None:  # given, or the sidecar found beside the stack
            inputs["tilts"] = InputFile.of(tilt_file)
    with stage("preprocess"):
        denoise_info = None
        counts = looks_like_counts(ts.data)
        # the noise of whole counts, by thinning them; denoising changes the noise, so then it is estimated later
        difference = ts.replace(data=thinned_difference(ts.data, np.random.default_rng(THINNING_SEED))) \
            if counts and params.denoise_method is None else None
        if params.denoise_method is not None and params.denoise_vst == "anscombe" and counts:
            # Poisson noise lives on the detected counts: denoise them (calibrated by thinning)
            # before the vacuum level is subtracted, which would leave fractions and negatives
            ts, denoise_info = _denoise(ts, params, "detected counts, before background removal")
        ts = remove_background(ts, offset=params.preprocessing.background_offset)
        counts_per_pixel = signal_counts(ts.data) if counts else None
        if params.denoise_method is not None and denoise_info is None:
            ts, denoise_info = _denoise(ts, params, "background-subtracted images")
        ts = normalise(bin_tilt_series(ts, params.preprocessing.bin_factor))
        if difference is not None:  # the same linear steps (a vacuum level cancels in a difference)
            difference = bin_tilt_series(difference, params.preprocessing.bin_factor).data / ts.intensity_scale
    with stage("align"):
        if params.align:
            ts, alignment = align_tilt_series(ts, **params.alignment.kwargs())
            difference = None if difference is None else apply_alignment(difference, alignment)
        else:
            axis = 0.0 if params.tilt_axis_deg == "auto" else params.tilt_axis_deg
            ts = rotate_to_vertical_axis(ts.replace(tilt_axis_deg=axis))
            alignment = None
            difference = None if difference is None else rotate_images(difference, axis)
        noise = noise_level(ts.data, difference=difference)
    prior = _prior_volume(previous_volume, ts, params, inputs) if params.temporal_prior else None
    key = _recon_key(ts, params, noise.to_dict(), inputs["previous_volume"].sha256 if "previous_volume" in inputs
                     else None)
    volume_path = outdir / "volume.h5"
    with stage("reconstruct"):
        volume = _cached_volume(volume_path, key)
        resumed = volume is not None
        if volume is None:
            volume = reconstruct(ts, **params.reconstruction.kwargs(), noise=noise, prior=prior,
                                 progress=lambda i, n: report("reconstruct", i, n + 1))
            write_array(volume_path, volume.data, attrs={
                "voxel_size_nm": volume.voxel_size_nm, "axes": "z,y,x", "units": "nm",
                "provenance": volume.provenance, "run_key": key})
        if until == "reconstruct":
            return None
        residual = reprojection_residual(volume, ts, backend=params.backend)
    with stage("segment"):
        previous, coalescing = None, ()
        if previous_labels is not None:
            previous, previous_attrs = read_array(previous_labels)
            coalescing = previous_attrs.get("coalescing", ())
            inputs["previous_labels"] = InputFile.of(previous_labels)
            if previous.shape != volume.shape:  # another field or binning: no seeds, said in run.json
                inputs["previous_labels"] = dataclasses.replace(
                    inputs["previous_labels"], unused=f"shape {list(previous.shape)} differs from the volume's")
                previous = None
        labels, seg_info = segment(volume, params.segmentation, previous=previous, coalescing=coalescing)
    with stage("measure"):
        measurements = measure(labels, volume.voxel_size_nm)
        neck_fits = ()
        if params.neck_fit:
            measurements, neck_fits = refine_necks(measurements, labels, volume.data, ts.data, ts.tilts_deg,
                                                   noise_variance(ts.data, difference=difference),
                                                   edge_px=_shift_margins(ts), backend=params.backend,
                                                   coalescing=seg_info.get("coalescing", ()))
        resolution_vox, *neck_resolution = edge_widths_vox(volume.data, labels > 0,
                                                           [None, *(p.neck_normal for p in measurements.pairs)])
        flags = [*check_tilts(ts.tilts_deg), *check_counts(counts_per_pixel, volume.provenance["method"]),
                 *(check_alignment(alignment.direction_residuals) if alignment is not None else []),
                 *check_residual(residual, noise.relative),
                 *check_field_of_view(ts.data, margin_px=_shift_margins(ts)[1]),
                 *check_particles(labels),
                 *check_pairs(measurements.pairs, volume.voxel_size_nm, neck_resolution, tilts_deg=ts.tilts_deg,
                              fitted=[f.labels for f in neck_fits if f.accepted])]
    edx_record = None
    if spectrum_files:
        with stage("edx"):
            edx_record = run_edx(spectrum_files, ts.data, alignment, preprocess_bin=params.preprocessing.bin_factor,
                                 haadf_shape=tuple(raw_shape[1:]),
                                 tilt_axis_deg=0.0 if params.tilt_axis_deg == "auto" else float(params.tilt_axis_deg),
                                 pixel_size_nm=ts.pixel_size_nm, tilts_deg=ts.tilts_deg, nz_haadf=volume.shape[0],
                                 labels=labels, outdir=outdir, params=params.edx_parameters,
                                 haadf_volume=volume.data, figures=figures)
    with stage("write"):
        write_array(outdir / "labels.h5", labels, attrs={"voxel_size_nm": volume.voxel_size_nm, "axes": "z,y,x",
                                                         "coalescing": seg_info.get("coalescing", [])})
        write_array(outdir / "aligned_tilt_series.h5", ts.data, attrs={
            "pixel_size_nm": ts.pixel_size_nm, "tilts_deg": ts.tilts_deg.tolist(), "axes": "tilt,y,x",
            "units": "nm", "frame": "aligned: tilt axis along y through the image centre"})
        write_csv(outdir / "particles.csv", [p.to_row() for p in measurements.particles], PARTICLE_COLUMNS)
        write_csv(outdir / "pairs.csv", [p.to_row() for p in measurements.pairs], PAIR_COLUMNS)
        write_json(outdir / "measurements.json", measurements.to_dict())
        if figures:
            save_orthoslices(outdir / "orthoslices.png", volume.data, volume.voxel_size_nm, labels=labels,
                             centre_vox=_figure_centre(labels),
                             title=f"{Path(input_path).name}: {volume.provenance['method'].upper()}")
    result = TimePointResult(
        software_version=__version__, inputs=inputs, parameters=params,
        tilt_series=TiltSeriesRecord(
            shape=tuple(ts.shape), pixel_size_nm=ts.pixel_size_nm, tilts_deg=tuple(ts.tilts_deg.tolist()),
            tilts_source=ts.raw_metadata.get("tilts_source"),
            pixel_size_source=ts.raw_metadata.get("pixel_size_source"),
            background_offsets=next((tuple(s.parameters["offsets"]) for s in ts.steps("remove_background")), None),
            intensity_scale=ts.intensity_scale if ts.steps("normalise") else None,
            history=tuple(s.to_dict() for s in ts.history if s.name != "remove_background"),
            missing_metadata=tuple(ts.missing_metadata()),
            acquisition={name: getattr(ts, name) for name in ACQUISITION_SETTINGS}),
        dose=dose, noise=noise, denoise=denoise_info, alignment=alignment, reconstruction=dict(volume.provenance),
        resumed_from_volume_h5=resumed, reprojection_residual=residual, segmentation=dict(seg_info),
        resolution_vox=resolution_vox, counts_per_pixel=counts_per_pixel, quality_flags=tuple(flags),
        neck_fits=tuple(f.to_dict() for f in neck_fits),
        n_particles=len(measurements.particles), n_pairs=len(measurements.pairs), timings_s=timings,
        provenance=environment.finished(noise_thinning=THINNING_SEED),
        edx=None if edx_record is None else edx_record.to_dict(),
        outputs=tuple(sorted(["aligned_tilt_series.h5", "volume.h5", "labels.h5", "particles.csv", "pairs.csv",
                              "measurements.json",
                              "run.json", *(["orthoslices.png"] if figures else []),
                              *(edx_record.outputs if edx_record is not None else [])])))
    write_json(outdir / "run.json", result.to_dict())
    return result


def _spectrum_files(ts: TiltSeries, params: RunParameters, edx, inputs: dict) -> list | None:
    """The EDX spectrum-image files of a run in tilt order: those given (recorded in ``inputs``), else the tilt
    series' own when they hold spectrum images, else None."""
    if edx is not None:
        if params.edx == "off":
            raise InvalidParameter("an EDX series was given with edx = 'off'; drop one of them.")
        inputs["edx"] = InputFile.of(edx)
        return edx_files_for(edx, ts.tilts_deg)
    files = ts.raw_metadata.get("files") if params.edx == "auto" else None
    return files if files and holds_spectrum_images(files) else None


def _tilt_file(tilts, source) -> Path | None:
    """The tilt file a run read its angles from: the one given, else the sidecar it found (None: metadata, array)."""
    if isinstance(tilts, (str, Path)):
        return Path(tilts)
    if tilts is None and source and Path(source).is_file():
        return Path(source)
    return None


def _prior_volume(path, ts: TiltSeries, params: RunParameters, inputs: dict) -> Volume | None:
    """The previous time point's volume as a temporal prior, when it lies on this run's grid (noted in ``inputs``)."""
    if path is None:
        return None
    data, attrs = read_array(path)
    inputs["previous_volume"] = InputFile.of(path)
    shape = (int(params.thickness_px or ts.shape[2]), ts.shape[1], ts.shape[2])
    if data.shape != shape:  # another field, binning or thickness: reconstructed without a prior
        inputs["previous_volume"] = dataclasses.replace(
            inputs["previous_volume"], unused=f"shape {list(data.shape)} differs from this volume's {list(shape)}")
        return None
    return Volume(data, float(attrs.get("voxel_size_nm", ts.pixel_size_nm)), attrs.get("provenance") or {})


def _shift_margins(ts: TiltSeries) -> tuple[int, int]:
    """Rows and columns at the image edges that alignment may have filled with zeros (the largest shifts)."""
    if ts.shifts_px is None:
        return 0, 0
    largest = np.max(np.abs(np.asarray(ts.shifts_px, float)), axis=0)
    return int(np.ceil(largest[0])) + 1, int(np.ceil(largest[1])) + 1


def _denoise(ts: TiltSeries, params: RunParameters, applied_to: str) -> tuple[TiltSeries, dict]:
    """Denoising (in preprocessing), strength given or calibrated on the data; the record for run.json."""
    t0 = time.perf_counter()
    settings = params.denoising
    data, record = denoise_calibrated(ts.data, settings.method, settings.strength, vst=settings.vst)
    return ts.replace(data=data), dict(record, applied_to=applied_to, time_s=round(time.perf_counter() - t0, 3))


def _cached_volume(path: Path, key: str) -> Volume | None:
    if not path.is_file():
        return None
    try:
        data, attrs = read_array(path)
    except Exception:  # an unreadable old file is simply rebuilt
        return None
    if attrs.get("run_key") != key:
        return None
    return Volume(data, attrs["voxel_size_nm"], attrs.get("provenance") or {})


def _figure_centre(labels: np.ndarray) -> tuple[int, int, int] | None:
    """Slice through the centroid of the largest particle, if any."""
    if labels.max() == 0:
        return None
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    idx = np.argwhere(labels == int(np.argmax(sizes)))
    return tuple(int(v) for v in idx.mean(axis=0).round())


def finished_measurements(outdir, stack, params: dict, previous_labels=None, previous_volume=None,
                          tilts=None, edx=None) -> Measurements | None:
    """The measurements of a finished :func:`run_tilt_series` in ``outdir`` with the same inputs and parameters.

    Returns None unless ``outdir/run.json`` was written by this version of insitu4d and
    records the SHA-256 of ``stack``, of the tilt file (``tilts``, else the sidecar the run
    found; unchanged), of ``previous_labels`` and ``previous_volume`` (or none when they are
    None), and exactly ``params`` (as :meth:`RunParameters.to_dict`); this is how an
    interrupted 4D run resumes without reusing anything that would be computed differently
    today.

    Parameters
    ----------
    outdir : str or Path
        A time point's folder.
    stack : str or Path
        Its tilt-series file.
    params : dict
        :meth:`RunParameters.to_dict` of the parameters it would run with.
    previous_labels, previous_volume : str or Path, optional
        The previous time point's ``labels.h5`` and ``volume.h5`` it would be given.
    tilts : str or Path, optional
        The tilt file it would be given.
    edx : str or Path, optional
        The EDX series it would be given.

    Returns
    -------
    Measurements or None
        Read back from ``measurements.json``, or None when the time point must be run.
    """
    outdir, stack = Path(outdir), Path(stack)
    run_json, meas = outdir / "run.json", outdir / "measurements.json"
    if not (run_json.is_file() and meas.is_file()):
        return None
    try:
        run = TimePointResult.load(run_json)
        recorded_tilts = run.inputs.get("tilts")
        tilt_file = tilts if tilts is not None else (recorded_tilts.path if recorded_tilts else None)
        same_input = (run.software_version == __version__ and run.inputs["tilt_series"].same_content(stack)
                      and _same_file(recorded_tilts, tilt_file))
        same_previous = all(_same_file(run.inputs.get(name), path) for name, path in
                            (("previous_labels", previous_labels), ("previous_volume", previous_volume),
                             ("edx", edx)))
        same_params = json.loads(json.dumps(run.parameters.to_dict(), default=str)) == \
            json.loads(json.dumps(params, default=str))
        if same_input and same_previous and same_params:
            return Measurements.load(meas)
    except (UnreadableFile, KeyError, ValueError, TypeError, OSError):
        return None
    return None


def _same_file(recorded: InputFile | None, path) -> bool:
    """Whether a run's input record and ``path`` (or None) name the same content."""
    if path is None:
        return recorded is None
    return recorded is not None and recorded.same_content(path)
