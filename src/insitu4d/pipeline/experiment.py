"""The experiment description: a TOML file listing time points, acquisition, pipeline and (optionally) the twin.

Schema (lengths nm, angles degrees, time s, temperature °C; paths relative to the TOML file). A table or
key that is not in it is an error that names the nearest valid one::

    name = "Cu nanoparticle sintering"

    [acquisition]                 # shared by all time points; recorded in experiment.json
    pixel_size_nm = 8.32          # optional when the files carry it
    tilts_unit = "deg"            # "rad" when the tilt files hold radians
    dose_e_per_nm2 = 236.9        # per tilt series (recorded; the twin uses it)
    holder_log = "holder.csv"     # optional: a Protochips/DENSsolutions export or a table with time and
                                  # temperature columns; time_s counts on its clock (from its start);
                                  # gives the time points without temperature_C theirs, and the holds
    holder_timezone = "UTC"       # IANA zone of the log's clock (vendor logs carry local time)
    holder_clock_offset_s = 0.0   # log clock minus the clock of time_s
    # recorded only: beam_energy_keV, probe_current_pA, dwell_time_ns, dwell_time_s, frame_time_s,
    # microscope, detector, notes

    [kinetics]                    # optional (insitu4d.pipeline.kinetics.KineticsParameters)
    time_exponent = 5             # n for the rates of the Arrhenius fit; omit for no Arrhenius fit
    hold_tolerance_C = 2.0        # temperature band of an isothermal hold
    min_hold_s = 60.0             # shortest hold of the holder log

    # one table per stage; each takes that stage's fields of insitu4d.pipeline.RunParameters
    [preprocess]
    bin_factor = 1
    [denoise]
    denoise_method = "tv"         # omit the table for no denoising
    [align]
    tilt_axis_deg = 0.0           # or "auto"
    align_method = "xcorr"
    [reconstruct]
    method = "tv"                 # "auto" (the default) chooses from the data
    iterations = 100              # omit for the method's own default
    temporal_prior = false
    [segment]                     # seed_from_previous and any field of insitu4d.segment.SegmentationParameters
    min_volume_vox = 64

    [pipeline]                    # optional: where the runs go (insitu4d.pipeline.cluster); default inline
    workers = 4                   # a local dask cluster of 4 processes
    # scheduler = "tcp://10.0.0.5:8786"   # or a running dask scheduler (not with workers)

    [uncertainty]                 # error bars from the twin (insitu4d.pipeline.uncertainty)
    repeats = 3                   # noise realisations per evaluated time point; 0: no error bars
    time_points = 3               # evaluated time points (first, last, evenly between); 0: all
    probe_repeats = 1             # realisations of the probe scene (necks halved); 0: no probe
    seed = 0
    Z = 29                        # atomic number of the twin's particles

    [[timepoints]]                # one table per tilt series, in time order
    time_s = 0.0
    temperature_C = 350.0
    tiltseries = "T01.mrc"        # omit to let [simulation] make it
    tilts = "T01.rawtlt"          # optional (a sidecar beside the stack is found)
    edx = "T01_edx/"              # optional: EDX spectrum images, one file per tilt (element volumes)

    [simulation]                  # the digital twin (insitu4d.simulate)
    shape_px = [48, 64, 96]       # (nz, ny, nx)
    tilt_min_deg = -40.0
    tilt_max_deg = 40.0
    tilt_step_deg = 2.0
    seed = 1
    drift_max_px = 20.0
    tilt_axis_offset_px = 3.0
    tilt_axis_rotation_deg = 0.0

    [[simulation.pairs]]          # sintering pairs: model-C geometry, (r_n/r_p)^n = B (t − t0)
    midpoint_nm = [0.0, 0.0, 0.0]
    axis = [0.0, 0.0, 1.0]
    r_p_nm = 75.0
    law_n = 5.0
    law_B_per_s = 2e-4
    t0_s = -5.0

    [[simulation.spheres]]        # particles that do not sinter
    centre_nm = [0.0, 150.0, 0.0]
    radius_nm = 40.0              # or semi_axes_nm = [z, y, x]
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ..errors import InvalidParameter, UnreadableFile
from ..io.holder_log import HolderLog, read_holder_log
from ..simulate import PairSpec, Sphere, TwinSpec
from .kinetics import KineticsParameters
from ..segment import SegmentationParameters
from .cluster import ClusterSettings
from .run import STAGE_TABLES, RunParameters
from .uncertainty import UncertaintyParameters

__all__ = ["TimePoint", "Experiment", "read_experiment"]


@dataclass(frozen=True)
class TimePoint:
    """One tilt series of the experiment: when, at what temperature, and which file (None: simulated)."""

    index: int
    time_s: float
    temperature_C: float | None
    tiltseries: Path | None
    tilts: Path | None
    edx: Path | None = None

    @property
    def name(self) -> str:
        return f"T{self.index + 1:02d}"


@dataclass(frozen=True)
class Experiment:
    """A parsed experiment description (:func:`read_experiment`)."""

    name: str
    path: Path
    timepoints: tuple[TimePoint, ...]
    params: RunParameters
    dose_e_per_nm2: float | None
    twin: TwinSpec | None
    acquisition: dict
    uncertainty: UncertaintyParameters
    kinetics: KineticsParameters = KineticsParameters()
    holder_log: HolderLog | None = None
    cluster: ClusterSettings = ClusterSettings()

    @property
    def times_s(self) -> np.ndarray:
        return np.array([t.time_s for t in self.timepoints])


#: Tables of an experiment file (and the top-level ``name``).
TABLES = ("name", "acquisition", *STAGE_TABLES, "kinetics", "uncertainty", "timepoints", "simulation", "pipeline")
#: Keys of the [pipeline] table (insitu4d.pipeline.cluster.ClusterSettings).
PIPELINE_KEYS = ("workers", "scheduler")
ACQUISITION_KEYS = ("pixel_size_nm", "tilts_unit", "dose_e_per_nm2", "holder_log", "holder_timezone",
                    "holder_clock_offset_s", "beam_energy_keV",
                    "probe_current_pA", "dwell_time_ns", "dwell_time_s", "frame_time_s", "microscope", "detector",
                    "notes")
TIMEPOINT_KEYS = ("time_s", "temperature_C", "tiltseries", "tilts", "edx")
SIMULATION_KEYS = ("shape_px", "tilt_min_deg", "tilt_max_deg", "tilt_step_deg", "seed", "drift_max_px",
                   "tilt_axis_offset_px", "tilt_axis_rotation_deg", "lambda_cu_nm", "pairs", "spheres")
PAIR_KEYS = ("midpoint_nm", "axis", "r_p_nm", "law_n", "law_B_per_s", "t0_s", "max_neck_ratio", "Z")
SPHERE_KEYS = ("centre_nm", "radius_nm", "semi_axes_nm", "Z")


def _check_keys(table: dict, known, where: str) -> None:
    """Refuse keys that are not in ``known``, naming the nearest valid one."""
    for key in table:
        if key not in known:
            near = difflib.get_close_matches(key, list(known), n=1, cutoff=0.5)
            hint = f"did you mean '{near[0]}'? " if near else ""
            raise InvalidParameter(f"{where}: unknown key '{key}'; {hint}valid keys: {', '.join(known)}.")


def _table(doc: dict, key: str, where: str) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise InvalidParameter(f"{where}: [{key}] must be a table ([{key}] followed by key = value lines); "
                               f"got {value!r}.")
    return value


def _tables(doc: dict, key: str, where: str) -> list[dict]:
    """An array of tables ([[key]]), each checked to be a table."""
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidParameter(f"{where}: {key} must be tables, one [[{key}]] block each; got {value!r}.")
    return value


def _path(table: dict, key: str, where: str, base: Path) -> Path | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidParameter(f"{where}: '{key}' must be a file name in quotes; got {value!r}.")
    return base / value


def _number(table: dict, key: str, where: str, default=None, required: bool = False):
    if key not in table:
        if required:
            raise InvalidParameter(f"{where}: '{key}' is missing.")
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParameter(f"{where}: '{key}' must be a number; got {value!r}.")
    return float(value)


def _vector(table: dict, key: str, where: str) -> tuple[float, float, float]:
    value = table.get(key)
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, (int, float)) for v in value)):
        raise InvalidParameter(f"{where}: '{key}' must be three numbers (z, y, x); got {value!r}.")
    return tuple(float(v) for v in value)


def _twin(sim: dict, times: list[float], dose: float | None, pixel_size_nm: float | None, where: str) -> TwinSpec:
    _check_keys(sim, SIMULATION_KEYS, f"{where} [simulation]")
    if dose is None or pixel_size_nm is None:
        raise InvalidParameter(f"{where}: the simulation needs [acquisition] dose_e_per_nm2 and pixel_size_nm.")
    shape = sim.get("shape_px")
    if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(n, int) and n > 0 for n in shape)):
        raise InvalidParameter(f"{where}: [simulation] shape_px must be three positive integers (nz, ny, nx).")
    lo = _number(sim, "tilt_min_deg", where, -40.0)
    hi = _number(sim, "tilt_max_deg", where, 40.0)
    step = _number(sim, "tilt_step_deg", where, 2.0)
    if step <= 0 or hi <= lo:
        raise InvalidParameter(f"{where}: need tilt_min_deg < tilt_max_deg and tilt_step_deg > 0.")
    tilts = tuple(np.round(np.arange(lo, hi + step / 2, step), 6))
    pairs = []
    for i, p in enumerate(_tables(sim, "pairs", f"{where} [simulation]")):
        w = f"{where} [[simulation.pairs]] #{i + 1}"
        _check_keys(p, PAIR_KEYS, w)
        pairs.append(PairSpec(_vector(p, "midpoint_nm", w), _vector(p, "axis", w),
                              _number(p, "r_p_nm", w, required=True), _number(p, "law_n", w, 5.0),
                              _number(p, "law_B_per_s", w, required=True), _number(p, "t0_s", w, 0.0),
                              _number(p, "max_neck_ratio", w, 0.9), int(_number(p, "Z", w, 29))))
    spheres = []
    for i, s in enumerate(_tables(sim, "spheres", f"{where} [simulation]")):
        w = f"{where} [[simulation.spheres]] #{i + 1}"
        _check_keys(s, SPHERE_KEYS, w)
        if "semi_axes_nm" in s:
            axes = _vector(s, "semi_axes_nm", w)
        else:
            axes = (_number(s, "radius_nm", w, required=True),) * 3
        spheres.append(Sphere(_vector(s, "centre_nm", w), axes, int(_number(s, "Z", w, 29))))
    return TwinSpec(tuple(shape), pixel_size_nm, tilts, dose, tuple(times), tuple(pairs), tuple(spheres),
                    seed=int(_number(sim, "seed", where, 0)), drift_max_px=_number(sim, "drift_max_px", where, 0.0),
                    tilt_axis_offset_px=_number(sim, "tilt_axis_offset_px", where, 0.0),
                    tilt_axis_rotation_deg=_number(sim, "tilt_axis_rotation_deg", where, 0.0),
                    lambda_cu_nm=_number(sim, "lambda_cu_nm", where, 600.0))


def _settings(doc: dict, key: str, cls, where: str):
    """The dataclass ``cls`` from the TOML table [key], unknown fields refused by name."""
    table = _table(doc, key, where)
    _check_keys(table, [f.name for f in fields(cls)], f"{where} [{key}]")
    try:
        return cls(**table)
    except InvalidParameter as exc:
        raise InvalidParameter(f"{where} [{key}]: {exc}") from None
    except TypeError as exc:  # a value of a type the field cannot compare or convert
        raise InvalidParameter(f"{where} [{key}]: a value has the wrong type ({exc}); see the field's type in "
                               f"{cls.__name__}.") from None


def _run_parameters(doc: dict, acq: dict, pixel_size: float | None, where: str) -> RunParameters:
    """RunParameters from the stage tables, each key checked against its own stage's fields."""
    values: dict = {"pixel_size_nm": pixel_size}
    if "tilts_unit" in acq:
        values["tilts_unit"] = acq["tilts_unit"]
    segment = dict(_table(doc, "segment", where))
    if "seed_from_previous" in segment:
        values["seed_from_previous"] = segment.pop("seed_from_previous")
    seg_fields = [f.name for f in fields(SegmentationParameters)]
    _check_keys(segment, ["seed_from_previous", *seg_fields], f"{where} [segment]")
    for stage in STAGE_TABLES:
        if stage != "segment":
            table = _table(doc, stage, where)
            _check_keys(table, RunParameters.stage_fields(stage), f"{where} [{stage}]")
            values.update(table)
    try:
        segmentation = SegmentationParameters(**segment)
    except (InvalidParameter, TypeError) as exc:
        raise InvalidParameter(f"{where} [segment]: {exc}") from None
    try:
        return RunParameters(segmentation=segmentation, **values)
    except InvalidParameter as exc:
        raise InvalidParameter(f"{where}: {exc}") from None
    except TypeError as exc:  # a value of a type the field cannot compare or convert
        raise InvalidParameter(f"{where}: a value has the wrong type ({exc}).") from None


