"""The ``insitu4d`` command: parses, calls the library, prints. No algorithms here."""

from __future__ import annotations

import json
from enum import Enum
from importlib.resources import files
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from . import __version__
from .errors import Insitu4dError, InvalidParameter

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="insitu4d: in situ electron tomography of nanoparticles, from tilt series to measured necks.")
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)  # no hard wrapping: output is often piped or parsed


class Method(str, Enum):
    auto = "auto"
    fbp = "fbp"
    sirt = "sirt"
    sart = "sart"
    cgls = "cgls"
    tv = "tv"
    asd_pocs = "asd-pocs"


class Backend(str, Enum):
    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"
    astra = "astra"


BACKEND_HELP = "Projector backend; 'auto' uses a GPU (CuPy) when one is usable."
#: Reconstruction options shared by ``run`` and ``reconstruct``.
METHOD_OPTION = typer.Option(Method.auto, "--method",
                             help="Reconstruction method; 'auto' chooses from the tilts and the noise.")
ITERATIONS_OPTION = typer.Option(None, "--iterations",
                                 help="Iterations of the iterative methods (default: the method's).")
TV_WEIGHT_OPTION = typer.Option("auto", "--tv-weight",
                                help="TV: regularisation weight, or 'auto' (discrepancy principle).")


class Filter(str, Enum):
    ramp = "ramp"
    shepp_logan = "shepp-logan"
    hann = "hann"


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {type(exc).__name__}: {escape(str(exc))}")
    raise typer.Exit(code=2)


class AlignMethod(str, Enum):
    xcorr = "xcorr"
    mi = "mi"
    com = "com"


class DriftMethod(str, Enum):
    xcorr = "xcorr"
    mi = "mi"


class DenoiseMethod(str, Enum):
    tv = "tv"
    nlm = "nlm"
    wavelet = "wavelet"
    gaussian = "gaussian"
    bm3d = "bm3d"


class _StageProgress:
    """Rich progress bars, one per pipeline stage."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description:<12}"), BarColumn(),
                                 TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), console=console)
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)


def _tilt_axis(value: str) -> float | str:
    return value if value == "auto" else float(value)


def _auto_or_number(value: str, name: str) -> float | str:
    if value == "auto":
        return value
    try:
        return float(value)
    except ValueError:
        raise typer.BadParameter(f"{name} takes 'auto' or a number; got {value!r}.") from None


@app.command()
def info(path: Path = typer.Argument(..., help="Tilt-series file (MRC, DM3/DM4, EMD, SER, TIFF)."),
         tilts: Optional[Path] = typer.Option(None, "--tilts", help="Tilt file (.rawtlt/.tlt/.mdoc/.csv)."),
         pixel_size: Optional[float] = typer.Option(None, "--pixel-size", help="Pixel size in nm."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print shape, tilts, pixel size, dose-relevant metadata and what is missing."""
    from .io.readers import describe_file

    try:
        d = describe_file(path, tilts=tilts, pixel_size_nm=pixel_size)
    except Insitu4dError as exc:
        _fail(exc)
    if as_json:
        out.print_json(json.dumps(d))
        return
    out.print(f"[bold]{path}[/]  shape (tilt, y, x) = {tuple(d['shape'])}  dtype {d.get('dtype')}")
    if d.get("tilts_deg"):
        t = d["tilts_deg"]
        out.print(f"tilts: {len(t)} from {min(t):g}° to {max(t):g}° (from {d.get('tilts_source')})")
    px = d.get("pixel_size_nm")
    out.print(f"pixel size: {px:g} nm (from {d.get('pixel_size_source')})" if px else "pixel size: unknown")
    for key in ("beam_energy_keV", "probe_current_pA", "dwell_time_s", "frame_time_s", "holder_temperature_C"):
        if d.get(key) is not None:
            out.print(f"{key}: {d[key]:g}")
    for key, how in d.get("missing", {}).items():
        out.print(f"[yellow]missing[/] {key}: {how}")


