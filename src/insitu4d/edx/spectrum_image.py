"""An EDX spectrum image: counts per pixel and energy channel, with its energy calibration.

Read through RosettaSciIO (Bruker ``.bcf``, HyperSpy ``.hspy``, EMD, DM…): the first
signal with an energy axis is the spectrum image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MissingEnergyCalibration
from ..io.readers import _get, read_signal
from .lines import DEFAULT_RESOLUTION_MNKA_EV

__all__ = ["SpectrumImage", "read_spectrum_image", "spectrum_image_from_signal"]

_ENERGY_TO_KEV = {"kev": 1.0, "ev": 1e-3}
_LENGTH_TO_NM = {"nm": 1.0, "µm": 1e3, "um": 1e3, "μm": 1e3, "Å": 0.1, "m": 1e9}


@dataclass(frozen=True)
class SpectrumImage:
    """Counts per pixel and energy channel.

    Attributes
    ----------
    data : (ny, nx, n_channels) ndarray of int
        X-ray counts.
    energy_offset_keV : float, keV
        Energy of the first channel's centre.
    energy_scale_keV : float, keV
        Channel width.
    pixel_size_nm : float or None, nm
    resolution_mnka_eV : float, eV
        Detector FWHM at Mn Kα (from the metadata, else :data:`~insitu4d.edx.lines.DEFAULT_RESOLUTION_MNKA_EV`).
    lines_in_metadata : tuple of str
        The X-ray lines the acquisition software listed (``Sample.xray_lines``), if any.
    source : str
    """

    data: np.ndarray
    energy_offset_keV: float
    energy_scale_keV: float
    pixel_size_nm: float | None = None
    resolution_mnka_eV: float = DEFAULT_RESOLUTION_MNKA_EV
    lines_in_metadata: tuple[str, ...] = ()
    source: str = ""
    metadata: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def energy_range_keV(self) -> tuple[float, float]:
        """Centres of the first and last channels, keV."""
        return (self.energy_offset_keV,
                self.energy_offset_keV + (self.data.shape[-1] - 1) * self.energy_scale_keV)

    def channel_slice(self, low_keV: float, high_keV: float) -> slice:
        """The channels whose centres lie in [low, high)."""
        first = int(np.ceil((low_keV - self.energy_offset_keV) / self.energy_scale_keV - 1e-9))
        stop = int(np.ceil((high_keV - self.energy_offset_keV) / self.energy_scale_keV - 1e-9))
        return slice(max(first, 0), min(max(stop, first + 1), self.data.shape[-1]))

    def channel_energies_keV(self, channels: slice) -> np.ndarray:
        """Centre energies of a slice of channels, keV."""
        return self.energy_offset_keV + self.energy_scale_keV * np.arange(channels.start, channels.stop)


def _as_names(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):  # HyperSpy 1.x saved lists as "['Fe_Ka' 'Pt_La']"
        return tuple(t for t in value.replace("[", " ").replace("]", " ").replace("'", " ").replace(",", " ").split()
                     if t)
    return tuple(str(v) for v in value)


def spectrum_image_from_signal(signal: dict, source: str = "") -> SpectrumImage:
    """A :class:`SpectrumImage` from a RosettaSciIO signal dictionary.

    Parameters
    ----------
    signal : dict
        ``data`` (..., n_channels) and ``axes`` (the last one the energy axis).
    source : str
        File name for messages.

    Returns
    -------
    SpectrumImage

    Raises
    ------
    MissingEnergyCalibration
        The last axis has no energy units (keV or eV) or no channel width.
    """
    data = np.asarray(signal["data"])
    axes = signal.get("axes") or []
    energy = axes[-1] if axes else {}
    unit = str(energy.get("units") or "").strip().lower()
    scale, offset = energy.get("scale"), energy.get("offset", 0.0)
    if unit not in _ENERGY_TO_KEV or not scale or not np.isfinite(float(scale)) or float(scale) <= 0:
        raise MissingEnergyCalibration(
            f"{source or 'the spectrum'} has no energy calibration (its last axis has units {unit or 'none'!r}, "
            f"channel width {scale!r}); calibrate it in the acquisition software or give the energy axis "
            "(offset and scale in keV) before extracting element maps.")
    factor = _ENERGY_TO_KEV[unit]
    metadata = signal.get("metadata") or {}
    resolution = _get(metadata, "Acquisition_instrument.TEM.Detector.EDS.energy_resolution_MnKa")
    pixel = None
    if len(axes) >= 3:
        px_unit = str(axes[-2].get("units") or "")
        if px_unit in _LENGTH_TO_NM and axes[-2].get("scale"):
            pixel = float(axes[-2]["scale"]) * _LENGTH_TO_NM[px_unit]
    return SpectrumImage(
        data=data, energy_offset_keV=float(offset or 0.0) * factor, energy_scale_keV=float(scale) * factor,
        pixel_size_nm=pixel, resolution_mnka_eV=float(resolution) if resolution else DEFAULT_RESOLUTION_MNKA_EV,
        lines_in_metadata=_as_names(_get(metadata, "Sample.xray_lines")), source=source,
        metadata=metadata)


def read_spectrum_image(path) -> SpectrumImage:
    """Read the spectrum image of a file with RosettaSciIO.

    Parameters
    ----------
    path : str or Path
        Bruker ``.bcf``, HyperSpy ``.hspy``/``.zspy``, ``.emd``, DM or any format whose
        RosettaSciIO reader returns a signal with an energy axis.

    Returns
    -------
    SpectrumImage

    Raises
    ------
    UnreadableFile
        Missing, unknown format, damaged, or holding no spectrum image.
    MissingEnergyCalibration
        See :func:`spectrum_image_from_signal`.
    """
    return spectrum_image_from_signal(read_signal(path, spectrum_image=True), Path(path).name)
