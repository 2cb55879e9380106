"""The 2D movie pipeline: drift → (denoise) → segment → measure → track → holder log and dose → tables, plots, report.

Stages (each in its own module; this one only wires them):

1. Drift correction (:func:`insitu4d.align.movie.movie_drift`); the corrected frames are
   cropped to the area every frame covers, so no frame's empty border reads as a particle.
   A drift that rejected more than a quarter of the frames is reported as a warning.
2. Denoising, off by default: the segmentation smooths each frame at a scale it chooses
   from the frame's own noise (:mod:`insitu4d.segment_frame`), which a prior denoising would
   only confuse; ``denoise`` names a method of :func:`insitu4d.denoise.denoise` to use one.
3. Segmentation of every frame (:func:`insitu4d.segment_frame.segment_frame`); the contrast
   found on the first frame is used for all.
4. Particles and necks per frame (:mod:`insitu4d.measure.frame_particles`,
   :mod:`insitu4d.measure.frame_necks`).
5. Tracking through coalescence (:func:`insitu4d.measure.tracking.track_particles`): merges
   and splits become events.
6. Per-frame conditions: the frame's start on the movie's clock, the holder's temperature,
   set point and heater power at mid-exposure through the clock model
   (:func:`insitu4d.io.clock.frame_conditions`), and the cumulative dose
   (:func:`insitu4d.dose.cumulative_dose_e_per_nm2`) of a dose per frame that is given, or
   computed from the probe current and dwell time of a scan's metadata.

Positions are in nm in the first frame's coordinates (pixel (0, 0) of the uncropped frame
at the origin).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..align.movie import movie_drift
from ..choices import CONTRASTS, DENOISE_METHODS, DRIFT_METHODS
from ..denoise import denoise
from ..dose import cumulative_dose_e_per_nm2, stem_dose
from ..errors import InvalidParameter
from ..io.clock import fit_clock_offset, frame_conditions, log_seconds
from ..io.holder_log import HolderLog, read_holder_log
from ..io.movies import Movie, read_movie
from ..io.readers import _mapped_metadata
from ..io.output_folder import output_folder
from ..io.writers import sha256_file, write_array, write_csv, write_json
from ..measure.frame_necks import FrameNeck, measure_frame_necks
from ..measure.frame_particles import FrameParticle, measure_frame_particles
from ..measure.tracking import track_particles
from ..report.drift import save_drift_plot
from ..report.movie import save_movie_plots, write_movie_report
from ..segment_frame import segment_frame

__all__ = ["MovieParameters", "run_movie", "run_movie_file", "RESULT_NAME"]

#: the file whose presence means a finished movie run
RESULT_NAME = "movie.json"
_DENOISE = ("none", *DENOISE_METHODS)
#: farthest a fitted clock offset is searched, s
MAX_FITTED_OFFSET_S = 120.0


@dataclass(frozen=True)
class MovieParameters:
    """Parameters of :func:`run_movie`.

    Attributes
    ----------
    correct_drift : bool
    drift_method : {"xcorr", "mi"}
    reference_frames : int
    denoise : {"none", "tv", "nlm", "wavelet", "gaussian", "bm3d"}
    contrast : {"auto", "dark", "bright"}
    sigma_px : float or "auto", pixels
    split_h : float
    tracking_gate : float
        Largest displacement between frames, as a fraction of the particle radius.
    clock_offset_s : float or "fit", s
        Holder-log clock minus microscope clock; "fit" lines the drift speed up with the log's
        temperature changes (thermal drift follows them; :func:`insitu4d.io.clock.fit_clock_offset`).
    dose_per_frame_e_per_nm2 : float or None, e⁻/nm²
    """

    correct_drift: bool = True
    drift_method: str = "xcorr"
    reference_frames: int = 5
    denoise: str = "none"
    contrast: str = "auto"
    sigma_px: float | str = "auto"
    split_h: float = 0.3
    tracking_gate: float = 1.0
    clock_offset_s: float | str = 0.0
    dose_per_frame_e_per_nm2: float | None = None

    def __post_init__(self) -> None:
        if self.drift_method not in DRIFT_METHODS:
            raise InvalidParameter(f"drift_method must be one of {DRIFT_METHODS}; got {self.drift_method!r}.")
        if self.denoise not in _DENOISE:
            raise InvalidParameter(f"denoise must be one of {_DENOISE}; got {self.denoise!r}.")
        if self.contrast not in CONTRASTS:
            raise InvalidParameter(f"contrast must be one of {CONTRASTS}; got {self.contrast!r}.")
        if self.clock_offset_s != "fit" and (isinstance(self.clock_offset_s, str)
                                             or not np.isfinite(self.clock_offset_s)):
            raise InvalidParameter(f"clock_offset_s must be a number of seconds or 'fit'; got {self.clock_offset_s!r}.")
        if self.dose_per_frame_e_per_nm2 is not None and not self.dose_per_frame_e_per_nm2 >= 0:
            raise InvalidParameter("dose_per_frame_e_per_nm2 must be ≥ 0.")


def _common_area(shifts: np.ndarray, shape) -> tuple[slice, slice]:
    """The rectangle every shifted frame covers (shifts rounded outwards)."""
    lo = np.ceil(np.maximum(shifts.max(axis=0), 0)).astype(int)
    hi = np.floor(np.minimum(shifts.min(axis=0), 0)).astype(int) + np.array(shape)
    if np.any(hi - lo < 16):
        raise InvalidParameter(f"the drift ({np.ptp(shifts, axis=0).round(1).tolist()} px) leaves less than 16 px "
                               "that every frame covers; cut the movie into shorter pieces.")
    return slice(int(lo[0]), int(hi[0])), slice(int(lo[1]), int(hi[1]))


def _moved(record, origin_nm: np.ndarray, name: str):
    return dataclasses.replace(record, **{name: tuple(np.asarray(getattr(record, name)) + origin_nm)})


def run_movie(movie: Movie, output, params: MovieParameters | None = None, *, holder_log: HolderLog | None = None,
              progress=None) -> dict:
    """Run the movie pipeline (module notes) and write its folder.

    Writes ``frames.csv`` (time, temperature, dose, drift per frame), ``particles.csv``,
    ``necks.csv``, ``events.csv``, ``labels.h5``, ``drift.json``, ``drift.png``, the plots,
    ``report.html`` and ``movie.json`` (the run record) into ``output``.

    Parameters
    ----------
    movie : Movie
    output : str or Path
    params : MovieParameters, optional
    holder_log : HolderLog, optional
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    dict
        The run record (``movie.json``).

    Raises
    ------
    InvalidParameter
        Frames the holder log does not span, a drift that leaves no common area, and what the
        stages raise.
    UnwritableOutput, OutputInUse
    """
    params = params or MovieParameters()
    report = progress or (lambda stage, done, total: None)
    started = time.perf_counter()
    n = movie.frames.shape[0]
    px = movie.pixel_size_nm
    warnings: list[str] = []
    with output_folder(output, RESULT_NAME) as out:
        frames = movie.frames
        drift_info = None
        if params.correct_drift:
            report("drift", 0, 1)
            frames, drift_info = movie_drift(frames, method=params.drift_method,
                                             reference_frames=params.reference_frames)
            if drift_info.warning:
                warnings.append(drift_info.warning)
            save_drift_plot(out / "drift.png", drift_info, pixel_size_nm=px)
            write_json(out / "drift.json", drift_info.to_dict())
            box = _common_area(drift_info.shifts_px, frames.shape[1:])
        else:
            box = (slice(0, frames.shape[1]), slice(0, frames.shape[2]))
        frames = frames[:, box[0], box[1]]
        origin_nm = np.array([box[0].start, box[1].start], dtype=np.float64) * px
        if params.denoise != "none":
            frames = denoise(frames, params.denoise, vst="none")
        labels = np.zeros(frames.shape, np.int32)
        particles: list[list[FrameParticle]] = []
        necks: list[list[FrameNeck]] = []
        contrast, sigmas, empty = params.contrast, [], []
        for k in range(n):
            report("segment and measure", k, n)
            try:
                seg = segment_frame(frames[k], contrast=contrast, sigma_px=params.sigma_px, split_h=params.split_h)
            except InvalidParameter as exc:  # a blank or garbled frame: no particles, said below
                empty.append(f"{k} ({exc})")
                sigmas.append(None)
                particles.append([])
                necks.append([])
                continue
            contrast = seg.contrast
            sigmas.append(seg.sigma_px)
            labels[k] = seg.labels
            found = measure_frame_particles(seg.labels, px)
            necks.append([_moved(nk, origin_nm, "neck_centre_nm") for nk in
                          measure_frame_necks(seg.labels, seg.flattened, px, contrast=seg.contrast,
                                              sigma_px=seg.sigma_px, particles=found)])
            particles.append([_moved(p, origin_nm, "centroid_nm") for p in found])
        report("segment and measure", n, n)
        if empty:
            warnings.append(f"no particles found in {len(empty)} of {n} frames: " + "; ".join(empty[:5])
                            + (" …" if len(empty) > 5 else ""))
        tracks = track_particles(particles, gate=params.tracking_gate)
        conditions = _conditions(movie, holder_log, params, drift_info)
        write_array(out / "labels.h5", labels, attrs={"pixel_size_nm": px, "origin_nm": origin_nm.tolist()})
        frame_rows = _frame_rows(conditions, drift_info, particles, n)
        by_frame = {r["frame"]: r for r in frame_rows}
        context = ("time_s", "temperature_C", "dose_e_per_nm2")
        particle_rows = [{"frame": k, **{c: by_frame[k][c] for c in context},
                          "track_id": tracks["track_of"][k][p.label], **p.to_row()}
                         for k in range(n) for p in particles[k]]
        neck_rows = [{"frame": k, **{c: by_frame[k][c] for c in context},
                      "track_a": tracks["track_of"][k][nk.labels[0]], "track_b": tracks["track_of"][k][nk.labels[1]],
                      **nk.to_row()} for k in range(n) for nk in necks[k]]
        event_rows = [{"frame": ev["time_index"], "time_s": by_frame[ev["time_index"]]["time_s"], "kind": ev["kind"],
                       "tracks": " ".join(map(str, ev["tracks"])), "into": ev.get("into", ""),
                       "from": ev.get("from", "")} for ev in tracks["events"]]
        write_csv(out / "frames.csv", frame_rows, list(frame_rows[0]))
        write_csv(out / "particles.csv", particle_rows,
                  ["frame", *context, "track_id", *FrameParticle.columns()])
        write_csv(out / "necks.csv", neck_rows, ["frame", *context, "track_a", "track_b", *FrameNeck.columns()])
        write_csv(out / "events.csv", event_rows, ["frame", "time_s", "kind", "tracks", "into", "from"])
        plots = save_movie_plots(out, frame_rows, neck_rows)
        record = {
            "software": {"name": "insitu4d", "version": __version__},
            "input": {"source": movie.source, "frames": n, "frame_files": list(movie.frame_files),
                      "sha256": _checksum(movie)},
            "holder_log": None if holder_log is None else {"source": holder_log.source, "vendor": holder_log.vendor,
                                                           "start": str(holder_log.start)},
            "acquisition": {"pixel_size_nm": px, "exposure_s": movie.exposure_s, "start": str(movie.start),
                            **{k: v for k, v in movie.metadata.items() if k != "vendor"}},
            "parameters": dataclasses.asdict(params),
            "chosen": {"contrast": contrast, "sigma_px_per_frame": sigmas,
                       "clock_offset_s": conditions.get("clock_offset_s")},
            "crop": {"origin_px": [box[0].start, box[1].start], "shape_px": list(frames.shape[1:])},
            "n_tracks": len({t for ids in tracks["track_of"] for t in ids.values()}),
            "events": tracks["events"], "warnings": warnings,
            "outputs": ["frames.csv", "particles.csv", "necks.csv", "events.csv", "labels.h5",
                        *(["drift.json", "drift.png"] if drift_info else []), *plots, "report.html"],
            "seconds": round(time.perf_counter() - started, 2),
        }
        write_movie_report(out, record, neck_rows, event_rows)
        write_json(out / RESULT_NAME, record)
    return record


def _checksum(movie: Movie) -> str | None:
    source = Path(movie.source)
    if source.is_file():
        return sha256_file(source)
    if source.is_dir() and movie.frame_files:
        import hashlib

        digest = hashlib.sha256()
        for name in movie.frame_files:
            digest.update(sha256_file(source / name).encode())
        return digest.hexdigest()
    return None


def _conditions(movie: Movie, log: HolderLog | None, params: MovieParameters, drift_info=None) -> dict:
    """Per-frame start time (s from the first frame), and the holder's channels and the dose at each frame;
    ``clock_offset_s`` as used (fitted when asked)."""
    n = movie.frames.shape[0]
    start_s = movie.frame_start_s
    out: dict = {"time_s": None if start_s is None else np.asarray(start_s, dtype=np.float64)}
    per_frame = _dose_per_frame(movie, params)
    if per_frame is not None:
        out["dose_e_per_nm2"] = cumulative_dose_e_per_nm2(per_frame, n)
    if log is not None:
        if start_s is None:
            raise InvalidParameter("a holder log needs the frames' times: the movie's metadata has none; give the "
                                   "time from frame to frame (--frame-time S).")
        exposure = movie.exposure_s if movie.exposure_s is not None else \
            (float(np.median(np.diff(start_s))) if n > 1 else 0.0)
        if movie.start is not None and log.start is not None:
            from datetime import timedelta

            frame_start = [movie.start + timedelta(seconds=float(t)) for t in start_s]
        else:
            frame_start = start_s
        offset = params.clock_offset_s
        if offset == "fit":
            offset = _fitted_offset(log, log_seconds(log, frame_start) + exposure / 2, drift_info)
        cond = frame_conditions(log, frame_start, exposure_s=exposure, clock_offset_s=offset)
        out.update(log_time_s=cond.time_s, temperature_C=cond.temperature_C, set_point_C=cond.set_point_C,
                   heater_power_mW=cond.heater_power_mW, clock_offset_s=float(offset))
    return out


def _fitted_offset(log: HolderLog, mid_s: np.ndarray, drift_info) -> float:
    """The clock offset that lines the drift speed up with the log's temperature changes
    (:func:`insitu4d.io.clock.fit_clock_offset`), searched as far as the log reaches beyond the movie, at most
    ``MAX_FITTED_OFFSET_S``."""
    if drift_info is None:
        raise InvalidParameter("fitting the clock offset needs the drift (it lines up the drift speed with the "
                               "temperature changes); do not combine it with --no-drift, or state the offset.")
    steps = np.linalg.norm(np.diff(drift_info.shifts_px, axis=0), axis=1) / np.maximum(np.diff(mid_s), 1e-9)
    speed = np.concatenate([steps[:1], steps])
    reach = min(mid_s[0] - log.time_s[0], log.time_s[-1] - mid_s[-1], MAX_FITTED_OFFSET_S)
    if reach <= 0:
        raise InvalidParameter(f"the holder log {log.source} does not reach beyond the movie, so no clock offset can "
                               "be fitted; state it with --clock-offset-s.")
    return fit_clock_offset(log, mid_s, speed, max_offset_s=float(reach))


def _dose_per_frame(movie: Movie, params: MovieParameters) -> float | None:
    """The dose of one frame, e⁻/nm²: as given, else from a scan's probe current and dwell time in the metadata
    (:func:`insitu4d.dose.stem_dose`), else unknown."""
    if params.dose_per_frame_e_per_nm2 is not None:
        return params.dose_per_frame_e_per_nm2
    meta = _mapped_metadata({"metadata": movie.metadata.get("vendor", {}).get("metadata", {}), "original_metadata": {}})
    if meta.get("probe_current_pA") and meta.get("dwell_time_s"):
        return stem_dose(meta["probe_current_pA"], meta["dwell_time_s"], movie.pixel_size_nm,
                         movie.frames.shape[1:]).dose_per_frame_e_per_nm2
    return None


def _frame_rows(conditions: dict, drift_info, particles, n: int) -> list[dict]:
    rows = []
    for k in range(n):
        row = {"frame": k}
        for key in ("time_s", "log_time_s", "temperature_C", "set_point_C", "heater_power_mW", "dose_e_per_nm2"):
            values = conditions.get(key)
            row[key] = float(values[k]) if values is not None else None
        if drift_info is not None:
            row.update(drift_y_px=float(-drift_info.shifts_px[k, 0]), drift_x_px=float(-drift_info.shifts_px[k, 1]),
                       drift_rejected=bool(drift_info.rejected[k]))
        row["n_particles"] = len(particles[k])
        rows.append(row)
    return rows


def run_movie_file(movie_path, output, params: MovieParameters | None = None, *, pixel_size_nm: float | None = None,
                   frame_time_s: float | None = None, holder_log=None, timezone: str = "UTC", progress=None) -> dict:
    """Read a movie (and a holder log) and run :func:`run_movie`.

    Parameters
    ----------
    movie_path : str or Path
        A stack file or a folder of frames (:func:`insitu4d.io.movies.read_movie`).
    output : str or Path
    params : MovieParameters, optional
    pixel_size_nm : float, nm, optional
    frame_time_s : float, s, optional
    holder_log : str or Path, optional
    timezone : str
        IANA zone of the clocks that wrote the movie's and the log's times.
    progress : callable, optional

    Returns
    -------
    dict
        The run record.

    Raises
    ------
    UnreadableFile, MissingPixelSize, NotAStack, InvalidParameter, UnwritableOutput, OutputInUse
    """
    movie = read_movie(movie_path, pixel_size_nm=pixel_size_nm, frame_time_s=frame_time_s, timezone=timezone)
    log = read_holder_log(holder_log, timezone=timezone) if holder_log is not None else None
    return run_movie(movie, output, params, holder_log=log, progress=progress)