@app.command()
def run(input_path: Path = typer.Argument(..., metavar="INPUT",
                                         help="Tilt-series file, or an experiment description (.toml) for 4D."),
        output: Path = typer.Option(Path("insitu4d_output"), "-o", "--output", help="Output folder."),
        tilts: Optional[Path] = typer.Option(None, "--tilts", help="Tilt file (.rawtlt/.tlt/.mdoc/.csv)."),
        pixel_size: Optional[float] = typer.Option(None, "--pixel-size", help="Pixel size in nm."),
        tilt_axis: str = typer.Option("auto", "--tilt-axis-deg", help="Tilt-axis direction from image y, or 'auto'."),
        method: Method = METHOD_OPTION,
        iterations: Optional[int] = ITERATIONS_OPTION,
        tv_weight: str = TV_WEIGHT_OPTION,
        backend: Backend = typer.Option(Backend.auto, "--backend", help=BACKEND_HELP),
        bin_factor: int = typer.Option(1, "--bin", help="Bin pixels by this factor first."),
        denoise: Optional[DenoiseMethod] = typer.Option(
            None, "--denoise",
            help="Denoise first, strength calibrated on the data (Poisson thinning of counts, else J-invariance)."),
        align_method: AlignMethod = typer.Option(AlignMethod.xcorr, "--align-method", help="Image registration."),
        no_align: bool = typer.Option(False, "--no-align", help="Skip alignment (data already aligned).")) -> None:
    """Tilt series to volume, labels, particles.csv, pairs.csv and run.json; an EXPERIMENT.toml to
    every time point, tracked particles and pairs_timeseries.csv (the options then come from the file)."""
    from .pipeline import RunParameters, run_tilt_series

    if input_path.suffix.lower() == ".toml":
        _run_experiment(input_path, output)
        return
    try:
        params = RunParameters(pixel_size_nm=pixel_size, tilt_axis_deg=_tilt_axis(tilt_axis), method=method.value,
                               iterations=iterations, tv_weight=_auto_or_number(tv_weight, "--tv-weight"),
                               backend=backend.value,
                               bin_factor=bin_factor, align=not no_align,
                               denoise_method=denoise.value if denoise is not None else None,
                               align_method=align_method.value)
        with _StageProgress() as progress:
            result = run_tilt_series(input_path, output, tilts=tilts, params=params, progress=progress)
    except (Insitu4dError, ValueError) as exc:
        _fail(exc)
    recon = result["reconstruction"]
    chosen = f"{recon['method'].upper()}" + (f" (weight {recon['tv_weight']:.3g})" if "tv_weight" in recon else "")
    out.print(f"{result['n_particles']} particle(s), {result['n_pairs']} touching pair(s); {chosen}; "
              f"reprojection residual {result['reprojection_residual']:.4f}")
    _warn(result["quality_flags"])
    out.print(f"outputs in [bold]{output}[/]: {', '.join(result['outputs'])}")


def _warn(flags: list[dict]) -> None:
    """Print quality flags as warnings (the run still succeeded)."""
    for f in flags:
        console.print(f"[bold yellow]warning[/] [{f['code']}] {escape(f['message'])} {escape(f['advice'])}")


def _run_experiment(path: Path, output: Path) -> None:
    from .pipeline import read_experiment, run_experiment

    try:
        experiment = read_experiment(path)
        with _StageProgress() as progress:
            summary = run_experiment(experiment, output, progress=progress)
    except (Insitu4dError, ValueError) as exc:
        _fail(exc)
    resumed = sum(t["resumed"] for t in summary["time_points"])
    for code, points in summary["quality_flags"].items():
        first = next(f for t in summary["time_points"] for f in t["quality_flags"] if f["code"] == code)
        _warn([dict(first, message=f"{first['message']} (time points {', '.join(points)})")])
    out.print(f"{len(summary['time_points'])} time point(s) ({resumed} resumed), {summary['n_tracks']} particle "
              f"track(s), {summary['n_pairs']} pair(s), {len(summary['events'])} event(s)")
    out.print(f"outputs in [bold]{output}[/]: {', '.join(summary['outputs'])}")
    out.print(f"report: [bold]{(output / 'report.html').resolve()}[/]")


@app.command()
def simulate(experiment_path: Path = typer.Argument(..., metavar="EXPERIMENT", help="Experiment description (.toml)."),
             output: Path = typer.Option(..., "-o", "--output", help="Folder for the twin's tilt series.")) -> None:
    """Write the digital twin's tilt series (T01.mrc + T01.rawtlt, …) and truth.csv."""
    from .pipeline import read_experiment
    from .simulate import write_twin

    try:
        experiment = read_experiment(experiment_path)
        if experiment.twin is None:
            raise InvalidParameter(f"{experiment_path.name} has no [simulation] table: nothing to simulate.")
        result = write_twin(experiment.twin, output)
    except (Insitu4dError, ValueError) as exc:
        _fail(exc)
    out.print(f"{len(result['tilt_series'])} tilt series and truth.csv in [bold]{output}[/]")


