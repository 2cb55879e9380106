"""Element maps from a spectrum image: background-subtracted energy windows of tabulated X-ray lines.

For each line (:mod:`insitu4d.edx.lines`) the counts of the channels in the integration
window are summed per pixel (the *peak* map, whole counts, Poisson). The bremsstrahlung
background under the window is interpolated linearly in energy between the mean counts
per channel of two background windows beside the line (the three-window method, Goldstein
et al., *Scanning Electron Microscopy and X-ray Microanalysis*, 3rd ed. (2003), §9.8,
doi:10.1007/978-1-4615-0215-9). At a few counts per pixel the background windows are
noisier than the peak itself, so the background map is smoothed with a Gaussian of
:data:`BACKGROUND_SMOOTHING_PX`: the background is a nuisance term that varies with the
mass thickness, slowly compared with the pixel. The net map is peak − background; the
reconstruction uses the peak counts with the background as a known additive term of
their Poisson mean (:mod:`insitu4d.recon.poisson`).

The background windows avoid every line of the elements in play (the requested ones and
those the file's metadata lists): a window that holds one moves outwards, and a side with
no clean window within reach is dropped, leaving a flat background from the other side
(:func:`background_windows`). Lines whose integration windows overlap another line are
reported (:func:`line_overlaps`): windows cannot separate them; exSpy's model fitting can.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import UnknownXrayLine
from .lines import XrayLine, element_lines, fwhm_keV
from .spectrum_image import SpectrumImage

__all__ = ["LineMap", "line_maps", "denoise_line_map", "line_overlaps", "background_windows", "neighbour_lines",
           "BACKGROUND_SMOOTHING_PX", "MAX_WINDOW_STEPS"]

#: Gaussian σ of the background map's smoothing, pixels: its noise std drops by 1/(2√π σ) ≈ 0.14.
BACKGROUND_SMOOTHING_PX = 2.0
#: A background window moves outwards by at most this many FWHM to leave other lines out.
MAX_WINDOW_STEPS = 3


@dataclass(frozen=True)
class LineMap:
    """The counts of one X-ray line in a spectrum image.

    Attributes
    ----------
    line : XrayLine
    peak : (ny, nx) ndarray of float32, counts
        Counts in the integration window (whole numbers: Poisson).
    background : (ny, nx) ndarray of float32, counts
        Estimated background under the integration window (≥ 0).
    window_keV : (float, float), keV
        The integration window.
    background_windows_keV : tuple of (float, float), keV
        The background windows used (:func:`background_windows`).
    background_clean : bool
        False when every window within reach held another line: the nearest windows were
        used and the background is overestimated (the net counts too low).
    denoising : dict or None
        How ``peak`` was denoised (:func:`denoise_line_map`); None: raw counts.
    """

    line: XrayLine
    peak: np.ndarray
    background: np.ndarray
    window_keV: tuple[float, float]
    background_windows_keV: tuple[tuple[float, float], ...] = ()
    background_clean: bool = True
    denoising: dict | None = None

    @property
    def net(self) -> np.ndarray:
        """peak − background, counts (may be negative where there is no signal)."""
        return self.peak - self.background


def _window(si: SpectrumImage, line: XrayLine, low: float, high: float, what: str) -> slice:
    first, last = si.energy_range_keV
    if low < first - 0.5 * si.energy_scale_keV or high > last + 0.5 * si.energy_scale_keV:
        raise UnknownXrayLine(
            f"{line.name} at {line.energy_keV:.3f} keV needs its {what} window {low:.3f}–{high:.3f} keV, outside "
            f"the spectrum of {si.source or 'the spectrum image'} ({first:.3f}–{last:.3f} keV); choose another line "
            f"of {line.element} (e.g. {line.element}_L for a heavy element) or drop it.")
    channels = si.channel_slice(low, high)
    if channels.stop <= channels.start:
        raise UnknownXrayLine(f"the {what} window of {line.name} holds no channel of {si.source}.")
    return channels


def neighbour_lines(lines, extra_elements=()) -> tuple[XrayLine, ...]:
    """Every line family (:func:`~insitu4d.edx.lines.element_lines`) of the elements of ``lines`` and of
    ``extra_elements``: the lines that may sit in a window.

    Parameters
    ----------
    lines : sequence of XrayLine
    extra_elements : sequence of str
        Element symbols (those the file's metadata lists).

    Returns
    -------
    tuple of XrayLine

    Raises
    ------
    UnknownElement
        An extra element that is not in the table.
    """
    elements = dict.fromkeys([line.element for line in lines] + list(extra_elements))
    return tuple(other for element in elements for other in element_lines(element))


def _same(a: XrayLine, b: XrayLine) -> bool:
    return a.element == b.element and a.family == b.family


def _hits(window: tuple[float, float], other: XrayLine, resolution_mnka_eV: float) -> bool:
    """Whether another line's integration window overlaps ``window``."""
    low, high = other.windows_keV(resolution_mnka_eV)[0]
    return low < window[1] and window[0] < high


def background_windows(line: XrayLine, neighbours, resolution_mnka_eV: float, energy_range_keV
                       ) -> tuple[tuple[float, float], ...]:
    """The background windows of a line that no neighbouring line falls in.

    Each side's window (:meth:`~insitu4d.edx.lines.XrayLine.windows_keV`) moves outwards in
    steps of 1 FWHM, at most :data:`MAX_WINDOW_STEPS` times, until no neighbour's
    integration window overlaps it and it lies inside the spectrum.

    Parameters
    ----------
    line : XrayLine
    neighbours : sequence of XrayLine
    resolution_mnka_eV : float, eV
    energy_range_keV : (float, float), keV

    Returns
    -------
    tuple of (float, float)
        Zero, one or two windows in keV: two give a sloped background, one a flat one.
    """
    _, left, right = line.windows_keV(resolution_mnka_eV)
    step = fwhm_keV(line.energy_keV, resolution_mnka_eV)
    chosen = []
    for side, window in ((-1.0, left), (1.0, right)):
        for k in range(MAX_WINDOW_STEPS + 1):
            moved = (window[0] + side * k * step, window[1] + side * k * step)
            inside = energy_range_keV[0] <= moved[0] and moved[1] <= energy_range_keV[1]
            if inside and not any(_hits(moved, o, resolution_mnka_eV) for o in neighbours if not _same(o, line)):
                chosen.append(moved)
                break
    return tuple(chosen)


def line_maps(si: SpectrumImage, lines, *, background_smoothing_px: float = BACKGROUND_SMOOTHING_PX,
              neighbours=None) -> tuple[LineMap, ...]:
    """The peak and background counts of each line in each pixel.

    Parameters
    ----------
    si : SpectrumImage
    lines : sequence of XrayLine
    background_smoothing_px : float, pixels
        Gaussian σ of the background maps (0: none).
    neighbours : sequence of XrayLine, optional
        Lines the background windows avoid; by default every line of the requested
        elements and of the elements the file's metadata lists (:func:`neighbour_lines`).

    Returns
    -------
    tuple of LineMap
        In the order of ``lines``.

    Raises
    ------
    UnknownXrayLine
        A line whose integration window, or both background windows, lie outside the
        recorded energy range.
    """
    if neighbours is None:
        neighbours = neighbour_lines(lines, [n.split("_")[0] for n in si.lines_in_metadata])
    out = []
    for line in lines:
        peak_w = line.windows_keV(si.resolution_mnka_eV)[0]
        peak_c = _window(si, line, *peak_w, "integration")
        windows = background_windows(line, neighbours, si.resolution_mnka_eV, si.energy_range_keV)
        clean = bool(windows)
        if not clean:  # measured all the same, and said (LineMap.background_clean)
            windows = tuple(w for w in line.windows_keV(si.resolution_mnka_eV)[1:]
                            if si.energy_range_keV[0] <= w[0] and w[1] <= si.energy_range_keV[1])
        if not windows:
            raise UnknownXrayLine(f"{line.name}: both background windows lie outside the spectrum of {si.source} "
                                  f"({si.energy_range_keV[0]:.3f}–{si.energy_range_keV[1]:.3f} keV); choose another "
                                  f"line of {line.element} or drop it.")
        levels, energies = [], []
        for window in windows:
            channels = _window(si, line, *window, "background")
            levels.append(si.data[..., channels].mean(axis=-1, dtype=np.float64))
            energies.append(float(si.channel_energies_keV(channels).mean()))
        peak = si.data[..., peak_c].sum(axis=-1, dtype=np.float64)
        e_peak = float(si.channel_energies_keV(peak_c).mean())
        if len(levels) == 2:  # Σ over the peak's channels of the straight line through both windows
            fraction = (e_peak - energies[0]) / (energies[1] - energies[0])
            level = levels[0] + fraction * (levels[1] - levels[0])
        else:
            level = levels[0]
        background = (peak_c.stop - peak_c.start) * level
        if background_smoothing_px > 0:
            background = ndimage.gaussian_filter(background, background_smoothing_px, mode="nearest")
        out.append(LineMap(line=line, peak=peak.astype(np.float32),
                           background=np.maximum(background, 0.0).astype(np.float32),
                           window_keV=(float(peak_w[0]), float(peak_w[1])), background_windows_keV=windows,
                           background_clean=clean))
    return tuple(out)


def line_overlaps(lines, resolution_mnka_eV: float, neighbours=None) -> list[str]:
    """Lines the window method cannot separate, each said in words.

    Parameters
    ----------
    lines : sequence of XrayLine
    resolution_mnka_eV : float, eV
    neighbours : sequence of XrayLine, optional
        Default :func:`neighbour_lines` of ``lines``.

    Returns
    -------
    list of str
        One sentence per requested line whose integration window a line of another element
        (requested, or a family of a requested element) overlaps.
    """
    neighbours = neighbour_lines(lines) if neighbours is None else neighbours
    said = []
    for line in lines:
        window = line.windows_keV(resolution_mnka_eV)[0]
        near = [o for o in neighbours if o.element != line.element and _hits(window, o, resolution_mnka_eV)]
        if near:
            said.append(f"{line.name} ({line.energy_keV:.3f} keV) shares counts with "
                        + ", ".join(f"{o.element}_{o.family} ({o.energy_keV:.3f} keV)" for o in near))
    return said


def denoise_line_map(line_map: LineMap, method: str = "tv") -> LineMap:
    """The map with its peak counts denoised, Poisson-aware, the strength chosen from the counts themselves.

    The peak counts are whole Poisson counts, so :func:`insitu4d.denoise.denoise_calibrated`
    stabilises them (Anscombe) and chooses the strength by Poisson thinning: the counts are
    split at random into two independent halves and the strength that best predicts one
    half from the other is taken (no reference image needed). Below about 3 counts per pixel
    the Anscombe transform no longer stabilises the variance; there, leave the maps raw and
    let a Poisson reconstruction (:mod:`insitu4d.recon.poisson`) weigh them. Denoised maps
    are for 2D maps and figures; tomography takes the raw counts.

    Parameters
    ----------
    line_map : LineMap
    method : {"tv", "nlm", "wavelet", "gaussian", "bm3d"}

    Returns
    -------
    LineMap
        ``peak`` denoised (float), ``denoising`` the calibration record.

    Raises
    ------
    InvalidParameter, InvalidPixelValues
        As :func:`~insitu4d.denoise.denoise_calibrated` (a map with no counts at all).
    """
    from dataclasses import replace

    from ..denoise import denoise_calibrated

    peak, record = denoise_calibrated(line_map.peak, method, vst="anscombe")
    return replace(line_map, peak=np.maximum(peak, 0).astype(np.float32), denoising=dict(record))
