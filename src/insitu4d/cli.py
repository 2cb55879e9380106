"""The ``insitu4d`` command: parses, calls the library, prints. No algorithms here."""

from __future__ import annotations

import functools
import json
import tempfile
import time
import traceback
from enum import Enum
from importlib.resources import files
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from . import __version__, choices
from .errors import Insitu4dError, InvalidParameter

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="insitu4d: in situ electron tomography of nanoparticles, from tilt series to measured necks.")
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)  # no hard wrapping: output is often piped or parsed


class _Session:
    """The global options of one invocation (set by the callback, for every command)."""

    quiet: bool = False
    verbose: bool = False
    log_file: Path | None = None
    threads: int | None = None


session = _Session()


def _log(text: str) -> None:
    """Append a plain line to the --log-file, if one was given."""
    if session.log_file is not None:
        with open(session.log_file, "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")


def _say(markup: str, plain: str, *, always: bool = False) -> None:
    """A message on stderr (unless --quiet, but errors always) and in the log file."""
    if always or not session.quiet:
        console.print(markup, highlight=False)
    _log(plain)


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A typer choice type from one of the library's tuples (:mod:`insitu4d.choices`)."""
    return Enum(name, {v: v for v in values}, type=str)


Method = _choices("Method", choices.RECON_METHOD_CHOICES)
Region = _choices("Region", choices.RECON_REGIONS)
Backend = _choices("Backend", choices.BACKENDS)
Filter = _choices("Filter", choices.FBP_FILTERS)
AlignMethod = _choices("AlignMethod", choices.ALIGN_METHODS)
DriftMethod = _choices("DriftMethod", choices.DRIFT_METHODS)
DenoiseMethod = _choices("DenoiseMethod", choices.DENOISE_METHODS)
Contrast = _choices("Contrast", choices.CONTRASTS)
TiltsUnit = _choices("TiltsUnit", choices.TILT_UNITS)

BACKEND_HELP = "Projector backend; 'auto' uses a GPU (CuPy) when one is usable."
TILTSERIES_HELP = ("Tilt-series file (MRC, DM3/DM4, EMD, SER, TIFF), or a folder or quoted glob of one file per "
                   "tilt (also Bruker BCF).")
TILTSERIES_ARGUMENT = typer.Argument(..., metavar="TILTSERIES", help=TILTSERIES_HELP)
TILTS_UNIT_OPTION = typer.Option(TiltsUnit("deg"), "--tilts-unit",
                                 help="Unit of the tilt angles: deg, or rad (angles that look like radians are "
                                      "refused unless this says rad).")
#: Reconstruction options shared by ``run`` and ``reconstruct``.
METHOD_OPTION = typer.Option(Method('auto'), "--method",
                             help="Reconstruction method; 'auto' chooses from the tilts and the noise.")
ITERATIONS_OPTION = typer.Option(None, "--iterations",
                                 help="Iterations of the iterative methods (default: the method's).")
TV_WEIGHT_OPTION = typer.Option("auto", "--tv-weight",
                                help="TV: regularisation weight, or 'auto' (discrepancy principle).")


def _fail(exc: Exception) -> None:
    _say(f"[bold red]error:[/] {type(exc).__name__}: {escape(str(exc))}", f"error: {type(exc).__name__}: {exc}",
         always=True)
    raise typer.Exit(code=2)


def _command(fn):
    """Every command's errors, handled one way: the project's errors and the system's (a full disk, a
    permission) as a message and exit code 2, an interruption as 130, anything else as an internal error
    (exit 3) whose traceback goes to a log file, never to the user's screen."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            if session.threads is None:
                return fn(*args, **kwargs)
            from .recon.joseph import cpu_threads

            with cpu_threads(session.threads):
                return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except Insitu4dError as exc:
            _fail(exc)
        except OSError as exc:
            text = f"{exc.strerror or exc}" + (f" ({exc.filename})" if getattr(exc, "filename", None) else "")
            _say(f"[bold red]error:[/] {escape(text)}", f"error: {text}", always=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            text = "The output folder is marked as failed; run the same command again to resume."
            _say(f"[bold red]interrupted.[/] {text}", f"interrupted. {text}", always=True)
            raise typer.Exit(code=130) from None
        except Exception as exc:  # a bug: the user gets one line and where the details are
            if any(c.__name__ == "ClickException" for c in type(exc).__mro__):
                raise  # a usage error (typer's own click): typer prints it
            with tempfile.NamedTemporaryFile("w", prefix="insitu4d-error-", suffix=".log", delete=False) as log:
                log.write(f"insitu4d {__version__}\n{traceback.format_exc()}")
            text = (f"(a bug in insitu4d {__version__}): {type(exc).__name__}: {exc}. The details are in {log.name}; "
                    "please report them.")
            _say(f"[bold red]internal error[/] {escape(text)}", f"internal error {text}", always=True)
            raise typer.Exit(code=3) from None
    return wrapper


def _given(ctx: typer.Context, *names: str) -> list[str]:
    """The options among ``names`` that the user gave on the command line (or in the environment)."""
    given = []
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)
        if param.name in names and getattr(source, "name", None) in ("COMMANDLINE", "ENVIRONMENT"):
            given.append(param.opts[0])
    return given


class _StageProgress:
    """Rich progress bars, one per pipeline stage."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description:<12}"), BarColumn(),
                                 TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), console=console)
        self.tasks: dict[str, int] = {}

        self.bars = console.is_terminal and not (session.quiet or session.verbose)

    def __enter__(self):
        if self.bars:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc) if self.bars else False

    def __call__(self, stage: str, done: int, total: int) -> None:
        tenth = max(total // 10, 1)
        if stage not in self.tasks or done == total or (done % tenth == 0 and done):
            # lines for a log (stderr not a terminal, --verbose, --log-file): at the start, each tenth, the end
            line = f"{stage} {done}/{total}"
            _log(line)
            if not self.bars and not session.quiet:
                console.print(f"{time.strftime('%H:%M:%S')} {line}", highlight=False)
        if not self.bars:
            self.tasks.setdefault(stage, -1)
            return
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self.tasks[stage], completed=done, total=total)