@app.command()
def reconstruct(tilt_series: Path = typer.Argument(..., metavar="TILTSERIES"),
                output: Path = typer.Option(..., "-o", "--output", help="Volume (.tif or .h5), (z, y, x) float32."),
                tilts: Optional[Path] = typer.Option(None, "--tilts"),
                pixel_size: Optional[float] = typer.Option(None, "--pixel-size", help="Pixel size in nm."),
                method: Method = METHOD_OPTION,
                iterations: Optional[int] = ITERATIONS_OPTION,
                tv_weight: str = TV_WEIGHT_OPTION,
                backend: Backend = typer.Option(Backend.auto, "--backend", help=BACKEND_HELP),
                filter_name: Filter = typer.Option(Filter.ramp, "--filter", help="FBP filter."),
                tilt_axis: str = typer.Option("auto", "--tilt-axis-deg"),
                no_align: bool = typer.Option(False, "--no-align", help="Skip alignment (data already aligned)."),
                thickness: Optional[int] = typer.Option(None, "--thickness-px", help="Volume size along z.")) -> None:
    """Reconstruct a volume (background removal, optional alignment, then FBP, SIRT, SART, CGLS, TV or ASD-POCS)."""
    from .align import align_tilt_series
    from .io import read_tilt_series, write_array
    from .preprocess import normalise, remove_background, rotate_to_vertical_axis
    from .recon import reconstruct as recon

    try:
        ts = normalise(remove_background(read_tilt_series(tilt_series, tilts=tilts, pixel_size_nm=pixel_size)))
        axis = _tilt_axis(tilt_axis)
        if no_align:
            ts = rotate_to_vertical_axis(ts.replace(tilt_axis_deg=0.0 if axis == "auto" else axis))
        else:
            ts, _ = align_tilt_series(ts, tilt_axis_deg=axis)
        with _StageProgress() as progress:
            vol = recon(ts, method=method.value, iterations=iterations, filter_name=filter_name.value,
                        thickness_px=thickness, tv_weight=_auto_or_number(tv_weight, "--tv-weight"),
                        backend=backend.value,
                        progress=lambda i, n: progress("reconstruct", i, n))
        write_array(output, vol.data, attrs={"voxel_size_nm": vol.voxel_size_nm, "axes": "z,y,x",
                                             "provenance": vol.provenance})
    except (Insitu4dError, ValueError) as exc:
        _fail(exc)
    out.print(f"volume {vol.shape} (z, y, x), voxel {vol.voxel_size_nm:g} nm -> {output}")





@app.command()
def align(tilt_series: Path = typer.Argument(..., metavar="TILTSERIES"),
          output: Path = typer.Option(..., "-o", "--output", help="Aligned tilt series (.mrc, with .rawtlt beside)."),
          tilts: Optional[Path] = typer.Option(None, "--tilts"),
          method: AlignMethod = typer.Option(AlignMethod.xcorr, "--method", help="Image registration."),
          pixel_size: Optional[float] = typer.Option(None, "--pixel-size", help="Pixel size in nm."),
          tilt_axis: str = typer.Option("auto", "--tilt-axis-deg"),
          json_path: Optional[Path] = typer.Option(None, "--json", help="Write the alignment (shifts, axis) here.")
          ) -> None:
    """Align a tilt series: background removal, registration (xcorr, mi or com), tilt-axis search, projection
    matching. The output has the tilt axis along y through the image centre."""
    from .align import align_tilt_series
    from .io import read_tilt_series, write_json, write_tilt_series
    from .preprocess import remove_background

    try:
        ts = remove_background(read_tilt_series(tilt_series, tilts=tilts, pixel_size_nm=pixel_size))
        aligned, info = align_tilt_series(ts, tilt_axis_deg=_tilt_axis(tilt_axis), method=method.value)
        write_tilt_series(output, aligned)
        if json_path is not None:
            write_json(json_path, {"input": str(tilt_series), **info.to_dict()})
    except Insitu4dError as exc:
        _fail(exc)
    rms = info.refinement_rms_px[-1] if info.refinement_rms_px else float("nan")
    out.print(f"{method.value}: tilt axis {info.tilt_axis_deg:g}° + {info.tilt_axis_rotation_deg:.2f}°, offset "
              f"{info.tilt_axis_offset_px:.2f} px, last projection-matching correction {rms:.2f} px RMS -> {output}")
    if json_path is not None:
        out.print(f"-> {json_path}")


