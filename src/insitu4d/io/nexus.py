"""NeXus NXem files of insitu4d's results, written and validated with pynxtools (extra ``nexus``).

``run.nxs`` describes one time point (one tilt series); ``experiment.nxs`` holds one entry per
time point plus an entry ``experiment`` with the tracked particles, the pairs' time series
with their error bars and the fits. Each entry follows FAIRmat's application definition NXem
(NeXus definitions as shipped with pynxtools) and is checked against it with pynxtools'
validator before it is written.

Where each number is, as plain HDF5 paths (``ENTRY`` is ``entry1`` in ``run.nxs`` and the
time point's name, ``T01`` …, in ``experiment.nxs``):

* tilt angles: ``/ENTRY/sample_reference_frame/transformations/tilt`` (deg);
* dose: ``/ENTRY/dose/dose/dose_per_image`` and ``…/cumulative_dose`` (e⁻/nm²);
* alignment shifts: ``/ENTRY/alignment/shifts/shift_y`` and ``…/shift_x`` (px of the aligned
  images, applied to each image), also as transformations of the aligned frame;
* voxel size: ``/ENTRY/reconstruction/volume/x`` (axis in nm; its ``@voxel_size_nm``);
* volume: ``/ENTRY/reconstruction/volume/intensity`` ((z, y, x));
* labels: ``/ENTRY/segmentation/labels/label``;
* neck radii with error bars: ``/ENTRY/measurement_3d/pairs/r_n`` and ``r_n_errors`` (nm); in
  ``experiment.nxs`` over time: ``/experiment/tracking/pairs/r_n`` and ``r_n_errors``.

Frames of reference (also in ``/ENTRY/note_conventions``): the image frame (x along image
columns, y along rows, pixels), the aligned frame (the image turned about the beam by the
tilt-axis direction and shifted per image, so that the tilt axis runs along y through the
centre), the stage frame (the aligned frame tilted by θ about y), and the volume frame ((z, y, x)
arrays; z along the beam at 0° tilt, y the tilt axis). A volume point (x, z) projects to
u = x cos θ + z sin θ in the aligned image (both centred).

Reference: NXem, FAIRmat-NFDI NeXus definitions, https://fairmat-nfdi.github.io/nexus_definitions/.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidParameter, MissingExtra, UnreadableFile
from .writers import atomic_path, read_array

__all__ = ["NexusReport", "export_nexus", "validate_nexus", "nexus_available", "time_point_entry",
           "experiment_entry", "write_nexus"]

APPDEF = "NXem"

#: NXem requires a sample's atom types and preparation date, which insitu4d is not told: these stand for unknown.
UNKNOWN_SAMPLE = ("atom_types 'unknown' and preparation_date 1970-01-01T00:00:00+00:00 (the Unix epoch) stand for "
                  "unknown: NXem requires both, and insitu4d is not told them.")

CONVENTIONS = (
    "Frames of reference of insitu4d. Image frame: x along image columns (to the right), y along image rows "
    "(down), z toward the detector along the beam; pixels. Aligned frame: the image turned about z by "
    "tilt_axis_deg + tilt_axis_rotation_deg (counter-clockwise in (y, x) array coordinates) and shifted by "
    "(shift_y, shift_x) pixels per image, so that the tilt axis runs along y through the image centre. Stage "
    "frame: the sample at tilt angle theta is the volume turned by theta about y (single-axis tilt). Volume "
    "frame: arrays (z, y, x); z along the beam at 0 deg, y the tilt axis, x perpendicular; voxel (0, 0, 0) at the "
    "origin, axes in nm. A volume point (x, z) relative to the volume centre projects to u = x cos(theta) + "
    "z sin(theta) relative to the aligned image centre.")


def nexus_available() -> bool:
    """Whether pynxtools (extra ``nexus``) is installed.

    Returns
    -------
    bool
    """
    try:
        import pynxtools  # noqa: F401
    except ImportError:
        return False
    return True


def _require() -> None:
    if not nexus_available():
        raise MissingExtra("NeXus files need pynxtools, which is not installed: pip install 'insitu4d[nexus]'.")


@dataclass(frozen=True)
class NexusReport:
    """The outcome of validating a NeXus file or template against NXem.

    Attributes
    ----------
    valid : bool
    problems : tuple of str
        The validator's messages (missing required concepts, wrong types or units, undocumented
        paths), empty when valid.
    """

    valid: bool
    problems: tuple[str, ...]


@contextlib.contextmanager
def _collected_messages():
    """pynxtools' validation messages (it logs them) collected into a list, its collector cleared."""
    from pynxtools.dataconverter.helpers import collector

    messages: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                messages.append(record.getMessage())

    logger = logging.getLogger("pynxtools")
    handlers, propagate = logger.handlers[:], logger.propagate
    logger.handlers = [_Keep()]
    logger.propagate = False
    collector.clear()
    try:
        yield messages
    finally:
        logger.handlers = handlers
        logger.propagate = propagate
        collector.clear()