def _tilt_axis(value: str) -> float | str:
    return _auto_or_number(value, "--tilt-axis-deg")


def _auto_or_number(value: str, name: str, word: str = "auto") -> float | str:
    """``word`` itself, or the option's value as a number (a usage error otherwise)."""
    if value == word:
        return value
    try:
        return float(value)
    except ValueError:
        raise typer.BadParameter(f"{name} takes '{word}' or a number; got {value!r}.") from None


@app.command()
@_command
def info(path: Path = typer.Argument(..., help=TILTSERIES_HELP),
         tilts: Optional[Path] = typer.Option(None, "--tilts", help="Tilt file (.rawtlt/.tlt/.mdoc/.csv)."),
         pixel_size: Optional[float] = typer.Option(None, "--pixel-size", help="Pixel size in nm."),
         tilts_unit: TiltsUnit = TILTS_UNIT_OPTION,
         as_json: bool = typer.Option(False, "--json", help="Print JSON to stdout instead of text.")) -> None:
    """Print shape, tilts, pixel size, dose-relevant metadata and what is missing."""
    from .io.readers import describe_file

    d = describe_file(path, tilts=tilts, pixel_size_nm=pixel_size, tilts_unit=tilts_unit.value)
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
@_command
def run(ctx: typer.Context,
        input_path: Path = typer.Argument(..., metavar="INPUT",
                                         help="Tilt-series file (or a folder or glob of one file per tilt), "
                                              "or an experiment description (.toml) for 4D."),
        output: Path = typer.Option(Path("insitu4d_output"), "-o", "--output", help="Output folder."),
        tilts: Optional[Path] = typer.Option(None, "--tilts", help="Tilt file (.rawtlt/.tlt/.mdoc/.csv)."),
        pixel_size: Optional[float] = typer.Option(None, "--pixel-size", help="Pixel size in nm."),
        tilts_unit: TiltsUnit = TILTS_UNIT_OPTION,
        tilt_axis: str = typer.Option("auto", "--tilt-axis-deg", help="Tilt-axis direction from image y, or 'auto'."),
        method: Method = METHOD_OPTION,
        iterations: Optional[int] = ITERATIONS_OPTION,
        tv_weight: str = TV_WEIGHT_OPTION,
        backend: Backend = typer.Option(Backend('auto'), "--backend", help=BACKEND_HELP),
        bin_factor: int = typer.Option(1, "--bin", help="Bin pixels by this factor first."),
        denoise: Optional[DenoiseMethod] = typer.Option(
            None, "--denoise",
            help="Denoise first, strength calibrated on the data (Poisson thinning of counts, else J-invariance)."),
        align_method: AlignMethod = typer.Option(AlignMethod('xcorr'), "--align-method", help="Image registration."),
        no_align: bool = typer.Option(False, "--no-align", help="Skip alignment (data already aligned)."),
        lines: Optional[str] = typer.Option(
            None, "--lines", help="EDX: X-ray lines to reconstruct, comma-separated (Fe_Ka,O_K,Pt_La); default: those "
                                  "the spectrum-image files list."),
        edx_method: str = typer.Option("separate", "--edx-method",
                                       help="EDX: 'separate' (Poisson EM per line) or 'fused' (all lines with the "
                                            "HAADF)."),
        edx_bin: str = typer.Option("auto", "--edx-bin", help="EDX: bin the X-ray maps by this factor, or 'auto'."),
        no_edx: bool = typer.Option(False, "--no-edx", help="Skip the element volumes of spectrum-image files."),
        edx: Optional[Path] = typer.Option(None, "--edx", help="EDX: a folder or glob of spectrum images, one file "
                                                                  "per tilt, recorded beside the HAADF series."),
        workers: Optional[int] = typer.Option(None, "--workers", help="EXPERIMENT.toml: run the time points and "
                                                                      "the twin's repeats on a local dask cluster "
                                                                      "of N processes."),
        scheduler: Optional[str] = typer.Option(None, "--scheduler", help="EXPERIMENT.toml: run them on a running "
                                                                          "dask scheduler (tcp://HOST:8786).")
        ) -> None:
    """Tilt series to volume, labels, particles.csv, pairs.csv and run.json; an EXPERIMENT.toml to
    every time point, tracked particles and pairs_timeseries.csv (the options then come from the file)."""
    from .pipeline import RunParameters, run_tilt_series

    cluster_options = ("workers", "scheduler")
    if input_path.suffix.lower() == ".toml":
        given = _given(ctx, *(p.name for p in ctx.command.params
                              if p.name not in ("input_path", "output", *cluster_options)))
        if given:
            raise InvalidParameter(f"{', '.join(given)} do(es) not apply to an experiment file: its settings come "
                                   f"from the file. Set them in {input_path.name} (one table per stage: [align], "
                                   "[reconstruct] …), or leave them out.")
        from .pipeline.cluster import ClusterSettings

        cluster = ClusterSettings(workers, scheduler) if workers is not None or scheduler is not None else None
        _run_experiment(input_path, output, cluster)
        return
    if workers is not None or scheduler is not None:
        raise InvalidParameter("--workers and --scheduler spread the time points of an EXPERIMENT.toml; one tilt "
                               "series runs in this process.")
    params = RunParameters(pixel_size_nm=pixel_size, tilts_unit=tilts_unit.value, tilt_axis_deg=_tilt_axis(tilt_axis),
                           method=method.value, iterations=iterations,
                           tv_weight=_auto_or_number(tv_weight, "--tv-weight"), backend=backend.value,
                           bin_factor=bin_factor, align=not no_align,
                           denoise_method=denoise.value if denoise is not None else None,
                           align_method=align_method.value, edx="off" if no_edx else "auto", edx_lines=lines,
                           edx_method=edx_method, edx_bin_factor=_auto_or_integer(edx_bin, "--edx-bin"))
    with _StageProgress() as progress:
        result = run_tilt_series(input_path, output, tilts=tilts, params=params, progress=progress, edx=edx)
    from .io.nexus import export_nexus, nexus_available

    nexus = export_nexus(output) if nexus_available() else []
    recon = result.reconstruction
    chosen = f"{recon['method'].upper()}" + (f" (weight {recon['tv_weight']:.3g})" if "tv_weight" in recon else "")
    out.print(f"{result.n_particles} particle(s), {result.n_pairs} touching pair(s); {chosen}; "
              f"reprojection residual {result.reprojection_residual:.4f}")
    if result.edx is not None:
        edx = result.edx
        out.print(f"EDX: {len(edx['lines'])} element volume(s) ({', '.join(edx['lines'])}), {edx['method']}, "
                  f"maps binned {edx['bin_factor']}×, voxel {edx['voxel_size_nm']:.2f} nm; shadowing reference "
                  f"{edx['reference_line']}")
        for said in edx["overlaps"]:
            _say(f"[bold yellow]note[/] {escape(said)}", f"note {said}")
    _warn([f.to_dict() for f in result.quality_flags])
    out.print(f"outputs in [bold]{output}[/]: {', '.join([*result.outputs, *(p.name for p in nexus)])}")