@app.command()
def drift(movie: Path = typer.Argument(..., metavar="MOVIE", help="2D in situ movie (.tif, .h5 with /data)."),
          output: Path = typer.Option(..., "-o", "--output", help="Drift-corrected movie (.tif or .h5)."),
          method: DriftMethod = typer.Option(DriftMethod.xcorr, "--method", help="Image registration."),
          reference_frames: int = typer.Option(5, "--reference-frames", help="Recent frames in the reference."),
          json_path: Optional[Path] = typer.Option(None, "--json", help="Write the shifts and rejected frames here.")
          ) -> None:
    """Correct the drift of a movie: each frame registered to a reference of recent frames, outlier shifts
    rejected, then all frames registered again to their mean with the moving particles masked out."""
    from .align.movie import movie_drift
    from .io import read_array, write_array, write_json

    try:
        data, attrs = read_array(movie)
        corrected, info = movie_drift(data, method=method.value, reference_frames=reference_frames)
        write_array(output, corrected, attrs={**attrs, "drift": info.to_dict()})
        if json_path is not None:
            write_json(json_path, {"input": str(movie), **info.to_dict()})
    except Insitu4dError as exc:
        _fail(exc)
    span = info.shifts_px.max(axis=0) - info.shifts_px.min(axis=0)
    out.print(f"{method.value}: drift spans {span[0]:.1f} px (y), {span[1]:.1f} px (x); "
              f"{int(info.rejected.sum())} frame(s) rejected as outliers -> {output}")
    if json_path is not None:
        out.print(f"-> {json_path}")


def _read_stack(path: Path, tilts: Optional[Path]):
    """A TIFF/HDF5 stack as (data, None), or a tilt series file as (data, TiltSeries)."""
    from .io import read_array, read_tilt_series

    if path.suffix.lower() in (".tif", ".tiff", ".h5", ".hdf5"):
        return read_array(path)[0], None
    ts = read_tilt_series(path, tilts=tilts)
    return ts.data, ts


@app.command()
def denoise(input_path: Path = typer.Argument(..., metavar="INPUT", help="Tilt series or movie (MRC …, .tif, .h5)."),
            output: Path = typer.Option(..., "-o", "--output", help="Denoised stack (.mrc: tilt series; .tif, .h5)."),
            tilts: Optional[Path] = typer.Option(None, "--tilts"),
            method: DenoiseMethod = typer.Option(DenoiseMethod.tv, "--method"),
            strength: Optional[float] = typer.Option(None, "--strength", help="Skip the calibration; noise SDs."),
            reference: Optional[Path] = typer.Option(None, "--reference",
                                                     help="Calibrate against this (frame average)."),
            second: Optional[Path] = typer.Option(None, "--second-exposure",
                                                  help="Calibrate on an independent exposure of the same field."),
            vst: str = typer.Option("anscombe", "--vst", help="anscombe (counts) or none (Gaussian noise)."),
            gain: float = typer.Option(1.0, "--gain", help="Detector units per electron (anscombe)."),
            read_noise: float = typer.Option(0.0, "--read-noise", help="Read-noise SD, detector units (anscombe)."),
            offset: float = typer.Option(0.0, "--offset", help="Detector offset (anscombe)."),
            stack: bool = typer.Option(False, "--stack", help="Denoise the stack as one 3D image, not per frame.")
            ) -> None:
    """Denoise with the strength calibrated from the data (reference, second exposure, else Poisson thinning of
    counts or J-invariance); the
    parameters are printed and saved as OUTPUT.denoise.json."""
    from .denoise import denoise_calibrated
    from .io import write_array, write_json, write_tilt_series

    model = {"vst": vst, "gain": gain, "read_noise": read_noise, "offset": offset, "per_frame": not stack}
    try:
        data, ts = _read_stack(input_path, tilts)
        ref = _read_stack(reference, tilts)[0] if reference is not None and strength is None else None
        pair = _read_stack(second, tilts)[0] if second is not None and strength is None else None
        result, chosen = denoise_calibrated(data, method.value, strength, reference=ref, second_exposure=pair,
                                            **model)
        if ts is not None and output.suffix.lower() == ".mrc":
            write_tilt_series(output, ts.replace(data=result))
        else:
            write_array(output, result, attrs={"denoise": {k: v for k, v in chosen.items()
                                                          if k not in ("strengths", "losses")}})
        record = output.with_name(output.stem + ".denoise.json")
        write_json(record, {"input": str(input_path), "output": str(output), **chosen})
    except Insitu4dError as exc:
        _fail(exc)
    gain_txt = f", estimated PSNR gain {chosen['psnr_gain_db']:.1f} dB" if "psnr_gain_db" in chosen else ""
    out.print(f"{method.value}: strength {chosen['strength']:.3g} ({chosen['strategy']}){gain_txt} -> {output}")
    out.print(f"parameters: {record}")