def validate_nexus(path) -> NexusReport:
    """Validate every NXentry of a NeXus file against the application definition it declares.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    NexusReport
        Not valid when an entry declares no definition, or when the file holds no entry.

    Raises
    ------
    MissingExtra
        pynxtools is not installed.
    UnreadableFile
        The file is missing or not HDF5.
    """
    _require()
    import h5py
    from pynxtools.dataconverter.validation import validate_hdf_group_against

    path = Path(path)
    if not path.is_file() or not h5py.is_hdf5(path):
        raise UnreadableFile(f"{path} is not an HDF5 file; give a .nxs file written by 'insitu4d export --nexus'.")
    problems: list[str] = []
    with h5py.File(path, "r") as f:
        entries = [name for name, g in f.items() if _text(g.attrs.get("NX_class")) == "NXentry"]
        definitions = {name: _text(f[name]["definition"][()]) if "definition" in f[name] else None
                       for name in entries}
    if not entries:
        problems.append(f"{path.name} holds no NXentry")
    valid = bool(entries)
    for name, definition in definitions.items():
        if definition is None:
            problems.append(f"/{name} declares no application definition")
            valid = False
            continue
        with _collected_messages() as messages, h5py.File(path, "r") as f:
            ok = validate_hdf_group_against(definition, f[name], filename=str(path))
        valid &= bool(ok)
        problems.extend(messages if not ok else [])
    return NexusReport(valid, tuple(problems))


def _text(value) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def write_nexus(entries: dict[str, dict[str, Any]], path) -> Path:
    """Validate template entries against NXem, then write them with pynxtools' writer, atomically.

    Parameters
    ----------
    entries : dict of str to dict
        Entry name to its template (:func:`time_point_entry`, :func:`experiment_entry`).
    path : str or Path
        The ``.nxs`` file.

    Returns
    -------
    Path

    Raises
    ------
    MissingExtra
        pynxtools is not installed.
    InvalidParameter
        A template does not satisfy NXem (the validator's first messages are given): a defect of
        insitu4d, reported rather than written.
    """
    _require()
    from pynxtools.dataconverter.helpers import get_nxdl_root_and_path
    from pynxtools.dataconverter.template import Template
    from pynxtools.dataconverter.validation import validate_dict_against
    from pynxtools.dataconverter.writer import Writer

    template = Template()
    for name, entry in entries.items():
        for key, value in entry.items():
            template[f"/ENTRY[{name}]{key}"] = value
    plain = Template()  # the validator reads arrays, not the writer's {"compress": array} requests
    for key, value in template.items():
        plain[key] = value["compress"] if isinstance(value, dict) and "compress" in value else value
    with _collected_messages() as messages:
        ok = validate_dict_against(APPDEF, plain, ignore_undocumented=False)
    if not ok:
        raise InvalidParameter(f"the NeXus template of {Path(path).name} does not satisfy {APPDEF}: "
                               + "; ".join(messages[:5]))
    _, nxdl_path = get_nxdl_root_and_path(APPDEF)
    path = Path(path)
    with atomic_path(path) as tmp, _collected_messages():
        Writer(data=template, nxdl_f_path=nxdl_path, output_path=str(tmp)).write()
    return path


class _Entry(dict):
    """A template entry: keys relative to the entry, with helpers for units and NXdata groups."""

    def put(self, key: str, value, units: str | None = None, **attrs) -> None:
        if value is None:
            return
        self[key] = value
        if units is not None:
            self[f"{key}/@units"] = units
        for name, attr in attrs.items():
            self[f"{key}/@{name}"] = attr

    def data(self, group: str, signals: dict[str, tuple], axes: list[tuple[str, np.ndarray, str | None]],
             title: str) -> None:
        """An NXdata group: ``signals`` name -> (array, units, errors or None); ``axes`` (name, values, units)."""
        base = f"{group}"
        first = next(iter(signals))
        for name, (values, units, errors) in signals.items():
            values = values if isinstance(values, dict) else np.asarray(values)  # dict: compressed by the writer
            self.put(f"{base}/DATA[{name}]", values, units, long_name=f"{name} ({units or 'a.u.'})")
            if errors is not None:
                self.put(f"{base}/FIELDNAME_errors[{name}_errors]", np.asarray(errors, float), units)
        for i, (name, values, units) in enumerate(axes):
            self.put(f"{base}/AXISNAME[{name}]", np.asarray(values), units, long_name=f"{name} ({units or 'index'})")
            self[f"{base}/@AXISNAME_indices[{name}_indices]"] = np.uint32(i)
        self[f"{base}/@signal"] = first
        self[f"{base}/@axes"] = [a[0] for a in axes]
        self[f"{base}/title"] = title


