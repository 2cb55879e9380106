"""Preprocessing of a tilt series: detector offset, normalisation, crop, bin, tilt-axis rotation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from .data import ProcessingStep, TiltSeries, require_whole
from .errors import InvalidParameter

__all__ = ["remove_background", "normalise", "crop", "bin_tilt_series", "rotate_images", "rotate_and_shift",
           "rotate_to_vertical_axis", "PreprocessParameters"]


@dataclass(frozen=True)
class PreprocessParameters:
    """The settings of preprocessing that a run chooses, checked once on creation.

    Attributes
    ----------
    background_offset : float or None
        Detector offset for :func:`remove_background`; None estimates it per image.
    bin_factor : int
        :func:`bin_tilt_series` factor, ≥ 1.

    Raises
    ------
    InvalidParameter
        An offset that is not a finite number, or a bin factor that is not a whole number ≥ 1.
    """

    background_offset: float | None = None
    bin_factor: int = 1

    def __post_init__(self) -> None:
        if self.background_offset is not None and (isinstance(self.background_offset, bool) or not isinstance(
                self.background_offset, (int, float)) or not np.isfinite(self.background_offset)):
            raise InvalidParameter(f"background_offset must be a number (detector units) or left out; got "
                                   f"{self.background_offset!r}.")
        require_whole(self.bin_factor, "bin_factor", minimum=1)


def _image_background(image: np.ndarray) -> float:
    """Detector offset of one HAADF image: the median of its dark (vacuum) Otsu class."""
    if np.ptp(image) == 0:
        return float(image.flat[0])
    t = threshold_otsu(image)
    dark = image[image <= t]
    return float(np.median(dark))


def remove_background(ts: TiltSeries, *, offset: float | None = None) -> TiltSeries:
    """Subtract the detector offset (vacuum level) from every image.

    With ``offset=None`` each image's offset is the median of its dark class after an Otsu
    split (Otsu, IEEE Trans. SMC 9, 62 (1979), doi:10.1109/TSMC.1979.4310076), which for a
    HAADF image with vacuum in the field is the vacuum level: the needle MRC, stored as
    int16, has it near −31 880.

    Parameters
    ----------
    ts : TiltSeries
    offset : float, optional
        One offset for all images, in the data's units.

    Returns
    -------
    TiltSeries
        Same shape; its last :attr:`~insitu4d.data.TiltSeries.history` step,
        ``remove_background``, holds the ``offsets`` subtracted.
    """
    data = np.asarray(ts.data, dtype=np.float32)
    if offset is None:
        offsets = np.array([_image_background(im) for im in data], dtype=np.float64)
    else:
        offsets = np.full(ts.n_tilts, float(offset))
    out = data - offsets[:, None, None].astype(np.float32)
    return ts.with_step(ProcessingStep("remove_background", {"offsets": offsets.tolist()}), data=out)


def normalise(ts: TiltSeries, *, percentile: float = 99.9) -> TiltSeries:
    """Divide the whole stack by one scale, its ``percentile``-th percentile.

    One scale for all images keeps the relative intensities that a reconstruction needs.

    Parameters
    ----------
    ts : TiltSeries
        Background-free.
    percentile : float
        In (0, 100].

    Returns
    -------
    TiltSeries
        Its last history step, ``normalise``, holds the ``divisor``
        (:attr:`~insitu4d.data.TiltSeries.intensity_scale` multiplies them).

    Raises
    ------
    InvalidParameter
        The percentile is not positive: no signal, or the background was not removed.
    """
    data = np.asarray(ts.data, dtype=np.float32)
    scale = float(np.percentile(data, percentile))
    if not scale > 0:
        raise InvalidParameter(
            f"cannot normalise: the {percentile}th percentile of the stack is {scale:g} (≤ 0); "
            "remove the background first or check that the images hold signal."
        )
    return ts.with_step(ProcessingStep("normalise", {"divisor": scale, "percentile": float(percentile)}),
                        data=data / scale)


def crop(ts: TiltSeries, *, y: tuple[int, int] | None = None, x: tuple[int, int] | None = None) -> TiltSeries:
    """Crop every image to rows ``y = (start, stop)`` and columns ``x = (start, stop)`` (pixels).

    Parameters
    ----------
    ts : TiltSeries
    y, x : (int, int), pixels, optional
        Start and stop of the rows and columns kept; default all.

    Returns
    -------
    TiltSeries

    Raises
    ------
    InvalidParameter
        A range outside the image or empty.
    """
    ny, nx = ts.shape[1:]
    ys = slice(*(y or (0, ny)))
    xs = slice(*(x or (0, nx)))
    for name, s, n in (("y", ys, ny), ("x", xs, nx)):
        if not (0 <= (s.start or 0) < (s.stop if s.stop is not None else n) <= n):
            raise InvalidParameter(f"crop {name}=({s.start}, {s.stop}) is outside the image (0, {n}).")
    return ts.replace(data=np.asarray(ts.data)[:, ys, xs])


def bin_tilt_series(ts: TiltSeries, factor: int) -> TiltSeries:
    """Average ``factor × factor`` pixel blocks; the pixel size grows by ``factor``.

    Rows and columns that do not fill a whole block are dropped.

    Parameters
    ----------
    ts : TiltSeries
    factor : int
        ≥ 1; 1 returns ``ts`` unchanged.

    Returns
    -------
    TiltSeries
        ``(n_tilts, ny // factor, nx // factor)``, pixel size × ``factor``.

    Raises
    ------
    InvalidParameter
        A factor below 1 or larger than the image.
    """
    factor = int(factor)
    if factor < 1:
        raise InvalidParameter(f"bin factor must be a positive integer; got {factor}.")
    if factor == 1:
        return ts
    data = np.asarray(ts.data, dtype=np.float32)
    n, ny, nx = data.shape
    ny2, nx2 = ny // factor, nx // factor
    if ny2 < 1 or nx2 < 1:
        raise InvalidParameter(f"bin factor {factor} is larger than the image ({ny} × {nx}).")
    binned = data[:, : ny2 * factor, : nx2 * factor].reshape(n, ny2, factor, nx2, factor).mean(axis=(2, 4))
    return ts.with_step(ProcessingStep("bin", {"factor": factor}), data=binned,
                        pixel_size_nm=ts.pixel_size_nm * factor)


def rotate_and_shift(data: np.ndarray, rotation_deg: float = 0.0, offset_px: float = 0.0,
                     rows: np.ndarray | None = None, shifts_px: np.ndarray | None = None) -> np.ndarray:
    """Resample each image so that the line at ``rotation_deg`` through the point
    ``centre + Rot(ρ)·(0, offset_px)`` becomes the vertical centre line, then shift it.

    The line's direction is (cos ρ, sin ρ) in (y, x) array coordinates (ρ counter-clockwise
    from ``y``). Output pixel p of image i is taken, bilinearly, from
    ``centre + Rot(ρ)·(p − centre + (0, offset_px) − shifts_px[i])``: the axis correction
    and the per-image shifts (in the output frame, as :func:`insitu4d.align.xcorr.apply_shifts`
    takes them) in one interpolation.

    Parameters
    ----------
    data : (n, ny, nx) ndarray
    rotation_deg : float, degrees
    offset_px : float, pixels
    rows : (m,) ndarray of int, optional
        Only these output rows (default all).
    shifts_px : (n, 2) ndarray of float, pixels, optional
        (dy, dx) of each image in the output frame.

    Returns
    -------
    (n, m or ny, nx) ndarray of float32
    """
    data = np.asarray(data, np.float32)
    n, ny, nx = data.shape
    yc, xc = (ny - 1) / 2.0, (nx - 1) / 2.0
    ys = np.arange(ny) if rows is None else np.asarray(rows)
    yy, xx = np.meshgrid(ys - yc, np.arange(nx) - xc + offset_px, indexing="ij")
    r = np.deg2rad(rotation_deg)
    cos, sin = np.cos(r), np.sin(r)
    shifts = np.zeros((n, 2)) if shifts_px is None else np.asarray(shifts_px, np.float64)
    out = np.empty((n, len(ys), nx), np.float32)
    for i in range(n):
        py, px = yy - shifts[i, 0], xx - shifts[i, 1]
        out[i] = ndimage.map_coordinates(data[i], [yc + cos * py - sin * px, xc + sin * py + cos * px], order=1,
                                         mode="constant", cval=0.0)
    return out


def rotate_images(data: np.ndarray, angle_deg: float) -> np.ndarray:
    """Rotate each image so that the direction ``angle_deg`` (from ``y``) becomes ``y``.

    Multiples of 90° are exact (``numpy.rot90``); other angles use :func:`rotate_and_shift`.

    Parameters
    ----------
    data : (n, ny, nx) ndarray
    angle_deg : float, degrees

    Returns
    -------
    (n, ny', nx') ndarray of float32
    """
    quarter = angle_deg / 90.0
    if abs(quarter - round(quarter)) < 1e-9:
        # rot90 by -k maps the array axis at k·90° from y onto y
        return np.ascontiguousarray(np.rot90(data, k=-int(round(quarter)) % 4, axes=(1, 2)), dtype=np.float32)
    return rotate_and_shift(data, angle_deg)


def rotate_to_vertical_axis(ts: TiltSeries) -> TiltSeries:
    """Rotate the images so that the tilt axis runs along ``y`` (``tilt_axis_deg`` becomes 0).

    Multiples of 90° are exact.

    Parameters
    ----------
    ts : TiltSeries

    Returns
    -------
    TiltSeries
        Same shape; ``tilt_axis_deg`` 0.
    """
    if ts.tilt_axis_deg == 0:
        return ts
    data = rotate_images(np.asarray(ts.data), ts.tilt_axis_deg)
    return ts.with_step(ProcessingStep("rotate_to_vertical_axis", {"from_tilt_axis_deg": ts.tilt_axis_deg}),
                        data=data, tilt_axis_deg=0.0)