@app.command()
def segment(volume: Path = typer.Argument(..., metavar="VOLUME", help="Volume (.tif or .h5 with /data)."),
            output: Path = typer.Option(..., "-o", "--output", help="Label volume (.tif or .h5)."),
            voxel_size: Optional[float] = typer.Option(None, "--voxel-size", help="Voxel size, nm (else the file's)."),
            threshold: Optional[float] = typer.Option(None, "--threshold", help="Grey level; default Otsu."),
            no_split: bool = typer.Option(False, "--no-split", help="Do not split touching particles.")) -> None:
    """Segment a volume into labelled particles split at their necks."""
    from .data import Volume
    from .io import read_array, write_array
    from .segment import SegmentationParameters
    from .segment import segment as seg

    try:
        data, attrs = read_array(volume)
        vs = voxel_size or attrs.get("voxel_size_nm") or 1.0
        labels, info_ = seg(Volume(data, vs), SegmentationParameters(threshold=threshold, split=not no_split))
        write_array(output, labels, attrs={"voxel_size_nm": vs, "axes": "z,y,x", "segmentation": info_})
    except Insitu4dError as exc:
        _fail(exc)
    out.print(f"{info_['n_particles']} particle(s), threshold {info_['threshold']:.4g} -> {output}")


@app.command()
def measure(labels: Path = typer.Argument(..., metavar="LABELS", help="Label volume (.tif or .h5 with /data)."),
            voxel_size: Optional[float] = typer.Option(None, "--voxel-size", help="Voxel size, nm (else the file's)."),
            json_out: Optional[Path] = typer.Option(None, "--json", help="Write the measurements as JSON.")) -> None:
    """Measure particles and necks of a label volume, in nm: the 3D estimators and, beside them, Ihara et al.'s
    2D projection protocol."""
    from .io import read_array, write_json
    from .measure import measure as meas

    try:
        data, attrs = read_array(labels)
        vs = voxel_size if voxel_size is not None else attrs.get("voxel_size_nm")
        if vs is None:
            raise Insitu4dError(f"{labels.name} does not store its voxel size; give --voxel-size NM.")
        result = meas(data, vs)
        if json_out is not None:
            write_json(json_out, result)
    except Insitu4dError as exc:
        _fail(exc)
    out.print(f"{len(result['particles'])} particle(s), {len(result['pairs'])} touching pair(s)")
    for p in result["pairs"]:
        q = p["protocol_2d"]
        out.print(f"  pair {p['labels']}: 3D r_n = {p['r_n_nm']:.2f} nm, d = {p['d_nm']:.2f} nm, "
                  f"r_p = {p['r_p_nm']:.2f} nm | Ihara 2D protocol r_n = {q['r_n_nm']:.2f} nm, "
                  f"d = {q['d_nm']:.2f} nm, r_p = {q['r_p_nm']:.2f} nm, H/W = {q['aspect_ratio_hw']:.2f}")
    if json_out is not None:
        out.print(f"-> {json_out}")