@app.command()
@_command
def rerun(record: Path = typer.Argument(..., metavar="RUN_JSON", help="The run.json of a finished time point."),
          output: Path = typer.Option(..., "-o", "--output", help="A new output folder.")) -> None:
    """Repeat a time point from its run.json alone: the recorded inputs (checked by SHA-256) and parameters."""
    from .pipeline.rerun import rerun_time_point

    with _StageProgress() as progress:
        result = rerun_time_point(record, output, progress=progress)
    out.print(f"{result.n_particles} particle(s), {result.n_pairs} touching pair(s); reprojection residual "
              f"{result.reprojection_residual:.4f}; outputs in [bold]{output}[/]")


def _auto_or_integer(text: str, option: str) -> int | str:
    """'auto' or a whole number ≥ 1, else a clear error."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise InvalidParameter(f"{option} takes 'auto' or a whole number ≥ 1; got {text!r}.") from None
    if value < 1:
        raise InvalidParameter(f"{option} takes 'auto' or a whole number ≥ 1; got {value}.")
    return value


def _warn(flags: list[dict]) -> None:
    """Print quality flags as warnings (the run still succeeded)."""
    for f in flags:
        text = f"[{f['code']}] {f['message']} {f['advice']}"
        _say(f"[bold yellow]warning[/] {escape(text)}", f"warning {text}")


def _run_experiment(path: Path, output: Path, cluster=None) -> dict:
    from .pipeline import run_experiment_file

    with _StageProgress() as progress:
        summary = run_experiment_file(path, output, progress=progress, cluster=cluster)
    resumed = sum(t["resumed"] for t in summary["time_points"])
    for code, points in summary["quality_flags"].items():
        first = next(f for t in summary["time_points"] for f in t["quality_flags"] if f["code"] == code)
        _warn([dict(first, message=f"{first['message']} (time points {', '.join(points)})")])
    out.print(f"{len(summary['time_points'])} time point(s) ({resumed} resumed), {summary['n_tracks']} particle "
              f"track(s), {summary['n_pairs']} pair(s), {len(summary['events'])} event(s)")
    out.print(f"outputs in [bold]{output}[/]: {', '.join(summary['outputs'])}")
    out.print(f"report: [bold]{(output / 'report.html').resolve()}[/]")
    return summary


@app.command()
@_command
def simulate(experiment_path: Path = typer.Argument(..., metavar="EXPERIMENT", help="Experiment description (.toml)."),
             output: Path = typer.Option(..., "-o", "--output", help="Folder for the twin's tilt series.")) -> None:
    """Write the digital twin's tilt series (T01.mrc + T01.rawtlt, …) and truth.csv."""
    from .pipeline import simulate_file

    result = simulate_file(experiment_path, output)
    out.print(f"{len(result['tilt_series'])} tilt series and truth.csv in [bold]{output}[/]")


