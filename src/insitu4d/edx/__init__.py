"""EDX: X-ray lines from a table (:mod:`.lines`), spectrum images (:mod:`.spectrum_image`) and element maps
(:mod:`.maps`). The element volumes and composition of a run are in :mod:`insitu4d.pipeline.edx`."""

from .lines import XrayLine, parse_lines, xray_line
from .maps import LineMap, line_maps
from .spectrum_image import SpectrumImage, read_spectrum_image

__all__ = ["XrayLine", "parse_lines", "xray_line", "LineMap", "line_maps", "SpectrumImage", "read_spectrum_image"]