def _pipeline(doc: dict, where: str) -> ClusterSettings:
    """The [pipeline] table: where the runs go. Stage parameters in it (the flat table of earlier
    versions) get a message saying where each now goes."""
    if "pipeline" not in doc:
        return ClusterSettings()
    table = _table(doc, "pipeline", where)
    stages = [key for key in table if key not in PIPELINE_KEYS and
              any(key in RunParameters.stage_fields(s) for s in (*STAGE_TABLES, "acquisition"))]
    if stages:
        moves = [f"{key} → [{next(s for s in (*STAGE_TABLES, 'acquisition') if key in RunParameters.stage_fields(s))}]"
                 for key in stages]
        raise InvalidParameter(f"{where}: the stage parameters of [pipeline] moved to one table per stage "
                               f"({', '.join(STAGE_TABLES)}); move {', '.join(moves)}. [pipeline] holds only "
                               f"{' and '.join(PIPELINE_KEYS)}.")
    _check_keys(table, PIPELINE_KEYS, f"{where} [pipeline]")
    try:
        return ClusterSettings(**table)
    except InvalidParameter as exc:
        raise InvalidParameter(f"{where} [pipeline]: {exc}") from None


def _uncertainty(doc: dict, dose: float | None, where: str) -> UncertaintyParameters:
    if "uncertainty" not in doc:
        return UncertaintyParameters(repeats=UncertaintyParameters.repeats if dose else 0)
    settings = _settings(doc, "uncertainty", UncertaintyParameters, where)
    if settings.repeats and not dose:
        raise InvalidParameter(f"{where}: [uncertainty] needs [acquisition] dose_e_per_nm2 (per tilt series) to "
                               "image the twin at the experiment's dose; set it, or repeats = 0.")
    return settings