@app.command()
@_command
def reconstruct(tilt_series: Path = TILTSERIES_ARGUMENT,
                output: Path = typer.Option(..., "-o", "--output", help="Volume (.tif or .h5), (z, y, x) float32."),
                tilts: Optional[Path] = typer.Option(None, "--tilts", help="Tilt file (.rawtlt/.tlt/.mdoc/.csv)."),
                pixel_size: Optional[float] = typer.Option(None, "--pixel-size", help="Pixel size in nm."),
                tilts_unit: TiltsUnit = TILTS_UNIT_OPTION,
                method: Method = METHOD_OPTION,
                iterations: Optional[int] = ITERATIONS_OPTION,
                tv_weight: str = TV_WEIGHT_OPTION,
                backend: Backend = typer.Option(Backend('auto'), "--backend", help=BACKEND_HELP),
                filter_name: Filter = typer.Option(Filter('ramp'), "--filter", help="FBP filter."),
                tilt_axis: str = typer.Option("auto", "--tilt-axis-deg",
                                              help="Tilt-axis direction from image y, or 'auto'."),
                no_align: bool = typer.Option(False, "--no-align", help="Skip alignment (data already aligned)."),
                thickness: Optional[int] = typer.Option(None, "--thickness-px",
                                                        help="Volume size along z (default: the image width)."),
                region: Region = typer.Option(Region("auto"), "--region",
                                              help="Iterate only in the box that holds the sample ('sample'), over "
                                                   "the whole field ('whole'), or the box for fields larger than "
                                                   "256³ voxels ('auto'); the volume is the whole field."),
                max_memory_gb: Optional[float] = typer.Option(
                    None, "--max-memory-gb", help="Stay within this memory (GB): reconstruct in slabs along the tilt "
                                                  "axis, written one by one into the .h5 output (FBP, SIRT, TV).")
                ) -> None:
    """Reconstruct a volume (background removal, optional alignment, then FBP, SIRT, SART, CGLS, TV or ASD-POCS)."""
    from .pipeline import reconstruct_file

    with _StageProgress() as progress:
        vol = reconstruct_file(tilt_series, output, tilts=tilts, pixel_size_nm=pixel_size, tilts_unit=tilts_unit.value,
                               tilt_axis_deg=_tilt_axis(tilt_axis), align=not no_align, method=method.value,
                               iterations=iterations, filter_name=filter_name.value, thickness_px=thickness,
                               tv_weight=_auto_or_number(tv_weight, "--tv-weight"), backend=backend.value,
                               region=region.value, max_memory_gb=max_memory_gb,
                               progress=lambda i, n: progress("reconstruct", i, n))
    if isinstance(vol, dict):  # made in slabs: the provenance
        slabs = vol["slabs"]
        out.print(f"{vol['method'].upper()} in {slabs['n_slabs']} slab(s) of {slabs['rows']} slice(s) within "
                  f"{slabs['max_memory_gb']:g} GB -> {output}")
        return
    out.print(f"volume {vol.shape} (z, y, x), voxel {vol.voxel_size_nm:g} nm -> {output}")


@app.command()
@_command
def align(tilt_series: Path = TILTSERIES_ARGUMENT,
          output: Path = typer.Option(..., "-o", "--output", help="Aligned tilt series (.mrc, with .rawtlt beside)."),
          tilts: Optional[Path] = typer.Option(None, "--tilts", help="Tilt file (.rawtlt/.tlt/.mdoc/.csv)."),
          method: AlignMethod = typer.Option(AlignMethod('xcorr'), "--method", "--align-method",
                                             help="Image registration."),
          pixel_size: Optional[float] = typer.Option(None, "--pixel-size", help="Pixel size in nm."),
          tilts_unit: TiltsUnit = TILTS_UNIT_OPTION,
          tilt_axis: str = typer.Option("auto", "--tilt-axis-deg", help="Tilt-axis direction from image y, or 'auto'."),
          json_path: Optional[Path] = typer.Option(None, "--json-out",
                                                   help="Write the alignment (shifts, axis) to this .json file.")
          ) -> None:
    """Align a tilt series: background removal, registration (xcorr, mi or com), tilt-axis search, projection
    matching. The output has the tilt axis along y through the image centre."""
    from .pipeline import align_file

    info = align_file(tilt_series, output, tilts=tilts, pixel_size_nm=pixel_size, tilts_unit=tilts_unit.value,
                      tilt_axis_deg=_tilt_axis(tilt_axis), method=method.value, json_path=json_path)
    rms = info.refinement_rms_px[-1] if info.refinement_rms_px else float("nan")
    out.print(f"{method.value}: tilt axis {info.tilt_axis_deg:g}° + {info.tilt_axis_rotation_deg:.2f}°, offset "
              f"{info.tilt_axis_offset_px:.2f} px, last projection-matching correction {rms:.2f} px RMS -> {output}")
    if json_path is not None:
        out.print(f"-> {json_path}")


@app.command()
@_command
def drift(movie: Path = typer.Argument(..., metavar="MOVIE", help="2D in situ movie (.tif, .h5 with /data)."),
          output: Path = typer.Option(..., "-o", "--output", help="Drift-corrected movie (.tif or .h5)."),
          method: DriftMethod = typer.Option(DriftMethod('xcorr'), "--method", help="Image registration."),
          reference_frames: int = typer.Option(5, "--reference-frames", help="Recent frames in the reference."),
          json_path: Optional[Path] = typer.Option(None, "--json-out",
                                                   help="Write the shifts and rejected frames to this .json file.")
          ) -> None:
    """Correct the drift of a movie: each frame registered to a reference of recent frames, outlier shifts
    rejected, then all frames registered again to their mean with the moving particles masked out."""
    from .pipeline import movie_drift_file

    info = movie_drift_file(movie, output, method=method.value, reference_frames=reference_frames,
                            json_path=json_path)
    span = info.shifts_px.max(axis=0) - info.shifts_px.min(axis=0)
    out.print(f"{method.value}: drift spans {span[0]:.1f} px (y), {span[1]:.1f} px (x); "
              f"{int(info.rejected.sum())} frame(s) rejected as outliers -> {output}, "
              f"plot {output.with_name(output.stem + '_drift.png')}")
    if info.warning:
        _say(f"[bold yellow]warning[/] {escape(info.warning)}", f"warning {info.warning}", always=True)
    if json_path is not None:
        out.print(f"-> {json_path}")


