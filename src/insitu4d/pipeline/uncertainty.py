"""Error bars from the digital twin: the measured state re-imaged with new noise, and measured again.

At a few time points of a finished 4D run, the twin builds the scene that was measured
(every pair as two spheres of the measured r_p joined by a model-C neck of the measured
r_n, on the axis between the measured centroids; every other particle as a sphere of its
equivalent radius), images it as the experiment did (same voxel size, tilt angles, dose
per tilt series, and the drift, axis offset and rotation the alignment found there), and
runs the same align → reconstruct → segment → measure on ``repeats`` noise realisations.
Each measured quantity's error against the scene's truth gives its bias, its standard
deviation and its root-mean-square error, which holds both.

The twin is built at the *measured* state, which is itself off by the bias. Where the bias
changes with the size of the quantity (a small neck reads wider, and the smaller the wider),
the bias at the measured state understates the bias at the true one. To first order,
with b(x) the bias at true value x and measured value m = x + b(x), the true value solves
x* + b(x*) = m, so m − x* = b(m) / (1 + b'(x)): the bias at the measured state divided by
the response of the measurement to the truth. For the neck (r_n and r_n/r_p) the response
is read from a probe: the same scene with every neck at :data:`PROBE_NECK_SCALE` of its
measured radius, imaged and measured ``probe_repeats`` times; the response is the secant
(f(m) − f(x_probe)) / (m − x_probe) of the twin's mean reading f between the two scenes.
The twin built at the measured state alone cannot see this: a small neck that reads wide
is rebuilt wide, where the missing wedge no longer widens it. For the other quantities (and
where the probe found no pair) b' is the slope of the twin's bias against its true value
over the pair's evaluated time points (a least-squares line; 0 with fewer than two). The
error bar reported is √((a · bias)² + sd² (1 + 1/n)) with the amplification
a = 1 / (1 + b') limited to [1, 1/:data:`MIN_RESPONSE`]: never below the twin's own bias (a
bias that shrinks with size is not extrapolated away), and at most 5 times the bias where
the measurement hardly follows the truth (the first-order step is then unreliable). The
scatter enters as the predictive SD of one more measurement given n repeats, sd √(1 + 1/n)
(Hahn & Meeker, *Statistical Intervals*, Wiley 1991, doi:10.1002/9780470316771): with 3
repeats the mean and the SD are themselves uncertain.
Between the evaluated time points the error bar of a pair is interpolated linearly in time
(held constant outside them).

The twin's image formation (HAADF scattering length, Z) is the twin's assumption
(:mod:`insitu4d.simulate.haadf`); so are the spherical shapes. The error bar is what the
dose, the tilt range and the pipeline cost on a scene like the measured one: it does not
include shape errors the twin does not model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import Insitu4dError, InvalidParameter
from ..io.readers import read_tilt_series
from ..io.writers import read_array, write_tilt_series
from ..measure import Measurements
from ..simulate import SinteringPair, Sphere, simulate_scene
from ..simulate.compare import PAIR_QUANTITIES, score_pairs
from ..simulate.haadf import LAMBDA_CU_NM
from .result import TimePointResult
from .cluster import Runner, RunJob
from .run import RunParameters

__all__ = ["UncertaintyParameters", "scene_from_measurements", "twin_uncertainty", "error_bars", "error_column",
           "bias_response", "UNCERTAINTY_COLUMNS", "MIN_RESPONSE"]

UNCERTAINTY_COLUMNS = ["time_s", "time_point", "pair_id", "quantity", "value", "twin_true", "n_repeats", "n_found",
                       "bias", "sd", "rms", "probe_true", "probe_measured", "response", "error_bar"]

#: The probe scene's neck radii as a fraction of the measured ones (module notes).
PROBE_NECK_SCALE = 0.5
#: The quantities whose response is read from the probe.
PROBED_QUANTITIES = ("r_n_nm", "r_n_over_r_p")

#: Smallest response 1 + b' of a measured quantity to its true value that the bias correction
#: follows (module notes): the bias is amplified at most 1 / MIN_RESPONSE = 5 times.
MIN_RESPONSE = 0.2

#: Largest r_n/r_p the twin's scene is built with (model C ends at a full neck).
MAX_NECK_RATIO = 0.95


@dataclass(frozen=True)
class UncertaintyParameters:
    """How the twin makes the error bars (``[uncertainty]`` of the experiment TOML).

    Attributes
    ----------
    repeats : int
        Noise realisations per evaluated time point; 0 turns the error bars off.
    time_points : int
        Time points evaluated, spread evenly over the series with the first and the last;
        0 evaluates every time point.
    probe_repeats : int
        Noise realisations of the probe scene (necks at :data:`PROBE_NECK_SCALE` of the
        measured ones) per evaluated time point; 0 leaves the neck's response to the slope
        over time points.
    seed : int
        Seed of the twin's noise and drift.
    Z : int
        Atomic number of the twin's particles (HAADF contrast).
    lambda_cu_nm : float
        HAADF scattering length of Cu of the twin (:mod:`insitu4d.simulate.haadf`).
    """

    repeats: int = 3
    time_points: int = 3
    probe_repeats: int = 1
    seed: int = 0
    Z: int = 29
    lambda_cu_nm: float = LAMBDA_CU_NM

    def __post_init__(self) -> None:
        for name in ("repeats", "time_points", "probe_repeats", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidParameter(f"[uncertainty] {name} must be a whole number ≥ 0; got {value!r}.")
        if isinstance(self.Z, bool) or not isinstance(self.Z, int) or not 1 <= self.Z <= 118:
            raise InvalidParameter(f"[uncertainty] Z must be an atomic number 1 … 118; got {self.Z!r}.")
        if isinstance(self.lambda_cu_nm, bool) or not isinstance(self.lambda_cu_nm, (int, float)) \
                or not self.lambda_cu_nm > 0:
            raise InvalidParameter(f"[uncertainty] lambda_cu_nm must be a length > 0 nm; got {self.lambda_cu_nm!r}.")


def error_column(quantity: str) -> str:
    """Column of a quantity's error bar: ``r_n_nm`` → ``r_n_err_nm``, ``hw_a`` → ``hw_a_err``.

    Parameters
    ----------
    quantity : str

    Returns
    -------
    str
    """
    return quantity[:-3] + "_err_nm" if quantity.endswith("_nm") else quantity + "_err"


def scene_from_measurements(measurements: dict, shape_px, voxel_size_nm: float, *, Z: int = 29,
                            neck_scale: float = 1.0):
    """The twin's scene of a measured tilt series: pairs as model-C pairs, other particles as spheres.

    Parameters
    ----------
    measurements : Measurements
        Of one time point.
    shape_px : (nz, ny, nx)
        The reconstructed volume's shape.
    voxel_size_nm : float
    Z : int
    neck_scale : float
        Every neck radius is the measured one times this (the probe scene).

    Returns
    -------
    spheres : list of Sphere
    pairs : list of SinteringPair
        A particle is in one pair at most: a later pair that reuses a particle is left out
        of the scene (it gets no error bar at that time point).
    pair_labels : list of (int, int)
        The measured labels of each scene pair's halves a and b.
    """
    centre = (np.asarray(shape_px, float) - 1) / 2 * voxel_size_nm
    particles = {p.label: p for p in measurements.particles}
    used: set[int] = set()
    pairs, pair_labels = [], []
    for pair in measurements.pairs:
        la, lb = pair.labels
        if la in used or lb in used or pair.r_p_nm <= 0:
            continue
        ca = np.asarray(particles[la].centroid_nm) - centre
        cb = np.asarray(particles[lb].centroid_nm) - centre
        if not np.linalg.norm(cb - ca) > 0:
            continue
        r_p = float(pair.r_p_nm)
        r_n = float(np.clip(neck_scale * pair.r_n_nm, 0.0, MAX_NECK_RATIO * r_p))
        pairs.append(SinteringPair(tuple((ca + cb) / 2), tuple(cb - ca), r_p, r_n, int(Z)))
        pair_labels.append((la, lb))
        used.update((la, lb))
    spheres = [Sphere.round(np.asarray(p.centroid_nm) - centre, p.r_p_nm, Z)
               for label, p in particles.items() if label not in used and p.r_p_nm > 0]
    return spheres, pairs, pair_labels


def _misalignment(run: TimePointResult) -> dict:
    """Drift amplitude, axis offset and rotation the alignment of a time point found."""
    al = run.alignment
    if al is None:
        return {"drift_max_px": 0.0, "tilt_axis_offset_px": 0.0, "tilt_axis_rotation_deg": 0.0}
    shifts = np.asarray(al.shifts_px, float)
    return {"drift_max_px": float(np.max(np.abs(shifts - np.median(shifts, axis=0)))),
            "tilt_axis_offset_px": float(al.tilt_axis_offset_px),
            "tilt_axis_rotation_deg": float(al.tilt_axis_rotation_deg)}


def _write_stack(path: Path, ts) -> tuple[Path, Path]:
    """Write the repeat's tilt series unless the same one is there (its MRC header is dated, so a
    rewrite would change the checksum that lets a finished repeat be reused)."""
    tilts = path.with_suffix(".rawtlt")
    try:
        old = read_tilt_series(path, tilts=tilts)
        if np.array_equal(old.data, ts.data) and np.allclose(old.tilts_deg, ts.tilts_deg, atol=1e-4):
            return path, tilts
    except Insitu4dError:
        pass
    return write_tilt_series(path, ts)


def _evaluated(n: int, k: int) -> list[int]:
    if k == 0 or k >= n:
        return list(range(n))
    return sorted({int(i) for i in np.round(np.linspace(0, n - 1, k))})


@dataclass(frozen=True)
class _MeasuredState:
    """One evaluated time point of a finished run: what the twin rebuilds and how it runs."""

    name: str
    index: int
    run: TimePointResult
    measurements: Measurements
    shape_px: tuple
    voxel_size_nm: float
    params: RunParameters


@dataclass(frozen=True)
class _Repeat:
    """One noise realisation of a twin scene: its truth and the run that measures it."""

    truth: object
    true_labels: np.ndarray
    job: RunJob


def _twin_repeats(outdir: Path, state: _MeasuredState, settings: UncertaintyParameters, dose_e_per_nm2: float,
                  neck_scale: float, count: int, tag: str) -> list[_Repeat]:
    """Image the twin's scene of ``state`` (necks × ``neck_scale``) ``count`` times.

    The tilt series go to ``outdir/uncertainty/<time point>_<tag><r>/``, where their runs
    write (and are reused when unchanged).
    """
    h = state.voxel_size_nm
    spheres, pairs, _ = scene_from_measurements(state.measurements, state.shape_px, h, Z=settings.Z,
                                                neck_scale=neck_scale)
    stream = {"R": 104729, "P": 7919}[tag]
    repeats = []
    for r in range(count):
        ts, truth, true_labels, _ = simulate_scene(
            state.shape_px, h, state.run.tilt_series.tilts_deg, dose_e_per_nm2, spheres=spheres, pairs=pairs,
            rng=np.random.default_rng([settings.seed, state.index, r, stream]), lambda_cu_nm=settings.lambda_cu_nm,
            **_misalignment(state.run))
        rdir = outdir / "uncertainty" / f"{state.name}_{tag}{r + 1}"
        rdir.mkdir(parents=True, exist_ok=True)
        stack, tilts = _write_stack(rdir / "tiltseries.mrc", ts)
        repeats.append(_Repeat(truth, true_labels, RunJob(rdir.name, Path(stack), rdir, state.params,
                                                          tilts=Path(tilts), figures=False)))
    return repeats


def _readings(repeats: list[_Repeat], h: float) -> tuple[dict, dict]:
    """Per scene pair index, its true quantities and the list of finished repeats' readings that found it."""
    found: dict[int, list[dict]] = {}
    true_of: dict[int, dict] = {}
    for repeat in repeats:
        meas = Measurements.load(repeat.job.outdir / "measurements.json")
        for k, sc in enumerate(score_pairs(repeat.truth, repeat.true_labels, meas, h)):
            true_of[k] = sc["true"]
            found.setdefault(k, [])
            if sc["found"]:
                found[k].append(sc["measured"])
    return true_of, found