@app.command()
def demo(output: Path = typer.Option(Path("demo_output"), "-o", "--output", help="Output folder."),
         needle: bool = typer.Option(False, "--needle",
                                     help="Run the single-tilt-series job on the NIST needle instead.")) -> None:
    """Run the 4D pipeline on the embedded example experiment (the digital twin of a Cu sintering
    experiment, 18 tilt series), or with --needle the main job on the NIST needle tilt series."""
    if not needle:
        path = Path(str(files("insitu4d.examples") / "twin_ihara" / "experiment.toml"))
        console.print(f"insitu4d {__version__} demo: {path.name} (digital twin of Ihara et al. 2023, Fig. 3: "
                      "18 tilt series, ±40°, 250 e⁻/nm²)")
        _run_experiment(path, output)
        summary = json.loads((output / "experiment.json").read_text())
        acc = summary.get("twin_accuracy") or {}
        if acc:
            out.print(f"against the twin's truth: mean |error| r_n {acc['mae_r_n_vox']:.2f} voxel, d "
                      f"{acc['mae_d_vox']:.2f} voxel, pairs found {100 * acc['found_fraction']:.0f} %")
        unc = (summary.get("uncertainty") or {}).get("mean_rms") or {}
        if unc.get("r_n_nm") is not None:
            out.print(f"error bars from the twin (mean RMS error): r_n ± {unc['r_n_nm']:.1f} nm, d ± "
                      f"{unc['d_nm']:.1f} nm, r_p ± {unc['r_p_nm']:.1f} nm")
        for fit in summary.get("neck_growth_fits", []):
            out.print(f"pair {fit['pair_id']}: (r_n/r_p)^n = B (t − t0), n = {fit['n']:.2f} "
                      f"[{fit['n_ci'][0]:.2f}, {fit['n_ci'][1]:.2f}], t0 = {fit['t0_s']:.1f} s")
        return
    from .pipeline import run_tilt_series

    example = files("insitu4d.examples") / "needle"
    mrc, tlt = Path(str(example / "HAADF.mrc")), Path(str(example / "HAADF.rawtlt"))
    console.print(f"insitu4d {__version__} demo: {mrc.name} (NIST needle, 77 tilts ±76°, 3.36 nm/px)")
    try:
        with _StageProgress() as progress:
            result = run_tilt_series(mrc, output, tilts=tlt, progress=progress)
    except Insitu4dError as exc:
        _fail(exc)
    out.print(f"{result['n_particles']} object(s) measured; reprojection residual "
              f"{result['reprojection_residual']:.4f}; total {sum(result['timings_s'].values()):.0f} s")
    out.print(f"outputs in [bold]{output.resolve()}[/]: {', '.join(result['outputs'])}")


def _shape(value: str) -> tuple[int, int]:
    try:
        ny, nx = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"give the frame size as NYxNX pixels, e.g. 1024x1024; got {value!r}.") from None
    return ny, nx