@app.command()
@_command
def movie(movie_path: Path = typer.Argument(..., metavar="MOVIE",
                                            help="A stack (DM3/DM4, EMD, SER, TIFF, .h5) or a folder of frames."),
          output: Path = typer.Option(Path("insitu4d_movie"), "-o", "--output", help="Output folder."),
          pixel_size: Optional[float] = typer.Option(None, "--pixel-size", help="Pixel size in nm (else metadata)."),
          frame_time: Optional[float] = typer.Option(None, "--frame-time",
                                                     help="Seconds from frame to frame (else metadata)."),
          holder_log: Optional[Path] = typer.Option(None, "--holder-log",
                                                    help="Holder log (Protochips, DENSsolutions, or a CSV table)."),
          timezone: str = typer.Option("UTC", "--timezone", help="IANA time zone of the acquisition PCs' clocks."),
          clock_offset: str = typer.Option("0", "--clock-offset-s",
                                           help="Holder-log clock minus microscope clock, s, or 'fit' (from the drift "
                                                "speed against the temperature changes)."),
          dose_per_frame: Optional[float] = typer.Option(None, "--dose-per-frame",
                                                         help="Electron dose per frame, e⁻/nm²."),
          contrast: Contrast = typer.Option(Contrast("auto"), "--contrast",
                                            help="Particles dark (bright field) or bright (HAADF), or auto."),
          drift_method: DriftMethod = typer.Option(DriftMethod("xcorr"), "--drift-method",
                                                   help="Image registration for the drift."),
          no_drift: bool = typer.Option(False, "--no-drift", help="Skip drift correction (frames already aligned)."),
          denoise_method: Optional[DenoiseMethod] = typer.Option(None, "--denoise",
                                                                 help="Denoise the frames first (off by default).")
          ) -> None:
    """An in situ movie to particles, tracks and necks per frame: drift, segmentation, neck width and neck angle of
    touching particles, merges and splits, the holder's temperature and the dose per frame, plots and a report."""
    from .pipeline.movie import MovieParameters, run_movie_file

    params = MovieParameters(correct_drift=not no_drift, drift_method=drift_method.value,
                             denoise=denoise_method.value if denoise_method else "none", contrast=contrast.value,
                             clock_offset_s=_auto_or_number(clock_offset, "--clock-offset-s", "fit"),
                             dose_per_frame_e_per_nm2=dose_per_frame)
    with _StageProgress() as progress:
        record = run_movie_file(movie_path, output, params, pixel_size_nm=pixel_size, frame_time_s=frame_time,
                                holder_log=holder_log, timezone=timezone, progress=progress)
    merges = sum(ev["kind"] == "merge" for ev in record["events"])
    out.print(f"{record['input']['frames']} frames, {record['n_tracks']} particle track(s), {merges} merge(s); "
              f"contrast {record['chosen']['contrast']}")
    for text in record["warnings"]:
        _say(f"[bold yellow]warning[/] {escape(text)}", f"warning {text}", always=True)
    out.print(f"outputs in [bold]{output}[/]: {', '.join(record['outputs'])}")


@app.command()
@_command
def lattice(image: Path = typer.Argument(..., metavar="IMAGE", help="An image, a stack, or a folder of frames."),
            pixel_size: Optional[float] = typer.Option(None, "--pixel-size", help="Pixel size in nm (else metadata)."),
            frame: int = typer.Option(0, "--frame", help="The frame whose spots are listed."),
            lattice_constant: Optional[float] = typer.Option(None, "--fcc-lattice-constant",
                                                             help="Index on FCC zone axes (Å; Au 4.078)."),
            track_d: Optional[float] = typer.Option(None, "--track-d", help="Follow this spacing (Å) over frames."),
            csv_path: Optional[Path] = typer.Option(None, "--csv-out", help="Write the followed spacing here."),
            json_path: Optional[Path] = typer.Option(None, "--json-out", help="Write everything as JSON.")) -> None:
    """Lattice fringes: the FFT spots of a frame with their d-spacings (Å) and angles, FCC zone axes, and one spacing
    followed through a movie (strain, alloying)."""
    from .io.output_folder import check_output_file
    from .io.writers import write_json
    from .pipeline.jobs import lattice_file

    if json_path is not None:
        check_output_file(json_path, (".json",), "lattice record")
    result = lattice_file(image, pixel_size_nm=pixel_size, frame=frame, lattice_constant_A=lattice_constant,
                          reference_d_A=track_d, csv_path=csv_path)
    out.print(f"frame {frame}: {len(result['spots'])} spot(s); d-spacings (Å): "
              + ", ".join(f"{d:.4f}" for d in result["families"]))
    for s in result["spots"]:
        out.print(f"  d = {s['d_spacing_A']:.4f} Å  at {s['angle_deg']:6.1f}°  (power {s['ratio']:.0f}× background)")
    for m in result.get("zone_axes", [])[:1]:
        out.print(f"zone axis [{''.join(str(v) for v in m['zone'])}]: "
                  + ", ".join("(" + "".join(str(v) for v in h) + ")" for h in m["hkl"])
                  + f"; angles within {m['angle_error_deg']:.1f}°, spacings within {100 * m['d_error']:.1f} %")
    if "track" in result:
        d = [r["d_spacing_A"] for r in result["track"]]
        out.print(f"{track_d:g} Å followed over {len(d)} frames: {min(d):.4f}–{max(d):.4f} Å"
                  + (f" -> {csv_path}" if csv_path else ""))
    if json_path is not None:
        write_json(json_path, result)


