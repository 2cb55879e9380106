"""Electron dose of a STEM acquisition: electrons per frame, area dose per frame and cumulative, dose rate.

A scanned frame of N_px pixels at probe current I and dwell time t_dwell receives

    N_frame = (I / e) · t_dwell · N_px electrons,
    D_frame = N_frame / (N_px · p²) = I · t_dwell / (e · p²)  e⁻/nm²   (p: pixel size in nm),

and a tilt series or movie of N frames N · D_frame (flyback time ignored, as in the
references). The formula is the one of Hu et al., Nanoscale Adv. 6, 4237 (2024),
doi:10.1039/d4na00373j, whose printed "frame area (mm²)" is a typo for nm²
(docs/science.md §6).

Reference: Ihara et al., Nanoscale 15, 10133 (2023), doi:10.1039/d3nr00992k: 2.0 pA,
500 ns, 1024 × 1024 pixels of 1.04 nm, 41 images → 6.5536 × 10⁶ e⁻ per frame,
2.687 × 10⁸ e⁻ per tilt series and **236.9 e⁻/nm²** with e = 1.6 × 10⁻¹⁹ C (236.6 with
the CODATA charge). The paper's "250 e⁻/nm²" follows only if the field of view is taken
as 1.04 µm (1000 pixels) instead of 1024 × 1.04 nm = 1064.96 nm: 248.4, or 249.6 from the
rounded 2.7 × 10⁸; the true figure is 5.5 % lower.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .errors import InvalidParameter

__all__ = ["ELEMENTARY_CHARGE_C", "Dose", "stem_dose", "cumulative_dose_e_per_nm2", "tilt_series_dose"]

#: CODATA 2018 elementary charge (exact in the SI since 2019), C. The references round to 1.6e-19.
ELEMENTARY_CHARGE_C = 1.602176634e-19


@dataclass(frozen=True)
class Dose:
    """The dose of a STEM acquisition (:func:`stem_dose`). Areas in nm², times in s."""

    electrons_per_pixel: float
    electrons_per_frame: float
    electrons_total: float
    dose_per_frame_e_per_nm2: float
    dose_total_e_per_nm2: float
    dose_per_frame_e_per_A2: float
    dose_total_e_per_A2: float
    frame_time_s: float
    dose_rate_e_per_nm2_s: float
    field_of_view_nm2: float
    n_frames: int

    def to_dict(self) -> dict:
        return asdict(self)


def _positive(**values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not np.isfinite(value) or value <= 0:
            raise InvalidParameter(f"{name} must be a positive number; got {value!r}.")


def stem_dose(current_pA: float, dwell_time_s: float, pixel_size_nm: float, shape_px: tuple[int, int],
              n_frames: int = 1, *, elementary_charge_C: float = ELEMENTARY_CHARGE_C) -> Dose:
    """Electrons and area dose of ``n_frames`` scanned frames (formula and references in the module notes).

    Parameters
    ----------
    current_pA : float
        Probe current, pA.
    dwell_time_s : float
        Dwell time per pixel, s.
    pixel_size_nm : float
        Pixel size, nm (square pixels).
    shape_px : (ny, nx)
        Pixels per frame.
    n_frames : int
        Frames (images of the tilt series, or of the movie).
    elementary_charge_C : float
        e in C; pass 1.6e-19 to reproduce papers that round it.

    Returns
    -------
    Dose

    Raises
    ------
    InvalidParameter
        A value is not positive, or ``shape_px`` is not two whole numbers.
    """
    _positive(current_pA=current_pA, dwell_time_s=dwell_time_s, pixel_size_nm=pixel_size_nm,
              elementary_charge_C=elementary_charge_C)
    if len(tuple(shape_px)) != 2 or any(int(n) != n or n < 1 for n in shape_px):
        raise InvalidParameter(f"shape_px must be two whole numbers of pixels (ny, nx); got {shape_px!r}.")
    if int(n_frames) != n_frames or n_frames < 1:
        raise InvalidParameter(f"n_frames must be a whole number ≥ 1; got {n_frames!r}.")
    n_px = int(shape_px[0]) * int(shape_px[1])
    per_pixel = current_pA * 1e-12 * dwell_time_s / elementary_charge_C
    per_frame = per_pixel * n_px
    fov_nm2 = n_px * pixel_size_nm ** 2
    frame_dose = per_frame / fov_nm2
    frame_time = n_px * dwell_time_s
    return Dose(electrons_per_pixel=per_pixel, electrons_per_frame=per_frame, electrons_total=per_frame * n_frames,
                dose_per_frame_e_per_nm2=frame_dose, dose_total_e_per_nm2=frame_dose * n_frames,
                dose_per_frame_e_per_A2=frame_dose / 100.0, dose_total_e_per_A2=frame_dose * n_frames / 100.0,
                frame_time_s=frame_time, dose_rate_e_per_nm2_s=frame_dose / frame_time, field_of_view_nm2=fov_nm2,
                n_frames=int(n_frames))


def cumulative_dose_e_per_nm2(dose_per_frame_e_per_nm2, n_frames: int | None = None) -> np.ndarray:
    """Dose received by the end of each frame, e⁻/nm²: the running sum of the per-frame doses.

    Parameters
    ----------
    dose_per_frame_e_per_nm2 : float or (n_frames,) array_like
        One value for equal frames (then ``n_frames`` is needed), or one per frame.
    n_frames : int, optional

    Returns
    -------
    (n_frames,) ndarray of float

    Raises
    ------
    InvalidParameter
        A dose that is negative or not finite, or one value for all frames without ``n_frames`` ≥ 1.
    """
    per_frame = np.asarray(dose_per_frame_e_per_nm2, dtype=np.float64)
    if per_frame.ndim == 0:
        if n_frames is None or n_frames < 1:
            raise InvalidParameter("one dose per frame for all frames needs n_frames ≥ 1.")
        per_frame = np.full(int(n_frames), float(per_frame))
    if np.any(~np.isfinite(per_frame)) or np.any(per_frame < 0):
        raise InvalidParameter("doses per frame must be finite and ≥ 0 e⁻/nm².")
    return np.cumsum(per_frame)


def tilt_series_dose(tilt_series) -> dict:
    """The dose record of a tilt series from its acquisition settings, for ``run.json``.

    Parameters
    ----------
    tilt_series : TiltSeries
        With its probe current, dwell time and pixel size.

    Returns
    -------
    dict
        :class:`Dose` fields plus ``cumulative_e_per_nm2`` (per image, in acquisition order as
        stored), or ``{"unknown": reason}`` when the probe current or dwell time is missing.
    """
    ts = tilt_series
    missing = [name for name in ("probe_current_pA", "dwell_time_s") if getattr(ts, name, None) is None]
    if missing:
        return {"unknown": f"{' and '.join(missing)} not in the file's metadata"}
    n_frames, ny, nx = ts.data.shape
    dose = stem_dose(ts.probe_current_pA, ts.dwell_time_s, ts.pixel_size_nm, (ny, nx), n_frames)
    return {**dose.to_dict(), "cumulative_e_per_nm2": cumulative_dose_e_per_nm2(dose.dose_per_frame_e_per_nm2,
                                                                                 n_frames).tolist()}