def _parameters(entry: _Entry, group: str, values: dict) -> None:
    """Scalars as NXparameters fields; other values as JSON text."""
    for name, value in values.items():
        if isinstance(value, (bool, np.bool_)):
            value = str(bool(value))
        elif value is None or isinstance(value, (list, tuple, dict)):
            value = json.dumps(value, default=str)
        entry.put(f"{group}/PARAMETERS[parameters]/PARAMETER[{name}]", value)


def _process(entry: _Entry, name: str, index: int, version: str, date: str | None, parameters: dict) -> str:
    group = f"/PROCESS[{name}]"
    entry.put(f"{group}/program", "insitu4d")
    entry.put(f"{group}/version", version)
    entry.put(f"{group}/sequence_index", index)
    entry.put(f"{group}/date", date)
    _parameters(entry, group, parameters)
    return group


def _frame(entry: _Entry, key: str, alias: str, directions: tuple[str, str, str]) -> None:
    entry.put(f"{key}/alias", alias)
    entry.put(f"{key}/type", "cartesian")
    entry.put(f"{key}/origin", "front_top_left")
    for axis, vector, direction in zip("xyz", np.eye(3), directions):
        entry.put(f"{key}/{axis}", vector, "nm")
        entry.put(f"{key}/{axis}_direction", direction)


def _transformation(entry: _Entry, key: str, values, kind: str, vector, units: str, depends_on: str) -> None:
    entry.put(key, np.atleast_1d(np.asarray(values, float)), units, transformation_type=kind,
              vector=np.asarray(vector, float), depends_on=depends_on)