@app.command()
def dose(current_pA: float = typer.Option(..., "--current-pA", help="Probe current, pA."),
         dwell_time_ns: float = typer.Option(..., "--dwell-time-ns", help="Dwell time per pixel, ns."),
         pixel_size_nm: float = typer.Option(..., "--pixel-size-nm", help="Pixel size, nm."),
         shape: str = typer.Option(..., "--shape", help="Frame size NYxNX in pixels, e.g. 1024x1024."),
         frames: int = typer.Option(1, "--frames", help="Frames (images of the tilt series or movie)."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Electron dose of a STEM acquisition: electrons and e⁻/nm² per frame and in total (CODATA e)."""
    from .dose import stem_dose

    try:
        result = stem_dose(current_pA, dwell_time_ns * 1e-9, pixel_size_nm, _shape(shape), frames).to_dict()
    except Insitu4dError as exc:
        _fail(exc)
    if as_json:
        out.print_json(json.dumps(result))
        return
    for key, value in result.items():
        out.print(f"{key:<26} {value:.6g}")


@app.command()
def knockon(beam_keV: float = typer.Option(..., "--beam-keV", help="Electron energy, keV."),
            mass_u: float = typer.Option(..., "--mass-u", help="Atomic mass, u (e.g. 63.546 for Cu)."),
            threshold_eV: Optional[list[float]] = typer.Option(
                None, "--threshold-eV", help="Displacement or sputtering threshold to compare with (repeatable)."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Largest energy an electron transfers to a nucleus (head-on), against given thresholds."""
    from .physics.beam_damage import knock_on_assessment

    try:
        result = knock_on_assessment(beam_keV, mass_u, {f"{t:g} eV": t for t in threshold_eV or []})
    except Insitu4dError as exc:
        _fail(exc)
    if as_json:
        out.print_json(json.dumps(result))
        return
    out.print(f"max energy transfer at {beam_keV:g} keV to {mass_u:g} u: {result['max_energy_transfer_eV']:.4g} eV")
    for name, thr in result["thresholds"].items():
        verdict = (f"exceeded for scattering angles above {thr['min_angle_deg']:.1f}°" if thr["exceeded"]
                   else "not reached")
        out.print(f"threshold {name}: {verdict}; reached from {thr['threshold_beam_keV']:.4g} keV")


@app.command()
def fit(table: Path = typer.Argument(..., metavar="PAIRS_CSV", help="pairs_timeseries.csv of insitu4d run."),
        plot: Path = typer.Option(None, "-o", "--plot", help="Plot file (default: neck_growth_fit.png beside it)."),
        json_path: Optional[Path] = typer.Option(None, "--json", help="Write the fits as JSON here."),
        bootstrap: int = typer.Option(200, "--bootstrap", help="Bootstrap resamples for the intervals."),
        holder_log: Optional[Path] = typer.Option(None, "--holder-log",
                                                  help="Holder temperature log (CSV/TSV); its holds split the rows."),
        time_exponent: Optional[float] = typer.Option(None, "--time-exponent",
                                                      help="n for the rates of an Arrhenius fit across holds."),
        hold_tolerance: float = typer.Option(2.0, "--hold-tolerance-C", help="Temperature band of a hold, °C."),
        min_hold: float = typer.Option(60.0, "--min-hold-s", help="Shortest hold in the holder log, s.")) -> None:
    """Fit (r_n/r_p)^n = B (t − t0) per pair and isothermal hold with t0 free, rank the mechanisms, plot with the
    model curves; with --time-exponent, the activation energy from the rates of the holds."""
    from .io.holder_log import isothermal_segments, read_holder_log
    from .io.writers import write_json
    from .pipeline.kinetics import arrhenius_pairs, assign_segments, fit_pairs, read_pairs_table
    from .report.timeseries import save_fit_plot

    arrhenius = None
    try:
        rows = read_pairs_table(table)
        holds = None
        if holder_log is not None:
            holds = isothermal_segments(read_holder_log(holder_log), tolerance_C=hold_tolerance,
                                        min_duration_s=min_hold)
        assign_segments(rows, holds, tolerance_C=hold_tolerance)
        fits = fit_pairs(rows, n_bootstrap=bootstrap)
        if time_exponent is not None:
            arrhenius = arrhenius_pairs(rows, time_exponent, n_bootstrap=bootstrap)
    except Insitu4dError as exc:
        _fail(exc)
    if not fits:
        _fail(InvalidParameter(f"no pair in {table.name} has 4 or more time points with 0 < r_n/r_p ≤ 1 "
                               "in one hold."))
    for f in fits:
        weighted = " (weighted by the error bars)" if f["weighted_by_error_bars"] else ""
        at = f" at {f['temperature_C']:.1f} °C" if f["temperature_C"] is not None else ""
        out.print(f"pair {f['pair_id']}{at}: (r_n/r_p)^n = B (t − t0){weighted}: n = {f['n']:.2f} "
                  f"[{f['n_ci'][0]:.2f}, {f['n_ci'][1]:.2f}], B = {f['B_per_s']:.3g} "
                  f"[{f['B_per_s_ci'][0]:.3g}, {f['B_per_s_ci'][1]:.3g}] 1/s, t0 = {f['t0_s']:.1f} "
                  f"[{f['t0_s_ci'][0]:.1f}, {f['t0_s_ci'][1]:.1f}] s; log-log slope alone: n = {f['loglog_n']:.2f}")
        out.print(f"  {escape(f['verdict'])}")
    for a in arrhenius or []:
        if a["arrhenius"] is None:
            out.print(f"pair {a['pair_id']}: no activation energy ({a['reason']}).")
            continue
        q = a["arrhenius"]
        out.print(f"pair {a['pair_id']}: Q = {q['Q_eV']:.3f} ± {q['Q_sd_eV']:.3f} eV ({q['Q_kJ_per_mol']:.1f} kJ/mol) "
                  f"from {len(a['segments'])} holds at n = {a['time_exponent']:g}")
    plot = plot or table.with_name("neck_growth_fit.png")
    save_fit_plot(plot, rows, fits)
    out.print(f"plot: [bold]{plot}[/]")
    if json_path:
        write_json(json_path, {"source": str(table), "fits": fits, "arrhenius": arrhenius})
        out.print(f"fits: [bold]{json_path}[/]")


@app.callback(invoke_without_command=True)
def _main(version: bool = typer.Option(False, "--version", help="Print the version.")) -> None:
    if version:
        out.print(f"insitu4d {__version__}")
        raise typer.Exit()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