def twin_uncertainty(outdir, time_points: list[dict], params: RunParameters, dose_e_per_nm2: float,
                     settings: UncertaintyParameters, *, progress: Callable[[str, int, int], None] | None = None,
                     runner: Runner | None = None) -> list[dict]:
    """Error statistics of every pair quantity from the twin, at a few time points of a finished run.

    Parameters
    ----------
    outdir : str or Path
        The 4D run's folder; the repeats go to ``outdir/uncertainty/T05_R1/`` … and are
        reused when rerun with the same scene and parameters.
    time_points : list of dict
        Per time point, in order: ``name`` (its folder, with ``run.json`` and
        ``measurements.json``), ``time_s``, and ``pair_ids`` (measured labels (a, b) →
        the experiment's pair id).
    params : RunParameters
        The run's parameters; the repeats use them at the reconstructed voxel size, unbinned,
        with the tilt axis along y (the twin images in the aligned frame).
    dose_e_per_nm2 : float
        Dose per tilt series.
    settings : UncertaintyParameters
    progress : callable(stage, done, total), optional
        Stage ``uncertainty``.
    runner : Runner, optional
        Where the repeats run (:mod:`insitu4d.pipeline.cluster`); all at once on a cluster.
        It reports their progress. Default: inline, reporting to ``progress``.

    Returns
    -------
    list of dict
        One row per evaluated time point, pair and quantity, columns
        :data:`UNCERTAINTY_COLUMNS`: the measured ``value``, the scene's ``twin_true``,
        ``n_found`` of ``n_repeats`` repeats that found the pair, the error's ``bias``,
        ``sd`` (ddof 1) and ``rms``, and the ``response`` and ``error_bar`` of
        :func:`bias_response`, in the quantity's unit.

    Raises
    ------
    InvalidParameter
        The dose is missing or not positive.
    """
    if dose_e_per_nm2 is None or not dose_e_per_nm2 > 0:
        raise InvalidParameter("the twin's error bars need the dose: set [acquisition] dose_e_per_nm2 (per tilt "
                               "series), or [uncertainty] repeats = 0 to go without error bars.")
    outdir = Path(outdir)
    chosen = _evaluated(len(time_points), settings.time_points)
    rows, plans = [], []
    for index in chosen:
        tp = time_points[index]
        tp_dir = outdir / tp["name"]
        run = TimePointResult.load(tp_dir / "run.json")
        measurements = Measurements.load(tp_dir / "measurements.json")
        labels, attrs = read_array(tp_dir / "labels.h5")
        h = float(attrs["voxel_size_nm"])
        state = _MeasuredState(tp["name"], index, run, measurements, labels.shape, h,
                               dataclasses.replace(params, pixel_size_nm=h, bin_factor=1, tilt_axis_deg=0.0))
        repeats = _twin_repeats(outdir, state, settings, dose_e_per_nm2, 1.0, settings.repeats, "R")
        probes = _twin_repeats(outdir, state, settings, dose_e_per_nm2, PROBE_NECK_SCALE,
                               settings.probe_repeats if settings.repeats else 0, "P")
        plans.append((tp, state, repeats, probes))
    # every repeat of every evaluated time point at once (on a cluster, in parallel)
    (runner or Runner(progress=progress)).run([r.job for _, _, repeats, probes in plans for r in repeats + probes],
                             stage="uncertainty")
    for tp, state, repeats, probes in plans:
        measurements, h = state.measurements, state.voxel_size_nm
        _, _, pair_labels = scene_from_measurements(measurements, state.shape_px, h, Z=settings.Z)
        true_of, found = _readings(repeats, h)
        probe_true, probe_found = _readings(probes, h)
        by_labels = {frozenset(p.labels): p for p in measurements.pairs}
        for k, (la, lb) in enumerate(pair_labels):
            pair_id = tp["pair_ids"].get((la, lb), tp["pair_ids"].get((lb, la)))
            if pair_id is None:
                continue
            measured = {**by_labels[frozenset((la, lb))].to_dict(),
                        "hw_a": measurements.particle(la).aspect_ratio_hw,
                        "hw_b": measurements.particle(lb).aspect_ratio_hw}
            true = true_of.get(k, {})
            for q in PAIR_QUANTITIES:
                e = np.array([m[q] - true[q] for m in found.get(k, [])], float)
                e = e[np.isfinite(e)]
                probe = np.array([m[q] for m in probe_found.get(k, [])], float)
                probe = probe[np.isfinite(probe)]
                probed = q in PROBED_QUANTITIES and len(probe) > 0
                rows.append({"time_s": tp["time_s"], "time_point": tp["name"], "pair_id": pair_id, "quantity": q,
                             "value": measured.get(q), "twin_true": true.get(q), "n_repeats": settings.repeats,
                             "n_found": len(e), "bias": float(e.mean()) if len(e) else float("nan"),
                             "sd": float(e.std(ddof=1)) if len(e) > 1 else float("nan"),
                             "rms": float(np.sqrt(np.mean(e ** 2))) if len(e) else float("nan"),
                             "probe_true": float(probe_true[k][q]) if probed else float("nan"),
                             "probe_measured": float(probe.mean()) if probed else float("nan")})
    bias_response(rows)
    return rows