@app.command()
@_command
def elements(spectrum_image: Path = typer.Argument(..., metavar="SPECTRUM_IMAGE",
                                                  help="An EDX spectrum image (.bcf, .hspy, .emd …)."),
             output: Path = typer.Option(Path("insitu4d_elements"), "-o", "--output", help="Output folder."),
             lines: Optional[str] = typer.Option(None, "--lines", help="X-ray lines, comma-separated (Fe_Ka,O_K); "
                                                                        "default: those the file lists."),
             core_line: Optional[str] = typer.Option(None, "--core-line", help="Line of the particles' cores (Pt_La)."),
             shell_line: Optional[str] = typer.Option(None, "--shell-line", help="Line of their shells (Fe_Ka, O_K)."),
             pixel_size: Optional[float] = typer.Option(None, "--pixel-size", help="Pixel size in nm (else metadata)."),
             denoise: Optional[DenoiseMethod] = typer.Option(
                 None, "--denoise", help="Denoise the maps' counts, strength chosen by Poisson thinning (figures and "
                                         "maps; the core-shell fit takes the raw counts).")
             ) -> None:
    """Element maps of a spectrum image (background-subtracted line windows from the X-ray line table), and with
    --core-line/--shell-line the core radius and shell thickness of each particle with standard errors."""
    from .pipeline.edx import spectrum_image_maps

    record = spectrum_image_maps(spectrum_image, output, lines=lines, core_line=core_line, shell_line=shell_line,
                                 pixel_size_nm=pixel_size, denoise=denoise.value if denoise is not None else None)
    out.print(f"{len(record.lines)} map(s): " + ", ".join(f"{n} ({c:.0f} net counts)"
                                                          for n, c in record.net_counts.items()))
    for said in record.overlaps:
        _say(f"[bold yellow]note[/] {escape(said)}", f"note {said}")
    for f in record.core_shell:
        out.print(f"particle {f.particle}: core radius {f.core_radius_nm:.2f} ± {f.core_radius_error_nm:.2f} nm, "
                  f"shell {f.shell_thickness_nm:.2f} ± {f.shell_thickness_error_nm:.2f} nm, core "
                  f"{shell_line}/{core_line} {f.core_shell_line_ratio:.2f} ± {f.core_shell_line_ratio_error:.2f}, "
                  f"blur σ {f.blur_nm:.2f} nm")
    out.print(f"outputs in [bold]{output}[/]: {', '.join(record.outputs)}")


@app.command()
@_command
def export(folder: Path = typer.Argument(..., metavar="OUT", help="An output folder of 'insitu4d run'."),
           formats: Optional[str] = typer.Option(None, "--formats",
                                                 help="Comma-separated: mrc, hspy, tif, ome-zarr (default: "
                                                      "mrc,hspy,tif; none with --nexus)."),
           nexus: bool = typer.Option(False, "--nexus", help="NeXus NXem files (run.nxs, experiment.nxs); "
                                                            "needs the 'nexus' extra.")) -> None:
    """Volumes and labels as MRC (3dmod, ChimeraX, tomviz), HSPY (HyperSpy) and TIFF (Fiji), with their voxel size,
    and the alignment as IMOD .xf/.tlt, into OUT/…/export/; with --nexus, NXem files validated against NXem."""
    from .io.export import export_run_folder
    from .io.nexus import export_nexus

    written = export_nexus(folder) if nexus else []
    if formats is not None or not nexus:
        chosen = (formats or "mrc,hspy,tif").split(",")
        written += export_run_folder(folder, formats=tuple(f.strip() for f in chosen if f.strip()))
    out.print(f"{len(written)} file(s) written: " + ", ".join(str(p) for p in written[:6])
              + (" …" if len(written) > 6 else ""))


@app.command()
@_command
def correlate(image: Path = typer.Argument(..., metavar="IMAGE", help="An SEM or overview image (2D)."),
              run_folder: Path = typer.Argument(..., metavar="RUN", help="A time-point folder with volume.h5."),
              pixel_size: Optional[float] = typer.Option(None, "--pixel-size",
                                                         help="The image's pixel size in nm (else metadata)."),
              no_rotation_search: bool = typer.Option(False, "--no-rotation-search",
                                                      help="Start at 0° instead of searching all rotations.")
              ) -> None:
    """Register an image from another instrument to the volume's projection (similarity transform, mutual
    information): RUN/correlation.json and RUN/correlation.png."""
    from .pipeline.jobs import correlate_file

    record = correlate_file(image, run_folder, pixel_size_nm=pixel_size, rotation_search=not no_rotation_search)
    t = record["transform"]
    out.print(f"scale {t['scale']:.4f}, rotation {t['rotation_deg']:.2f}°, translation "
              f"({t['translation_nm'][0]:.1f}, {t['translation_nm'][1]:.1f}) nm (y, x); mutual information "
              f"{t['mutual_information']:.3f} -> {run_folder / 'correlation.json'}")


