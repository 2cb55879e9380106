"""X-ray emission lines from a table: names such as ``Fe_Ka``, ``O_K``, ``Pt_La`` to energies and windows.

The energies and relative intensities come from XrayDB (Elam, Ravel & Sieber, Radiat.
Phys. Chem. 63, 121 (2002), doi:10.1016/S0969-806X(01)00227-4), read through the
``xraydb`` package; nothing is typed by hand. A line name is ``<element>_<family>``:

* ``K``, ``L``, ``M`` mean the α lines of that shell (``Ka``, ``La``, ``Ma``), as EDX
  software writes light elements whose Kβ is not resolved (``O_K``, ``Si_K``);
* ``Ka``, ``Kb``, ``La``, ``Lb``, ``Lg``, ``Ll``, ``Ln``, ``Ma``, ``Mb`` are the families
  of XrayDB's sub-lines (``Ka`` = Kα1 + Kα2 + Kα3).

The energy of a family is the intensity-weighted mean of its sub-lines. The detector
resolution at energy E follows the Fano-limited law

    FWHM(E)² = FWHM(Mn Kα)² + 2.5 eV · (E − E(Mn Kα)),

with FWHM and E in eV (the factor is 2.355² F ε, F ≈ 0.115 the Fano factor and
ε = 3.8 eV per electron–hole pair in Si; Fiori & Newbury, Scanning Electron Microscopy
1978/I, 401; the same law as HyperSpy/exSpy). A line's counts are integrated over
±1 FWHM (98 % of a Gaussian); its background is read in two windows 1 FWHM wide whose
inner edges lie 2 FWHM from the line, the windows of HyperSpy's ``get_lines_intensity``
(``integration_windows=2``, ``background_windows`` ``line_width=[2, 2]``, ``windows_width=1``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..errors import UnknownElement, UnknownXrayLine

__all__ = ["XrayLine", "xray_line", "parse_lines", "element_lines", "fwhm_keV", "DEFAULT_RESOLUTION_MNKA_EV",
           "PEAK_HALF_WIDTH_FWHM", "MIN_RELATIVE_WEIGHT", "BACKGROUND_GAP_FWHM", "BACKGROUND_WIDTH_FWHM"]

#: Energy resolution at Mn Kα assumed when a file does not state it (a silicon-drift detector), eV.
DEFAULT_RESOLUTION_MNKA_EV = 130.0
#: Line families weaker than this fraction of their element's strongest (:attr:`XrayLine.weight`) are not listed
#: by :func:`element_lines`: windows need not avoid them.
MIN_RELATIVE_WEIGHT = 0.01
#: Half width of the integration window, in FWHM of the line.
PEAK_HALF_WIDTH_FWHM = 1.0
#: Distance from the line to the inner edge of each background window, in FWHM.
BACKGROUND_GAP_FWHM = 2.0
#: Width of each background window, in FWHM.
BACKGROUND_WIDTH_FWHM = 1.0

_NAME = re.compile(r"^([A-Z][a-z]?)_([KLM][a-z]?)$")
_SHELL_ALPHA = {"K": "Ka", "L": "La", "M": "Ma"}


@dataclass(frozen=True)
class XrayLine:
    """One X-ray line family of one element.

    Attributes
    ----------
    name : str
        As written by the user (``Fe_Ka``, ``O_K``).
    element : str
    family : str
        XrayDB family (``Ka``, ``La`` …).
    energy_keV : float, keV
        Intensity-weighted mean energy of the family's sub-lines.
    weight : float
        Σ over the sub-lines of their relative intensity times the fluorescence yield of
        their initial level (both XrayDB): how strongly the element emits this family,
        comparable between its families (Fe Kα 0.31, Fe Lα 0.006). Ionisation cross
        sections are left out, so it is a ranking, not a quantification.
    """

    name: str
    element: str
    family: str
    energy_keV: float
    weight: float = 1.0

    def windows_keV(self, resolution_mnka_eV: float = DEFAULT_RESOLUTION_MNKA_EV
                    ) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
        """The integration window and the left and right background windows, each (low, high) in keV."""
        w = fwhm_keV(self.energy_keV, resolution_mnka_eV)
        e = self.energy_keV
        gap, width = BACKGROUND_GAP_FWHM * w, BACKGROUND_WIDTH_FWHM * w
        return ((e - PEAK_HALF_WIDTH_FWHM * w, e + PEAK_HALF_WIDTH_FWHM * w),
                (e - gap - width, e - gap), (e + gap, e + gap + width))


@functools.lru_cache(maxsize=1)
def _mn_ka_keV() -> float:
    return xray_line("Mn_Ka").energy_keV


def fwhm_keV(energy_keV: float, resolution_mnka_eV: float = DEFAULT_RESOLUTION_MNKA_EV) -> float:
    """Detector FWHM at an energy (the Fano law of the module docstring).

    Parameters
    ----------
    energy_keV : float, keV
    resolution_mnka_eV : float, eV
        FWHM at Mn Kα (5.899 keV), as detectors are specified.

    Returns
    -------
    float, keV
        Never below a tenth of ``resolution_mnka_eV`` (the law's extrapolation to very
        low energies reaches zero, which no detector does).
    """
    squared = resolution_mnka_eV ** 2 + 2.5 * (energy_keV - _mn_ka_keV()) * 1e3
    return max(squared, (0.1 * resolution_mnka_eV) ** 2) ** 0.5 / 1e3


@functools.lru_cache(maxsize=256)
def xray_line(name: str) -> XrayLine:
    """Look a line up by name in XrayDB.

    Parameters
    ----------
    name : str
        ``<element>_<family>`` (module docstring), e.g. ``Fe_Ka``, ``O_K``, ``Pt_La``.

    Returns
    -------
    XrayLine

    Raises
    ------
    UnknownXrayLine
        The name is not of that form, or the element has no such line (the message lists
        the families it has).
    UnknownElement
        The element symbol is not in the table.
    """
    import xraydb

    match = _NAME.match(name.strip())
    if match is None:
        raise UnknownXrayLine(f"{name!r} is not an X-ray line name; write element_family, e.g. Fe_Ka, O_K, Pt_La "
                              "(element symbol, underscore, K/L/M with an optional a/b/g/l/n).")
    element, family = match.groups()
    try:
        lines = xraydb.xray_lines(element)
    except (ValueError, KeyError, AttributeError) as exc:
        raise UnknownElement(f"{element!r} (in {name!r}) is not an element symbol; check its spelling "
                             "(e.g. Fe, O, Pt).") from exc
    if not lines:
        raise UnknownElement(f"{element!r} (in {name!r}) is not an element with tabulated X-ray lines; "
                             "check its spelling (e.g. Fe, O, Pt), or choose an element heavier than Be.")
    family = _SHELL_ALPHA.get(family, family)
    members = [line for key, line in lines.items() if re.sub(r"[\d,]+$", "", key) == family]
    if not members:
        have = sorted({re.sub(r"[\d,]+$", "", key) for key in lines})
        raise UnknownXrayLine(f"{element} has no {family} line ({name!r}); its lines are "
                              f"{', '.join(f'{element}_{f}' for f in have)}.")
    intensity = sum(line.intensity for line in members)
    if intensity > 0:
        energy_eV = sum(line.energy * line.intensity for line in members) / intensity
    else:
        energy_eV = sum(line.energy for line in members) / len(members)
    weight = sum(line.intensity * _fluorescence_yield(element, line.initial_level) for line in members)
    return XrayLine(name=name.strip(), element=element, family=family, energy_keV=energy_eV / 1e3, weight=weight)


def _fluorescence_yield(element: str, level: str) -> float:
    import xraydb

    edge = xraydb.xray_edge(element, level)
    return float(edge.fyield) if edge is not None and edge.fyield is not None else 0.0


def parse_lines(text) -> tuple[XrayLine, ...]:
    """Lines from a comma-separated string or a sequence of names, each looked up (:func:`xray_line`).

    Parameters
    ----------
    text : str or sequence of str
        ``"Fe_Ka, O_K"`` or ``["Fe_Ka", "O_K"]``.

    Returns
    -------
    tuple of XrayLine
        In the given order, duplicates removed.

    Raises
    ------
    UnknownXrayLine, UnknownElement
        As :func:`xray_line`; also an empty list.
    """
    names = [t for t in (text.split(",") if isinstance(text, str) else text) if str(t).strip()]
    if not names:
        raise UnknownXrayLine("no X-ray lines given; name at least one, e.g. --lines Fe_Ka,O_K.")
    found: dict[str, XrayLine] = {}
    for name in names:
        line = xray_line(str(name).strip())
        found.setdefault(line.name, line)
    return tuple(found.values())


@functools.lru_cache(maxsize=128)
def element_lines(element: str) -> tuple[XrayLine, ...]:
    """Every line family XrayDB lists for an element (``Pt`` -> Pt_Ka, Pt_Kb, Pt_La, …, Pt_Ma, Pt_Mb).

    Parameters
    ----------
    element : str

    Returns
    -------
    tuple of XrayLine
        Ordered by energy, families of weight below :data:`MIN_RELATIVE_WEIGHT` × the
        element's strongest left out (Ca L: 0.2 % of Ca K; Fe L: 2 % of Fe K stays).

    Raises
    ------
    UnknownElement
    """
    import xraydb

    try:
        keys = xraydb.xray_lines(element)
    except (ValueError, KeyError, AttributeError) as exc:
        raise UnknownElement(f"{element!r} is not an element symbol; check its spelling (e.g. Fe, O, Pt).") from exc
    families = sorted({re.sub(r"[\d,]+$", "", key) for key in keys})
    found = [xray_line(f"{element}_{f}") for f in families]
    strongest = max((line.weight for line in found), default=0.0)
    return tuple(sorted((line for line in found if line.weight >= MIN_RELATIVE_WEIGHT * strongest),
                        key=lambda line: line.energy_keV))