def read_experiment(path) -> Experiment:
    """Read and check an experiment TOML file (schema in the module docstring).

    Parameters
    ----------
    path : str or Path
        The experiment's ``.toml`` file; relative paths in it are taken from its folder.

    Returns
    -------
    Experiment

    Raises
    ------
    UnreadableFile
        The file is missing or not valid TOML.
    InvalidParameter
        A field is missing, of the wrong type, or out of range; the message names it.
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UnreadableFile(f"experiment file {path} does not exist.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UnreadableFile(f"{path.name} is not valid TOML (UTF-8 text of key = value lines and [tables]): "
                             f"{exc}.") from None
    except IsADirectoryError:
        raise UnreadableFile(f"{path} is a folder; give the experiment's .toml file.") from None
    where = path.name
    _check_keys(doc, TABLES, where)
    cluster = _pipeline(doc, where)
    if not isinstance(doc.get("name", ""), str):
        raise InvalidParameter(f"{where}: name must be text in quotes; got {doc['name']!r}.")
    acq = _table(doc, "acquisition", where)
    _check_keys(acq, ACQUISITION_KEYS, f"{where} [acquisition]")
    pixel_size = _number(acq, "pixel_size_nm", where)
    params = _run_parameters(doc, acq, pixel_size, where)
    entries = _tables(doc, "timepoints", where)
    if not entries:
        raise InvalidParameter(f"{where}: no [[timepoints]]; list one table per tilt series.")
    timepoints = []
    for i, tp in enumerate(entries):
        w = f"{where} [[timepoints]] #{i + 1}"
        _check_keys(tp, TIMEPOINT_KEYS, w)
        timepoints.append(TimePoint(i, _number(tp, "time_s", w, required=True), _number(tp, "temperature_C", w),
                                    _path(tp, "tiltseries", w, path.parent), _path(tp, "tilts", w, path.parent),
                                    _path(tp, "edx", w, path.parent)))
    times = [t.time_s for t in timepoints]
    if any(b <= a for a, b in zip(times, times[1:])):
        raise InvalidParameter(f"{where}: time_s must increase from one time point to the next; got {times}.")
    holder_log = _path(acq, "holder_log", f"{where} [acquisition]", path.parent)
    zone_name = acq.get("holder_timezone", "UTC")
    if not isinstance(zone_name, str):
        raise InvalidParameter(f"{where} [acquisition]: holder_timezone must be an IANA name such as 'UTC'.")
    log = read_holder_log(holder_log, timezone=zone_name) if holder_log is not None else None
    offset = _number(acq, "holder_clock_offset_s", where, default=0.0)
    if log is not None:
        timepoints = [tp if tp.temperature_C is not None else
                      dataclasses.replace(tp, temperature_C=float(log.temperature_at(tp.time_s + offset)[0]))
                      for tp in timepoints]
    kinetics = _settings(doc, "kinetics", KineticsParameters, where)
    dose = _number(acq, "dose_e_per_nm2", where)
    sim = _table(doc, "simulation", where) if "simulation" in doc else None
    twin = _twin(sim, times, dose, pixel_size, where) if sim is not None else None
    missing = [t.name for t in timepoints if t.tiltseries is None]
    if missing and twin is None:
        raise InvalidParameter(f"{where}: time points {', '.join(missing)} name no tiltseries and there is no "
                               "[simulation] to make them.")
    return Experiment(str(doc.get("name", path.stem)), path, tuple(timepoints), params, dose, twin, dict(acq),
                      _uncertainty(doc, dose, where), kinetics, log, cluster)