def bias_response(rows: list[dict]) -> None:
    """Set each row's ``response`` (1 + b') and ``error_bar`` (the bias carried to the true state; module notes).

    Parameters
    ----------
    rows : list of dict
        Rows of :func:`twin_uncertainty` (``pair_id``, ``quantity``, ``twin_true``, ``bias``,
        ``sd``, ``n_found``, ``rms``, and optionally ``probe_true`` and ``probe_measured``);
        changed in place.

    Returns
    -------
    None
        The rows gain ``response`` (dimensionless) and ``error_bar`` (the quantity's unit).

    Notes
    -----
    First-order propagation of a value-dependent bias through m = x + b(x): the true value
    lies b(m) / (1 + b') below the measured one; the scatter is the predictive SD
    sd √(1 + 1/n) of one more measurement (Hahn & Meeker 1991, module notes). The step is
    the first-order correction of a value-dependent systematic measurement error (e.g.
    Carroll et al., *Measurement Error in Nonlinear Models*, 2nd ed., Chapman & Hall/CRC
    2006, doi:10.1201/9781420010138).
    """
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["pair_id"], r["quantity"]), []).append(r)
    for group in groups.values():
        x = np.array([r["twin_true"] if r["twin_true"] is not None else np.nan for r in group], float)
        b = np.array([r["bias"] for r in group], float)
        ok = np.isfinite(x) & np.isfinite(b)
        slope = float(np.polyfit(x[ok], b[ok], 1)[0]) if ok.sum() >= 2 and np.ptp(x[ok]) > 0 else 0.0
        for r in group:
            response = _probe_response(r)
            response = 1.0 + slope if response is None else response
            gain = float(np.clip(1.0 / response, 1.0, 1.0 / MIN_RESPONSE)) if response > 0 else 1.0 / MIN_RESPONSE
            r["response"] = response
            spread = r["sd"] ** 2 * (1.0 + 1.0 / r["n_found"]) if np.isfinite(r["sd"]) else 0.0
            r["error_bar"] = float(np.sqrt((gain * r["bias"]) ** 2 + spread)) if np.isfinite(r["bias"]) else r["rms"]