@app.command()
@_command
def denoise(input_path: Path = typer.Argument(..., metavar="INPUT", help="Tilt series or movie (MRC …, .tif, .h5)."),
            output: Path = typer.Option(..., "-o", "--output", help="Denoised stack (.mrc: tilt series; .tif, .h5)."),
            tilts: Optional[Path] = typer.Option(None, "--tilts", help="Tilt file (.rawtlt/.tlt/.mdoc/.csv)."),
            tilts_unit: TiltsUnit = TILTS_UNIT_OPTION,
            method: DenoiseMethod = typer.Option(DenoiseMethod('tv'), "--method", help="Denoising method."),
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
    counts or J-invariance); the parameters are printed and saved as OUTPUT.denoise.json."""
    from .pipeline import denoise_file

    record, chosen = denoise_file(input_path, output, method=method.value, strength=strength, reference=reference,
                                  second_exposure=second, tilts=tilts, tilts_unit=tilts_unit.value, vst=vst, gain=gain,
                                  read_noise=read_noise, offset=offset, per_frame=not stack)
    gain_txt = f", estimated PSNR gain {chosen['psnr_gain_db']:.1f} dB" if "psnr_gain_db" in chosen else ""
    out.print(f"{method.value}: strength {chosen['strength']:.3g} ({chosen['strategy']}){gain_txt} -> {output}")
    out.print(f"parameters: {record}")


@app.command()
@_command
def segment(volume: Path = typer.Argument(..., metavar="VOLUME", help="Volume (.tif or .h5 with /data)."),
            output: Path = typer.Option(..., "-o", "--output", help="Label volume (.tif or .h5)."),
            voxel_size: Optional[float] = typer.Option(None, "--voxel-size", "--pixel-size",
                                                       help="Voxel size, nm (else the file's)."),
            threshold: Optional[float] = typer.Option(None, "--threshold", help="Grey level; default Otsu."),
            no_split: bool = typer.Option(False, "--no-split", help="Do not split touching particles.")) -> None:
    """Segment a volume into labelled particles split at their necks."""
    from .pipeline import segment_file
    from .segment import SegmentationParameters

    info_ = segment_file(volume, output, voxel_size_nm=voxel_size,
                         params=SegmentationParameters(threshold=threshold, split=not no_split))
    out.print(f"{info_['n_particles']} particle(s), threshold {info_['threshold']:.4g} -> {output}")


@app.command()
@_command
def measure(labels: Path = typer.Argument(..., metavar="LABELS", help="Label volume (.tif or .h5 with /data)."),
            voxel_size: Optional[float] = typer.Option(None, "--voxel-size", "--pixel-size",
                                                       help="Voxel size, nm (else the file's)."),
            json_out: Optional[Path] = typer.Option(None, "--json-out",
                                                    help="Write the measurements to this .json file.")) -> None:
    """Measure particles and necks of a label volume, in nm: the 3D estimators and, beside them, Ihara et al.'s
    2D projection protocol."""
    from .pipeline import measure_file

    result = measure_file(labels, voxel_size_nm=voxel_size, json_path=json_out)
    out.print(f"{len(result.particles)} particle(s), {len(result.pairs)} touching pair(s)")
    for p in result.pairs:
        q = p.protocol_2d
        out.print(f"  pair {list(p.labels)}: 3D r_n = {p.r_n_nm:.2f} nm, d = {p.d_nm:.2f} nm, "
                  f"r_p = {p.r_p_nm:.2f} nm | Ihara 2D protocol r_n = {q['r_n_nm']:.2f} nm, "
                  f"d = {q['d_nm']:.2f} nm, r_p = {q['r_p_nm']:.2f} nm, H/W = {q['aspect_ratio_hw']:.2f}")
    if json_out is not None:
        out.print(f"-> {json_out}")


@app.command()
@_command
def demo(output: Path = typer.Option(Path("demo_output"), "-o", "--output", help="Output folder."),
         needle: bool = typer.Option(False, "--needle",
                                     help="Run the single-tilt-series job on the NIST needle instead.")) -> None:
    """Run the 4D pipeline on the embedded example experiment (the digital twin of a Cu sintering
    experiment, 18 tilt series), or with --needle the main job on the NIST needle tilt series."""
    if not needle:
        path = Path(str(files("insitu4d.examples") / "twin_ihara" / "experiment.toml"))
        console.print(f"insitu4d {__version__} demo: {path.name} (digital twin of Ihara et al. 2023, Fig. 3: "
                      "18 tilt series, ±40°, 250 e⁻/nm²)")
        summary = _run_experiment(path, output)
        acc = summary.get("twin_accuracy") or {}
        if acc:
            out.print(f"against the twin's truth: mean |error| r_n {acc['mae_r_n_vox']:.2f} voxel, d "
                      f"{acc['mae_d_vox']:.2f} voxel, pairs found {100 * acc['found_fraction']:.0f} %")
        unc = (summary.get("uncertainty") or {}).get("mean_error_bar") or {}
        if unc.get("r_n_nm") is not None:
            out.print(f"error bars from the twin (mean): r_n ± {unc['r_n_nm']:.1f} nm, d ± "
                      f"{unc['d_nm']:.1f} nm, r_p ± {unc['r_p_nm']:.1f} nm")
        for fit in summary.get("neck_growth_fits", []):
            out.print(f"pair {fit['pair_id']}: (r_n/r_p)^n = B (t − t0), n = {fit['n']:.2f} "
                      f"[{fit['n_ci'][0]:.2f}, {fit['n_ci'][1]:.2f}], t0 = {fit['t0_s']:.1f} s")
        return
    from .pipeline import run_tilt_series

    example = files("insitu4d.examples") / "needle"
    mrc, tlt = Path(str(example / "HAADF.mrc")), Path(str(example / "HAADF.rawtlt"))
    console.print(f"insitu4d {__version__} demo: {mrc.name} (NIST needle, 77 tilts ±76°, 3.36 nm/px)")
    with _StageProgress() as progress:
        result = run_tilt_series(mrc, output, tilts=tlt, progress=progress)
    out.print(f"{result.n_particles} object(s) measured; reprojection residual "
              f"{result.reprojection_residual:.4f}; total {sum(result.timings_s.values()):.0f} s")
    out.print(f"outputs in [bold]{output.resolve()}[/]: {', '.join(result.outputs)}")


def _shape(value: str) -> tuple[int, int]:
    try:
        ny, nx = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"give the frame size as NYxNX pixels, e.g. 1024x1024; got {value!r}.") from None
    return ny, nx


@app.command()
@_command
def dose(current_pA: float = typer.Option(..., "--current-pA", help="Probe current, pA."),
         dwell_time_ns: float = typer.Option(..., "--dwell-time-ns", help="Dwell time per pixel, ns."),
         pixel_size_nm: float = typer.Option(..., "--pixel-size", "--pixel-size-nm", help="Pixel size, nm."),
         shape: str = typer.Option(..., "--shape", help="Frame size NYxNX in pixels, e.g. 1024x1024."),
         frames: int = typer.Option(1, "--frames", help="Frames (images of the tilt series or movie)."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON to stdout instead of text.")) -> None:
    """Electron dose of a STEM acquisition: electrons and e⁻/nm² per frame and in total (CODATA e)."""
    from .dose import stem_dose

    result = stem_dose(current_pA, dwell_time_ns * 1e-9, pixel_size_nm, _shape(shape), frames).to_dict()
    if as_json:
        out.print_json(json.dumps(result))
        return
    for key, value in result.items():
        out.print(f"{key:<26} {value:.6g}")


@app.command()
@_command
def knockon(beam_keV: float = typer.Option(..., "--beam-keV", help="Electron energy, keV."),
            mass_u: float = typer.Option(..., "--mass-u", help="Atomic mass, u (e.g. 63.546 for Cu)."),
            threshold_eV: Optional[list[float]] = typer.Option(
                None, "--threshold-eV", help="Displacement or sputtering threshold to compare with (repeatable)."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON to stdout instead of text.")) -> None:
    """Largest energy an electron transfers to a nucleus (head-on), against given thresholds."""
    from .physics.beam_damage import knock_on_assessment

    result = knock_on_assessment(beam_keV, mass_u, {f"{t:g} eV": t for t in threshold_eV or []})
    if as_json:
        out.print_json(json.dumps(result))
        return
    out.print(f"max energy transfer at {beam_keV:g} keV to {mass_u:g} u: {result['max_energy_transfer_eV']:.4g} eV")
    for name, thr in result["thresholds"].items():
        verdict = (f"exceeded for scattering angles above {thr['min_angle_deg']:.1f}°" if thr["exceeded"]
                   else "not reached")
        out.print(f"threshold {name}: {verdict}; reached from {thr['threshold_beam_keV']:.4g} keV")


@app.command()
@_command
def fit(table: Path = typer.Argument(..., metavar="PAIRS_CSV", help="pairs_timeseries.csv of insitu4d run."),
        plot: Path = typer.Option(None, "-o", "--plot", help="Plot file (default: neck_growth_fit.png beside it)."),
        json_path: Optional[Path] = typer.Option(None, "--json-out", help="Write the fits to this .json file."),
        bootstrap: int = typer.Option(200, "--bootstrap", help="Bootstrap resamples for the intervals."),
        holder_log: Optional[Path] = typer.Option(None, "--holder-log",
                                                  help="Holder temperature log (CSV/TSV); its holds split the rows."),
        time_exponent: Optional[float] = typer.Option(None, "--time-exponent",
                                                      help="n for the rates of an Arrhenius fit across holds."),
        hold_tolerance: float = typer.Option(2.0, "--hold-tolerance-C", help="Temperature band of a hold, °C."),
        min_hold: float = typer.Option(60.0, "--min-hold-s", help="Shortest hold in the holder log, s.")) -> None:
    """Fit (r_n/r_p)^n = B (t − t0) per pair and isothermal hold with t0 free, rank the mechanisms, plot with the
    model curves; with --time-exponent, the activation energy from the rates of the holds."""
    from .pipeline.kinetics import KineticsParameters, fit_pairs_file

    result = fit_pairs_file(table, KineticsParameters(time_exponent, hold_tolerance, min_hold),
                            holder_log=holder_log, n_bootstrap=bootstrap, plot=plot, json_path=json_path)
    for pair_fit in result.fits:
        f = pair_fit.fit
        weighted = " (weighted by the error bars)" if pair_fit.weighted_by_error_bars else ""
        at = f" at {pair_fit.temperature_C:.1f} °C" if pair_fit.temperature_C is not None else ""
        out.print(f"pair {pair_fit.pair_id}{at}: (r_n/r_p)^n = B (t − t0){weighted}: n = {f.n:.2f} "
                  f"[{f.n_ci[0]:.2f}, {f.n_ci[1]:.2f}], B = {f.B_per_s:.3g} "
                  f"[{f.B_per_s_ci[0]:.3g}, {f.B_per_s_ci[1]:.3g}] 1/s, t0 = {f.t0_s:.1f} "
                  f"[{f.t0_s_ci[0]:.1f}, {f.t0_s_ci[1]:.1f}] s; log-log slope alone: n = {f.loglog_n:.2f}")
        out.print(f"  {escape(pair_fit.ranking.verdict)}")
    for a in result.arrhenius or ():
        if a.arrhenius is None:
            out.print(f"pair {a.pair_id}: no activation energy ({a.reason}).")
            continue
        q = a.arrhenius
        out.print(f"pair {a.pair_id}: Q = {q.Q_eV:.3f} ± {q.Q_sd_eV:.3f} eV ({q.Q_kJ_per_mol:.1f} kJ/mol) "
                  f"from {len(a.segments)} holds at n = {a.time_exponent:g}")
    out.print(f"plot: [bold]{result.plot}[/]")
    if json_path:
        out.print(f"fits: [bold]{json_path}[/]")


@app.callback(invoke_without_command=True)
def _main(version: bool = typer.Option(False, "--version", help="Print the version."),
          quiet: bool = typer.Option(False, "--quiet", "-q", help="Print results and errors only (no progress, "
                                                                  "no warnings; they still go to --log-file)."),
          verbose: bool = typer.Option(False, "--verbose", "-v", help="Progress as timestamped lines, not bars."),
          log_file: Optional[Path] = typer.Option(None, "--log-file",
                                                  help="Append progress, warnings and errors to this file."),
          threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                                help="CPU threads of the projectors (default: all cores).")) -> None:
    """Global options, given before the command: insitu4d --quiet run …"""
    session.quiet, session.verbose, session.log_file, session.threads = quiet, verbose, log_file, threads
    if log_file is not None:
        try:
            _log(f"insitu4d {__version__}")
        except OSError as exc:
            raise typer.BadParameter(f"cannot write the log file {log_file}: {exc.strerror or exc}.",
                                     param_hint="--log-file") from None
    if version:
        out.print(f"insitu4d {__version__}")
        raise typer.Exit()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