def _dose(run, acquisition: dict | None) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Per-image and cumulative dose (e⁻/nm²) and where they came from."""
    n = len(run.tilt_series.tilts_deg)
    if "dose_per_frame_e_per_nm2" in run.dose:
        per = np.full(n, float(run.dose["dose_per_frame_e_per_nm2"]))
        return per, np.cumsum(per), "probe current × dwell time / pixel area (tilt-series metadata)"
    total = (acquisition or {}).get("dose_e_per_nm2")
    if total:
        per = np.full(n, float(total) / n)
        return per, np.cumsum(per), "the experiment file's dose_e_per_nm2, shared equally by the images"
    return None


def time_point_entry(folder, *, acquisition: dict | None = None, temperature_C: float | None = None,
                     is_simulation: bool = False, sample_name: str | None = None) -> dict[str, Any]:
    """The NXem template entry of a finished time point (a folder of ``insitu4d run``).

    Parameters
    ----------
    folder : str or Path
        Holds ``run.json``, ``volume.h5``, ``labels.h5``, ``measurements.json`` and, from this
        version on, ``aligned_tilt_series.h5``.
    acquisition : dict, optional
        The experiment's ``[acquisition]`` (dose when the tilt series has no metadata).
    temperature_C : float, °C, optional
        The holder's temperature at this time point.
    is_simulation : bool
        The tilt series is the digital twin's.
    sample_name : str, optional

    Returns
    -------
    dict
        Template keys relative to the entry (``/definition`` …) to values.

    Raises
    ------
    UnreadableFile
        ``folder`` is not a finished time point of insitu4d (names what is missing).
    """
    from ..measure import Measurements
    from ..pipeline.result import TimePointResult

    folder = Path(folder)
    missing = [n for n in ("run.json", "volume.h5", "labels.h5", "measurements.json") if not (folder / n).is_file()]
    if missing:
        raise UnreadableFile(f"{folder} is not a finished insitu4d time point: {', '.join(missing)} missing. "
                             "Give an output folder of 'insitu4d run'.")
    run = TimePointResult.load(folder / "run.json")
    volume, volume_attrs = read_array(folder / "volume.h5")
    labels, _ = read_array(folder / "labels.h5")
    measurements = Measurements.load(folder / "measurements.json")
    voxel = float(volume_attrs.get("voxel_size_nm", run.tilt_series.pixel_size_nm))
    prov = run.provenance
    start = prov.started_utc if prov is not None else None
    e = _Entry()
    e.put("/definition", APPDEF)
    e.put("/start_time", start or "1970-01-01T00:00:00+00:00")
    e.put("/end_time", prov.finished_utc if prov is not None else None)
    e.put("/experiment_description", f"insitu4d {run.software_version}: tilt series "
          f"{Path(run.inputs['tilt_series'].path).name} to volume, particles and necks")
    for i, (name, version) in enumerate(sorted((prov.libraries if prov else {"insitu4d": run.software_version})
                                               .items()), start=1):
        e.put(f"/profiling/programID[program{i}]/program", name, version=version)
    for name, record in run.inputs.items():
        note = f"/noteID[note_{name}]"
        e.put(f"{note}/type", "input file" + (f" (not used: {record.unused})" if record.unused else ""))
        e.put(f"{note}/file_name", record.path)
        e.put(f"{note}/checksum", record.sha256)
        e.put(f"{note}/algorithm", "sha256")
    e.put("/noteID[note_run_record]/type", "application/json")
    e.put("/noteID[note_run_record]/file_name", "run.json")
    e.put("/noteID[note_run_record]/description", json.dumps(run.to_dict(), default=str))
    e.put("/sampleID[sample]/is_simulation", bool(is_simulation))
    e.put("/sampleID[sample]/name", sample_name)
    elements = sorted({line.split("_")[0] for line in (run.edx or {}).get("lines", [])})
    e.put("/sampleID[sample]/atom_types", ", ".join(elements) if elements else "unknown")
    e.put("/sampleID[sample]/preparation_date", "1970-01-01T00:00:00+00:00")
    e.put("/sampleID[sample]/description", UNKNOWN_SAMPLE)
    _frames(e, run, voxel)
    _instrument(e, run, temperature_C, is_simulation)
    _stages(e, run, acquisition, volume, labels, voxel, measurements, folder, start)
    _elements(e, folder, run)
    _correlation(e, folder, run.software_version)
    return dict(e)


#: ``insitu4d correlate`` runs after the time point's stages: its NXprocess comes after them all.
CORRELATION_SEQUENCE_INDEX = 99
#: The EDX stage (element volumes, :mod:`insitu4d.pipeline.edx`) follows the HAADF stages.
ELEMENTS_SEQUENCE_INDEX = 90


def _elements(e: _Entry, folder: Path, run) -> None:
    """The element volumes and the composition of an EDX series (``run.json`` ``edx``), as NXdata of one NXprocess."""
    if not run.edx:
        return
    edx = run.edx
    g = _process(e, "element_reconstruction", ELEMENTS_SEQUENCE_INDEX, run.software_version, None,
                 {k: edx[k] for k in ("method", "bin_factor", "reference_line", "lines_source", "overlaps")
                  if k in edx})
    e.put(f"{g}/PARAMETERS[parameters]/PARAMETER[lines]", ", ".join(edx["lines"]))
    e.put(f"{g}/PARAMETERS[parameters]/PARAMETER[line_energies]", np.asarray(edx["line_energies_keV"], float), "keV")
    e.put(f"{g}/PARAMETERS[parameters]/PARAMETER[gain_per_tilt]", np.asarray(edx["gain_per_tilt"], float))
    e.put(f"{g}/PARAMETERS[parameters]/PARAMETER[voxel_size]", float(edx["voxel_size_nm"]), "nm")
    for line in edx["lines"]:
        path = folder / "elements" / f"{line}.h5"
        if not path.is_file():
            continue
        volume, _ = read_array(path)
        axes = [(a, np.arange(n) * float(edx["voxel_size_nm"]), "nm") for a, n in zip("zyx", volume.shape)]
        e.data(f"{g}/DATA[{line}]", {"intensity": ({"compress": volume.astype(np.float32), "strength": 4}, None,
                                                   None)},
               axes, f"{line}: expected X-ray counts per voxel and tilt (z, y, x)")
    composition = folder / "composition.csv"
    if composition.is_file():
        import csv

        with open(composition, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        particles = sorted({int(r["particle"]) for r in rows})
        if particles:
            signals = {}
            for line in edx["lines"]:
                mine = {int(r["particle"]): r for r in rows if r["line"] == line}
                signals[f"fraction_{line}"] = ([float(mine[p]["count_fraction"]) for p in particles], None,
                                               [float(mine[p]["count_fraction_error"]) for p in particles])
            e.data(f"{g}/DATA[composition]", signals, [("particle", np.asarray(particles), None)],
                   "count fraction of each line per particle (errors: counting statistics)")


def _correlation(e: _Entry, folder: Path, version: str) -> None:
    """``correlation.json`` of ``insitu4d correlate``: the other image and the similarity transform."""
    path = folder / "correlation.json"
    if not path.is_file():
        return
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        transform, image = record["transform"], record["image"]
    except (OSError, ValueError, KeyError) as exc:
        raise UnreadableFile(f"{path} is not a correlation record of insitu4d ({exc}); run 'insitu4d correlate' "
                             "again or remove it.") from None
    g = _process(e, "correlation", CORRELATION_SEQUENCE_INDEX, version, None,
                 {"convention": record.get("convention", "")})
    for name in ("scale", "rotation_deg", "mutual_information"):
        if name in transform:
            e.put(f"{g}/PARAMETERS[parameters]/PARAMETER[{name}]", float(transform[name]))
    e.put(f"{g}/PARAMETERS[parameters]/PARAMETER[translation_yx]", np.asarray(transform["translation_nm"], float),
          "nm")
    e.put(f"{g}/NOTE[image]/file_name", image["path"])
    e.put(f"{g}/NOTE[image]/checksum", image["sha256"])
    e.put(f"{g}/NOTE[image]/algorithm", "sha256")


def _frames(e: _Entry, run, voxel_nm: float) -> None:
    ts = run.tilt_series
    _frame(e, "/detector_reference_frameID[detector_reference_frame1]", "image",
           ("image columns, to the right", "image rows, down", "along the beam, toward the detector"))
    aligned = "/NAMED_reference_frameID[aligned_reference_frame]"
    _frame(e, aligned, "aligned images", ("perpendicular to the tilt axis", "the tilt axis", "along the beam"))
    al = run.alignment
    rotation = run.tilt_axis_deg + (al.tilt_axis_rotation_deg if al is not None else 0.0)
    t = f"{aligned}/TRANSFORMATIONS[transformations]"
    _transformation(e, f"{t}/AXISNAME[rotation]", rotation, "rotation", (0, 0, 1), "deg", ".")
    if al is not None:
        shifts = np.asarray(al.shifts_px, float) * ts.pixel_size_nm
        _transformation(e, f"{t}/AXISNAME[shift_y]", shifts[:, 0], "translation", (0, 1, 0), "nm", "rotation")
        _transformation(e, f"{t}/AXISNAME[shift_x]", shifts[:, 1], "translation", (1, 0, 0), "nm", "shift_y")
    _frame(e, "/sample_reference_frame", "stage",
           ("perpendicular to the tilt axis", "the tilt axis", "along the beam at 0 deg tilt"))
    _transformation(e, "/sample_reference_frame/TRANSFORMATIONS[transformations]/AXISNAME[tilt]", ts.tilts_deg,
                    "rotation", (0, 1, 0), "deg", ".")
    _frame(e, "/processing_reference_frame", "volume (z, y, x) arrays",
           ("volume x, perpendicular to the tilt axis", "volume y, the tilt axis", "volume z, along the beam at 0 deg"))


def _instrument(e: _Entry, run, temperature_C: float | None, is_simulation: bool) -> None:
    acq = run.tilt_series.acquisition
    unknown = "simulated (insitu4d digital twin)" if is_simulation else "unknown"
    e.put("/measurement/instrument/fabrication/vendor", unknown)
    e.put("/measurement/instrument/fabrication/model", unknown)
    e.put("/measurement/instrument/ebeam_column/electron_source/emitter_type", unknown)
    if acq.get("beam_energy_keV"):
        e.put("/measurement/instrument/ebeam_column/electron_source/voltage", 1e3 * acq["beam_energy_keV"], "V")
    event = "/measurement/eventID[event1]"
    e.put(f"{event}/instrument/ebeam_column/operation_mode", "HAADF-STEM tilt series")
    if acq.get("dwell_time_s"):
        e.put(f"{event}/instrument/ebeam_column/scan_controller/scan_schema", "raster")
        e.put(f"{event}/instrument/ebeam_column/scan_controller/dwell_time", acq["dwell_time_s"], "s")
    if temperature_C is not None:
        sensor = f"{event}/instrument/sensorID[sensor_temperature]"
        e.put(f"{sensor}/measurement", "temperature")
        e.put(f"{sensor}/value", float(temperature_C), "degC")


def _stages(e: _Entry, run, acquisition, volume, labels, voxel, measurements, folder: Path, date) -> None:
    ts = run.tilt_series
    version = run.software_version
    dose = _dose(run, acquisition)
    index = 1
    if dose is not None:
        g = _process(e, "dose", index, version, date, {"source": dose[2]})
        e.data(f"{g}/DATA[dose]", {"dose_per_image": (dose[0], "1/nm^2", None),
                                   "cumulative_dose": (dose[1], "1/nm^2", None)},
               [("tilt_angle", np.asarray(ts.tilts_deg), "deg")], "electron dose per image and cumulative")
        index += 1
    g = _process(e, "preprocessing", index, version, date,
                 {"background_offsets": ts.background_offsets, "intensity_scale": ts.intensity_scale,
                  "steps": list(ts.history), "denoise": run.denoise})
    index += 1
    aligned = folder / "aligned_tilt_series.h5"
    if aligned.is_file():
        stack, _ = read_array(aligned)
        n, ny, nx = stack.shape
        image = "/measurement/eventID[event1]/imageID[image1]/stack_2d"
        e.put(f"{image}/real", {"compress": stack.astype(np.float32), "strength": 4},
              long_name="aligned HAADF intensity (normalised)")
        e.put(f"{image}/indices_image", np.arange(n), long_name="image index (tilt order)")
        e.put(f"{image}/axis_j", (np.arange(ny) - (ny - 1) / 2) * ts.pixel_size_nm, "nm", long_name="y (nm)")
        e.put(f"{image}/axis_i", (np.arange(nx) - (nx - 1) / 2) * ts.pixel_size_nm, "nm", long_name="x (nm)")
        e[f"{image}/@signal"] = "real"
        e[f"{image}/@axes"] = ["indices_image", "axis_j", "axis_i"]
        for i, name in enumerate(("indices_image", "axis_j", "axis_i")):
            e[f"{image}/@AXISNAME_indices[{name}_indices]"] = np.uint32(i)
        e[f"{image}/title"] = "aligned tilt series (tilt axis along y)"
    al = run.alignment
    params = {} if al is None else {k: v for k, v in al.to_dict().items() if k not in ("shifts_px", "quality")}
    g = _process(e, "alignment", index, version, date, {**params, "tilt_axis_deg": run.tilt_axis_deg})
    if al is not None:
        shifts = np.asarray(al.shifts_px, float)
        e.data(f"{g}/DATA[shifts]", {"shift_y": (shifts[:, 0], "pixel", None), "shift_x": (shifts[:, 1], "pixel", None),
                                     "quality": (np.asarray(al.quality, float), None, None)},
               [("tilt_angle", np.asarray(ts.tilts_deg), "deg")], "shift applied to each image (aligned frame)")
    index += 1
    g = _process(e, "reconstruction", index, version, date,
                 {k: v for k, v in run.reconstruction.items() if k != "software"})
    axes = [(a, np.arange(n) * voxel, "nm") for a, n in zip("zyx", volume.shape)]
    e.data(f"{g}/DATA[volume]", {"intensity": ({"compress": volume.astype(np.float32), "strength": 4}, None, None)},
           axes, "reconstructed volume (z, y, x)")
    e.put(f"{g}/PARAMETERS[parameters]/PARAMETER[voxel_size]", voxel, "nm")
    e.put(f"{g}/NOTE[frames_of_reference]/type", "text/plain")
    e.put(f"{g}/NOTE[frames_of_reference]/description", CONVENTIONS)
    e.put(f"{g}/PARAMETERS[parameters]/PARAMETER[reprojection_residual]", float(run.reprojection_residual))
    index += 1
    g = _process(e, "segmentation", index, version, date,
                 {k: v for k, v in run.segmentation.items()})
    e.data(f"{g}/DATA[labels]", {"label": ({"compress": np.asarray(labels, np.int32), "strength": 4}, None, None)},
           axes, "particle labels (0: background)")
    index += 1
    g = _process(e, "measurement_3d", index, version, date,
                 {"n_particles": run.n_particles, "n_pairs": run.n_pairs, "neck_fits": list(run.neck_fits)})
    _measurements(e, g, measurements, run, voxel)


def _measurements(e: _Entry, group: str, measurements, run, voxel: float) -> None:
    parts = measurements.particles
    if parts:
        e.data(f"{group}/DATA[particles]",
               {"r_p": ([p.r_p_nm for p in parts], "nm", None), "volume": ([p.volume_nm3 for p in parts], "nm^3", None),
                "aspect_ratio_hw": ([p.aspect_ratio_hw for p in parts], None, None),
                "centroid_z": ([p.centroid_nm[0] for p in parts], "nm", None),
                "centroid_y": ([p.centroid_nm[1] for p in parts], "nm", None),
                "centroid_x": ([p.centroid_nm[2] for p in parts], "nm", None)},
               [("label", np.array([p.label for p in parts]), None)], "particles")
    pairs = measurements.pairs
    if pairs:
        sd = {tuple(f["labels"]): f["r_n_sd_vox"] * voxel for f in run.neck_fits if f.get("accepted")}
        e.data(f"{group}/DATA[pairs]",
               {"r_n": ([p.r_n_nm for p in pairs], "nm", [sd.get(tuple(p.labels), np.nan) for p in pairs]),
                "d": ([p.d_nm for p in pairs], "nm", None), "r_p": ([p.r_p_nm for p in pairs], "nm", None),
                "label_a": ([p.labels[0] for p in pairs], None, None),
                "label_b": ([p.labels[1] for p in pairs], None, None)},
               [("pair_index", np.arange(len(pairs)), None)],
               "touching pairs: neck radius r_n (errors: SD of the neck fit where kept, else NaN), centre distance d")


def _csv_columns(path: Path) -> dict[str, list[str]]:
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {name: [r[name] for r in rows] for name in (rows[0] if rows else {})}


def _floats(values: list[str]) -> np.ndarray:
    return np.array([float(v) if v not in ("", "None", "nan") else np.nan for v in values], float)


def experiment_entry(outdir) -> dict[str, Any]:
    """The NXem template entry ``experiment`` of a finished 4D run: tracks, pairs over time, fits, temperature.

    Parameters
    ----------
    outdir : str or Path
        The output folder of ``insitu4d run EXPERIMENT.toml`` (``experiment.json``,
        ``pairs_timeseries.csv``, ``particles_timeseries.csv``).

    Returns
    -------
    dict

    Raises
    ------
    UnreadableFile
        A file of the finished run is missing or unreadable.
    """
    outdir = Path(outdir)
    summary = _experiment_summary(outdir)
    prov = summary.get("provenance") or {}
    starts = [prov.get("started_utc")] if prov.get("started_utc") else []
    e = _Entry()
    e.put("/definition", APPDEF)
    e.put("/start_time", starts[0] if starts else "1970-01-01T00:00:00+00:00")
    e.put("/end_time", prov.get("finished_utc") or None)
    e.put("/experiment_description", f"insitu4d 4D run: {summary['experiment']['name']}")
    for i, (name, version) in enumerate(sorted((prov.get("libraries") or {}).items()), start=1):
        e.put(f"/profiling/programID[program{i}]/program", name, version=version)
    e.put("/noteID[note_experiment_file]/type", "experiment description (TOML)")
    e.put("/noteID[note_experiment_file]/file_name", summary["experiment"]["file"])
    e.put("/noteID[note_experiment_file]/checksum", summary["experiment"]["sha256"])
    e.put("/noteID[note_experiment_file]/algorithm", "sha256")
    e.put("/noteID[note_experiment_record]/type", "application/json")
    e.put("/noteID[note_experiment_record]/file_name", "experiment.json")
    e.put("/noteID[note_experiment_record]/description", json.dumps(summary, default=str))
    e.put("/sampleID[sample]/is_simulation", summary.get("twin") is not None)
    e.put("/sampleID[sample]/name", summary["experiment"]["name"])
    e.put("/sampleID[sample]/atom_types", "unknown")
    e.put("/sampleID[sample]/preparation_date", "1970-01-01T00:00:00+00:00")
    e.put("/sampleID[sample]/description", UNKNOWN_SAMPLE)
    version = summary["software"]["version"]
    points = summary["time_points"]
    g = _process(e, "holder", 1, version, None, {"temperature_source": "experiment file / holder log"})
    temperatures = [np.nan if t.get("temperature_C") is None else t["temperature_C"] for t in points]
    e.data(f"{g}/DATA[temperature]", {"temperature": (temperatures, "degC", None)},
           [("time", [t["time_s"] for t in points], "s")], "holder temperature at each time point")
    g = _process(e, "tracking", 2, version, None, {"n_tracks": summary["n_tracks"], "n_pairs": summary["n_pairs"],
                                                   "events": summary["events"]})
    pairs = _csv_columns(outdir / "pairs_timeseries.csv")
    if pairs:
        pair_ids = np.array(pairs["pair_id"], int)
        for pid in np.unique(pair_ids):
            rows = pair_ids == pid
            col = {k: _floats(pairs[k])[rows] for k in ("time_s", "temperature_C", "r_n_nm", "r_n_err_nm", "d_nm",
                                                         "d_err_nm", "r_p_nm", "r_p_err_nm", "r_n_over_r_p",
                                                         "r_n_over_r_p_err")}
            e.data(f"{g}/DATA[pair_{pid}]",
                   {"r_n": (col["r_n_nm"], "nm", col["r_n_err_nm"]), "d": (col["d_nm"], "nm", col["d_err_nm"]),
                    "r_p": (col["r_p_nm"], "nm", col["r_p_err_nm"]),
                    "r_n_over_r_p": (col["r_n_over_r_p"], None, col["r_n_over_r_p_err"]),
                    "temperature": (col["temperature_C"], "degC", None)},
                   [("time", col["time_s"], "s")],
                   f"pair {pid}: neck radius r_n, centre distance d, particle radius r_p (errors: 1 sigma, twin)")
    tracks = _csv_columns(outdir / "particles_timeseries.csv")
    if tracks:
        col = {k: _floats(tracks[k]) for k in ("time_s", "track_id", "r_p_nm", "centroid_z_nm", "centroid_y_nm",
                                               "centroid_x_nm")}
        e.data(f"{g}/DATA[particles]",
               {"track_id": (col["track_id"].astype(int), None, None), "time": (col["time_s"], "s", None),
                "r_p": (col["r_p_nm"], "nm", None), "centroid_z": (col["centroid_z_nm"], "nm", None),
                "centroid_y": (col["centroid_y_nm"], "nm", None), "centroid_x": (col["centroid_x_nm"], "nm", None)},
               [("row", np.arange(len(col["time_s"])), None)], "particle tracks: one row per particle and time point")
    _process(e, "kinetics", 3, version, None, {"neck_growth_fits": summary.get("neck_growth_fits"),
                                                "kinetics": summary.get("kinetics"),
                                                "uncertainty": summary.get("uncertainty")})
    return dict(e)


def _experiment_summary(outdir: Path) -> dict:
    path = outdir / "experiment.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UnreadableFile(f"{outdir} is not a finished insitu4d 4D run: experiment.json missing.") from None
    except (OSError, ValueError) as exc:
        raise UnreadableFile(f"{path} is not readable JSON: {exc}.") from None


def export_nexus(folder) -> list[Path]:
    """Write ``run.nxs`` into each time point's folder and, for a 4D run, ``experiment.nxs``.

    A time point of a 4D run is written with the experiment's context (dose, temperature),
    which rewrites the whole run's files.

    Parameters
    ----------
    folder : str or Path
        An output folder of ``insitu4d run``: one time point (``run.json``) or a 4D run
        (``experiment.json`` and one folder per time point).

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    MissingExtra
        pynxtools is not installed.
    UnreadableFile
        ``folder`` is not an insitu4d output folder (names what was looked for).
    """
    _require()
    import h5py

    folder = Path(folder)
    if (folder / "experiment.json").is_file():
        summary = _experiment_summary(folder)
        written = []
        for tp in summary["time_points"]:  # one at a time: a full-resolution time point holds ~0.6 GB of arrays
            entry = time_point_entry(folder / tp["time_point"], acquisition=summary.get("acquisition"),
                                     temperature_C=tp.get("temperature_C"),
                                     is_simulation=summary.get("twin") is not None,
                                     sample_name=summary["experiment"]["name"])
            written.append(write_nexus({"entry1": entry}, folder / tp["time_point"] / "run.nxs"))
            del entry
        # the experiment's entry, then each time point's, copied from its validated run.nxs by HDF5 (streamed: 18
        # full-resolution time points held at once exceeded 24 GB)
        with atomic_path(folder / "experiment.nxs") as tmp:
            write_nexus({"experiment": experiment_entry(folder)}, tmp)
            with h5py.File(tmp, "a") as out:
                for tp in summary["time_points"]:
                    with h5py.File(folder / tp["time_point"] / "run.nxs", "r") as run:
                        out.copy(run["entry1"], tp["time_point"], expand_soft=True)
        written.append(folder / "experiment.nxs")
        return written
    if (folder / "run.json").is_file():
        if (folder.parent / "experiment.json").is_file():  # a time point of a 4D run: with the experiment's context
            return export_nexus(folder.parent)
        return [write_nexus({"entry1": time_point_entry(folder)}, folder / "run.nxs")]
    raise UnreadableFile(f"{folder} is not an insitu4d output folder: it holds neither experiment.json (a 4D run) "
                         "nor run.json (one tilt series). Give the folder that 'insitu4d run' wrote.")