def _probe_response(row: dict) -> float | None:
    """The secant response (f(m) − f(x_probe)) / (m − x_probe) of a row with a probe, else None."""
    values = [row.get(k) for k in ("twin_true", "bias", "probe_true", "probe_measured")]
    if any(v is None or not np.isfinite(v) for v in values):
        return None
    m, bias, x_probe, f_probe = (float(v) for v in values)
    if not m - x_probe > 0:
        return None
    return (m + bias - f_probe) / (m - x_probe)


def error_bars(rows: list[dict], pair_id: int, quantity: str, times_s) -> np.ndarray:
    """A pair's error bar at ``times_s``, interpolated linearly between evaluated time points.

    NaN where the twin evaluated no time point of this pair.

    Parameters
    ----------
    rows : list of dict
        Rows of ``uncertainty.csv`` (``pair_id``, ``quantity``, ``time_s``, ``error_bar``).
    pair_id : int
    quantity : str
        A column of the pair table (``r_n_nm`` …).
    times_s : (n_times,) array_like of float, s

    Returns
    -------
    (n_times,) ndarray of float
        In the quantity's unit; held constant beyond the first and last evaluated time.
    """
    pts = sorted((r["time_s"], r["error_bar"]) for r in rows
                 if r["pair_id"] == pair_id and r["quantity"] == quantity and np.isfinite(r["error_bar"]))
    if not pts:
        return np.full(len(times_s), np.nan)
    t, v = np.array(pts).T
    return np.interp(np.asarray(times_s, float), t, v)
