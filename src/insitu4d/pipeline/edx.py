"""The EDX part of a run: spectrum images per tilt to element maps, aligned by the HAADF, to element volumes.

A tilt series recorded as one spectrum-image file per tilt (Bruker ``.bcf``: a HAADF image
and an EDX cube each) is run as a HAADF tilt series first (:mod:`insitu4d.pipeline.run`).
Then, for each X-ray line:

1. **Maps.** Peak and background counts per pixel (:func:`insitu4d.edx.maps.line_maps`),
   lines from ``--lines`` or, by default, those the acquisition software listed.
2. **Alignment.** The HAADF's alignment (axis rotation, shifts, axis offset) applied to
   every map after the same pixel binning (:func:`insitu4d.align.series.apply_alignment`):
   the maps share the HAADF's pixels, so binning first and aligning after scales the
   shifts exactly.
3. **Binning.** X-ray maps are binned further by ``b``, the smallest power of two at
   which the median line holds at least :data:`MIN_COUNTS_PER_PIXEL` peak counts per
   pixel inside the sample (``--edx-bin`` overrides). The HAADF images are averaged onto
   the same grid.
4. **Detector shadowing.** A per-tilt gain g_t (:func:`detector_gain`): the counts of a
   reference line in the central half of the field over the HAADF signal there, divided
   by their median. Unlike the peer workflow, which divides the X-ray counts by their own
   central sum, the ratio to the HAADF leaves the sample's projected thickness (which
   grows as 1/cos θ for a lamella) in the data and removes only the detector's share.
   The reference is the line with the most net counts above :data:`REFERENCE_MIN_KEV`
   (lines below are absorbed in the sample), as the peer chose Si K.
5. **Reconstruction.** ``separate``: Poisson EM per line with background and gain
   (:func:`insitu4d.recon.poisson.mlem`); ``fused``: all lines with the HAADF images and
   the HAADF volume as the TNV's structure channel
   (:func:`insitu4d.recon.fused.fused_reconstruction`), which assumes that the listed
   lines account for all of the HAADF signal.
6. **Outputs.** ``elements/<LINE>.h5`` (``/data`` (z, y, x) float32, attribute
   ``voxel_size_nm``), ``elements/HAADF.h5`` (the HAADF volume on the same grid),
   ``composition.csv`` (count fractions per particle, counted on the maps over each
   particle's projected footprint, :mod:`insitu4d.measure.composition`) and ``elements.png``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..align.series import Alignment, apply_alignment
from ..preprocess import rotate_images
from ..edx.lines import XrayLine, parse_lines
from ..edx.maps import denoise_line_map, line_maps, line_overlaps
from ..edx.spectrum_image import read_spectrum_image
from ..errors import InvalidParameter, NoSpectrumImage, UnknownXrayLine
from ..io.writers import write_array, write_csv
from ..measure.composition import COMPOSITION_COLUMNS, particle_composition, particle_footprints
from ..recon.backends import get_projector
from ..recon.fused import fused_reconstruction
from ..recon.poisson import mlem

__all__ = ["EdxParameters", "EdxRecord", "MapsRecord", "run_edx", "spectrum_image_maps", "detector_gain",
           "edx_bin_factor", "holds_spectrum_images", "edx_files_for", "check_edx_lines",
           "EDX_METHODS", "MIN_COUNTS_PER_PIXEL", "REFERENCE_MIN_KEV"]

#: Reconstruction methods of element volumes.
EDX_METHODS = ("separate", "fused")
#: The median line's peak counts per (binned) pixel inside the sample that the automatic binning reaches.
MIN_COUNTS_PER_PIXEL = 5.0
#: Lines below this energy are not used as the shadowing reference (absorbed in the sample), keV.
REFERENCE_MIN_KEV = 1.5
#: Largest automatic binning of X-ray maps.
MAX_EDX_BIN = 8
#: Formats whose files may hold a spectrum image beside the image.
_SPECTRUM_SUFFIXES = (".bcf", ".emd", ".hspy")


@dataclass(frozen=True)
class EdxParameters:
    """Settings of the EDX part of a run.

    Attributes
    ----------
    lines : tuple of str or None
        X-ray lines (``Fe_Ka`` …); None: those the files' metadata lists.
    method : {"separate", "fused"}
    bin_factor : int or "auto"
    reference_line : str or None
        The shadowing reference; None: the rule of the module docstring.
    """

    lines: tuple[str, ...] | None = None
    method: str = "separate"
    bin_factor: int | str = "auto"
    reference_line: str | None = None

    def __post_init__(self) -> None:
        if self.method not in EDX_METHODS:
            raise InvalidParameter(f"edx method must be one of {', '.join(EDX_METHODS)}; got {self.method!r}.")
        if self.bin_factor != "auto" and (not isinstance(self.bin_factor, int) or self.bin_factor < 1):
            raise InvalidParameter(f"edx bin factor must be 'auto' or an integer ≥ 1; got {self.bin_factor!r}.")
        if self.lines is not None:
            parse_lines(self.lines)  # names checked before any file is read


@dataclass(frozen=True)
class EdxRecord:
    """What the EDX part did (its :meth:`to_dict` goes into ``run.json`` as ``edx``)."""

    lines: tuple[str, ...]
    line_energies_keV: tuple[float, ...]
    lines_source: str
    method: str
    bin_factor: int
    voxel_size_nm: float
    reference_line: str
    gain_per_tilt: tuple[float, ...]
    counts_per_pixel: dict
    overlaps: tuple[str, ...]
    unclean_background: tuple[str, ...]
    files: tuple[str, ...]
    outputs: tuple[str, ...]
    fused: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"lines": list(self.lines), "line_energies_keV": list(self.line_energies_keV),
                "lines_source": self.lines_source, "method": self.method, "bin_factor": self.bin_factor,
                "voxel_size_nm": self.voxel_size_nm, "reference_line": self.reference_line,
                "gain_per_tilt": list(self.gain_per_tilt), "peak_counts_per_pixel": dict(self.counts_per_pixel),
                "overlaps": list(self.overlaps), "background_windows_hold_other_lines": list(self.unclean_background),
                "files": list(self.files), "outputs": list(self.outputs), "fused": dict(self.fused)}


def holds_spectrum_images(files) -> bool:
    """Whether the first of a tilt series' files holds a spectrum image (read, so a few seconds for a .bcf).

    Parameters
    ----------
    files : sequence of path

    Returns
    -------
    bool
        False for no files, another format, or a file that holds images only.

    Raises
    ------
    UnreadableFile, MissingEnergyCalibration
        A spectrum image that is damaged or has no energy calibration: the run stops rather
        than leave the elements out without a word.
    """
    files = list(files or [])
    if not files or Path(files[0]).suffix.lower() not in _SPECTRUM_SUFFIXES:
        return False
    try:
        read_spectrum_image(files[0])
    except NoSpectrumImage:  # images only: a HAADF series; a damaged or uncalibrated spectrum image is an error
        return False
    return True


def edx_files_for(path, tilts_deg) -> list[Path]:
    """The spectrum-image files of a folder or glob, one per tilt, in the order of the HAADF tilts.

    Each file's angle comes from its name (:func:`insitu4d.io.tilt_files.tilt_from_file_name`);
    each HAADF tilt takes the file within 0.5° of it. Files without angles in their names
    are taken in natural order.

    Parameters
    ----------
    path : str or Path
    tilts_deg : (n_tilts,) array_like

    Returns
    -------
    list of Path

    Raises
    ------
    NotAStack
        No spectrum-image file there.
    TiltAngleMismatch
        Another number of files than tilts, or a tilt without a file.
    """
    from ..errors import TiltAngleMismatch
    from ..io.tilt_files import tilt_file_in, tilt_from_file_name, tilt_series_files

    files = tilt_series_files(path, set(_SPECTRUM_SUFFIXES))
    if tilt_file_in(path) is not None:
        files = [f for f in files if f != tilt_file_in(path)]
    tilts = [float(t) for t in np.asarray(tilts_deg, float)]
    if len(files) != len(tilts):
        raise TiltAngleMismatch(f"{path} holds {len(files)} spectrum-image file(s) for {len(tilts)} tilts of the HAADF "
                                "series; give one file per tilt.")
    angles = [tilt_from_file_name(f.name) for f in files]
    if any(a is None for a in angles):
        return files
    ordered = []
    for t in tilts:
        k = int(np.argmin([abs(a - t) for a in angles]))
        if abs(angles[k] - t) > 0.5:
            raise TiltAngleMismatch(f"no spectrum-image file in {path} is named for the tilt {t:g}° (nearest: "
                                    f"{files[k].name}); name the files by their tilt, as the HAADF series is.")
        ordered.append(files[k])
    return ordered


def _to_grid(stack: np.ndarray, shape) -> np.ndarray:
    """Maps on a grid ``k`` times coarser than the HAADF images spread evenly over its pixels (counts kept)."""
    ny, nx = stack.shape[-2:]
    if (ny, nx) == tuple(shape):
        return stack
    k = shape[0] // ny
    if k < 1 or shape[0] != k * ny or shape[1] != k * nx:
        raise InvalidParameter(f"the spectrum images are {ny} × {nx} pixels and the HAADF images {shape[0]} × "
                               f"{shape[1]}; they must be equal or differ by a whole factor.")
    return np.repeat(np.repeat(stack, k, axis=-2), k, axis=-1) / float(k * k)


def _sum_bin(stack: np.ndarray, factor: int) -> np.ndarray:
    """Sum ``factor × factor`` blocks of the last two axes (partial blocks dropped)."""
    if factor == 1:
        return stack
    *lead, ny, nx = stack.shape
    ny, nx = ny // factor * factor, nx // factor * factor
    s = stack[..., :ny, :nx].reshape(*lead, ny // factor, factor, nx // factor, factor)
    return s.sum(axis=(-3, -1))


def _sample_mask(haadf: np.ndarray) -> np.ndarray:
    """Pixels of the sample: HAADF above half its 99th percentile."""
    return haadf > 0.5 * np.percentile(haadf, 99)


def edx_bin_factor(peak: np.ndarray, haadf: np.ndarray) -> int:
    """The smallest power of two whose binning gives the median line :data:`MIN_COUNTS_PER_PIXEL` peak counts per
    pixel inside the sample.

    Parameters
    ----------
    peak : (n_lines, n_tilts, ny, nx) ndarray, counts
    haadf : (n_tilts, ny, nx) ndarray
        Same grid.

    Returns
    -------
    int
        1 … :data:`MAX_EDX_BIN`.
    """
    inside = _sample_mask(haadf)
    per_line = np.array([p[inside].mean() if inside.any() else p.mean() for p in peak])
    median = float(np.median(per_line))
    factor = 1
    while median * factor ** 2 < MIN_COUNTS_PER_PIXEL and factor < MAX_EDX_BIN:
        factor *= 2
    return factor


def detector_gain(reference_net: np.ndarray, haadf: np.ndarray, *, box_fraction: float = 0.5) -> np.ndarray:
    """Per-tilt X-ray detection efficiency from a reference line against the HAADF signal.

    Parameters
    ----------
    reference_net : (n_tilts, ny, nx) ndarray, counts
        Background-subtracted counts of the reference line, aligned.
    haadf : (n_tilts, ny, nx) ndarray
        Aligned HAADF images on the same grid, vacuum level removed.
    box_fraction : float
        Side of the central box, as a fraction of the image.

    Returns
    -------
    (n_tilts,) ndarray
        Gains with median 1; tilts with no signal get 1.
    """
    n, ny, nx = haadf.shape
    hy, hx = max(1, int(ny * box_fraction / 2)), max(1, int(nx * box_fraction / 2))
    box = (slice(None), slice(ny // 2 - hy, ny // 2 + hy), slice(nx // 2 - hx, nx // 2 + hx))
    xray = reference_net[box].sum(axis=(1, 2))
    electrons = np.maximum(haadf[box], 0).sum(axis=(1, 2))
    ratio = np.where((electrons > 0) & (xray > 0), xray / np.maximum(electrons, 1e-12), np.nan)
    if not np.isfinite(ratio).any():
        return np.ones(n)
    ratio = ratio / np.nanmedian(ratio)
    return np.where(np.isfinite(ratio), ratio, 1.0)


def _choose_reference(lines, net: np.ndarray, given: str | None) -> int:
    names = [line.name for line in lines]
    if given is not None:
        if given not in names:
            raise UnknownXrayLine(f"the shadowing reference {given} is not among the lines {', '.join(names)}.")
        return names.index(given)
    totals = [float(net[i].sum()) if line.energy_keV >= REFERENCE_MIN_KEV else -np.inf
              for i, line in enumerate(lines)]
    return int(np.argmax(totals)) if np.isfinite(max(totals)) else int(np.argmax([float(n.sum()) for n in net]))


def _line_stacks(files, lines) -> tuple[np.ndarray, np.ndarray, list, float]:
    peaks, backgrounds, unclean, resolution = [], [], set(), None
    for f in files:
        si = read_spectrum_image(f)
        maps = line_maps(si, lines)
        peaks.append([m.peak for m in maps])
        backgrounds.append([m.background for m in maps])
        unclean |= {m.line.name for m in maps if not m.background_clean}
        resolution = si.resolution_mnka_eV
    # (n_tilts, n_lines, ny, nx) -> (n_lines, n_tilts, ny, nx)
    return (np.transpose(np.asarray(peaks, np.float32), (1, 0, 2, 3)),
            np.transpose(np.asarray(backgrounds, np.float32), (1, 0, 2, 3)), sorted(unclean), resolution)


def _lines_for(files, params: EdxParameters) -> tuple[tuple[XrayLine, ...], str]:
    if params.lines is not None:
        return parse_lines(params.lines), "given"
    listed = read_spectrum_image(files[0]).lines_in_metadata
    if not listed:
        raise UnknownXrayLine(f"{Path(files[0]).name} lists no X-ray lines in its metadata; name them with "
                              "--lines, e.g. --lines Fe_Ka,O_K,Pt_La.")
    return parse_lines(listed), "the files' metadata (Sample.xray_lines)"


def check_edx_lines(files, params: EdxParameters) -> tuple[XrayLine, ...]:
    """The lines an EDX series will map, checked on its first file before any long work.

    Parameters
    ----------
    files : sequence of path
    params : EdxParameters

    Returns
    -------
    tuple of XrayLine

    Raises
    ------
    UnknownXrayLine, UnknownElement, MissingEnergyCalibration, UnreadableFile
        A line that is not in the table or outside the first file's energy range, a
        shadowing reference that is not among the lines, or a file without a spectrum image
        or an energy calibration.
    """
    lines, _ = _lines_for(files, params)
    if params.reference_line is not None and params.reference_line not in [line.name for line in lines]:
        raise UnknownXrayLine(f"the shadowing reference {params.reference_line} is not among the lines "
                              f"{', '.join(line.name for line in lines)}; name one of them.")
    line_maps(read_spectrum_image(files[0]), lines)
    return lines


def run_edx(files, haadf_aligned: np.ndarray, alignment: Alignment | None, *, preprocess_bin: int,
            haadf_shape: tuple[int, int] | None = None, tilt_axis_deg: float = 0.0,
            pixel_size_nm: float, tilts_deg, nz_haadf: int, labels: np.ndarray | None, outdir,
            params: EdxParameters, haadf_volume: np.ndarray | None = None, figures: bool = True) -> EdxRecord:
    """Element volumes of an EDX tilt series aligned by its HAADF images (module docstring).

    Parameters
    ----------
    files : sequence of path
        One spectrum-image file per tilt, in the order of ``tilts_deg``.
    haadf_aligned : (n_tilts, ny, nx) ndarray
        The HAADF tilt series as reconstructed (binned by ``preprocess_bin``, aligned).
    alignment : Alignment or None
        The HAADF's; None when alignment was skipped: the maps are then only turned by
        ``tilt_axis_deg``, as the HAADF images were.
    preprocess_bin : int
        The HAADF's pixel binning before alignment.
    tilt_axis_deg : float, degrees
        Direction of the tilt axis used without alignment.
    haadf_shape : (int, int), optional
        The HAADF images as recorded (before binning): spectrum images on a grid a whole
        factor coarser are spread onto it. Default: the spectrum images' own.
    pixel_size_nm : float, nm
        Of ``haadf_aligned``.
    tilts_deg : (n_tilts,) array_like
    nz_haadf : int
        Thickness of the HAADF volume, voxels.
    labels : (nz, ny, nx) ndarray of int or None
        The HAADF segmentation, for ``composition.csv``.
    outdir : Path
    params : EdxParameters
    haadf_volume : (nz, ny, nx) ndarray, optional
        Written as ``elements/HAADF.h5`` on the element grid.
    figures : bool

    Returns
    -------
    EdxRecord

    Raises
    ------
    UnknownXrayLine, UnknownElement, MissingEnergyCalibration, UnreadableFile
    """
    outdir = Path(outdir)
    files = [Path(f) for f in files]
    lines, lines_source = _lines_for(files, params)
    peak, background, unclean, resolution = _line_stacks(files, lines)
    if haadf_shape is not None:
        peak, background = _to_grid(peak, haadf_shape), _to_grid(background, haadf_shape)
    peak, background = _sum_bin(peak, preprocess_bin), _sum_bin(background, preprocess_bin)
    if alignment is not None:
        peak = np.stack([np.maximum(apply_alignment(p, alignment), 0) for p in peak])
        background = np.stack([np.maximum(apply_alignment(b, alignment), 0) for b in background])
    elif tilt_axis_deg:
        peak = np.stack([np.maximum(rotate_images(p, tilt_axis_deg), 0) for p in peak])
        background = np.stack([np.maximum(rotate_images(b, tilt_axis_deg), 0) for b in background])
    ny, nx = haadf_aligned.shape[1:]
    peak, background = peak[..., :ny, :nx], background[..., :ny, :nx]
    factor = edx_bin_factor(peak, haadf_aligned) if params.bin_factor == "auto" else int(params.bin_factor)
    peak, background = _sum_bin(peak, factor), _sum_bin(background, factor)
    haadf = _sum_bin(haadf_aligned, factor) / factor ** 2
    reference = _choose_reference(lines, peak - background, params.reference_line)
    gain = detector_gain(peak[reference] - background[reference], haadf)
    nz = max(1, int(np.ceil(nz_haadf / factor)))
    projector = get_projector(tilts_deg, nz, peak.shape[-1])
    fused_info: dict = {}
    if params.method == "fused":
        # pixel noise from neighbour differences: an upper bound (edges count as noise), so μ errs low
        noise_var = float(np.var(np.diff(haadf, axis=-1)) / 2.0)
        # the HAADF volume guides the TNV; ×factor: its voxel values against projections in binned-pixel lengths
        structure = None if haadf_volume is None else \
            _block_mean(haadf_volume, factor, (nz,) + peak.shape[-2:]) * factor
        result = fused_reconstruction(projector, peak, background, haadf, haadf_noise_var=max(noise_var, 1e-12),
                                      gain=gain, structure=structure)
        volumes = result.volumes
        fused_info = {"haadf_weights": result.haadf_weights.tolist(), "modality_weight": result.modality_weight,
                      "regularisation": result.regularisation, "coupling": "tnv",
                      "structure": "the HAADF volume" if structure is not None else None}
    else:
        volumes = np.stack([mlem(projector, peak[i], background[i], gain) for i in range(len(lines))])
    voxel = pixel_size_nm * factor
    (outdir / "elements").mkdir(exist_ok=True)
    outputs = []
    for line, volume in zip(lines, volumes):
        write_array(outdir / "elements" / f"{line.name}.h5", volume.astype(np.float32),
                    attrs={"voxel_size_nm": voxel, "axes": "z,y,x", "line": line.name,
                           "energy_keV": line.energy_keV, "units": "X-ray counts per voxel and tilt"})
        outputs.append(f"elements/{line.name}.h5")
    if haadf_volume is not None:
        write_array(outdir / "elements" / "HAADF.h5", _block_mean(haadf_volume, factor, volumes.shape[1:]),
                    attrs={"voxel_size_nm": voxel, "axes": "z,y,x", "line": "HAADF"})
        outputs.append("elements/HAADF.h5")
    if labels is not None:
        footprints = particle_footprints(projector, _block_labels(labels, factor, volumes.shape[1:]))
        rows = particle_composition(peak, background, footprints, [line.name for line in lines])
        write_csv(outdir / "composition.csv", [r.to_row() for r in rows], COMPOSITION_COLUMNS)
        outputs.append("composition.csv")
    if figures:
        from ..report.element_slices import save_element_slices

        save_element_slices(outdir / "elements.png", [line.name for line in lines], volumes, voxel,
                            haadf=None if haadf_volume is None else _block_mean(haadf_volume, factor,
                                                                                 volumes.shape[1:]))
        outputs.append("elements.png")
    inside = _sample_mask(haadf)
    return EdxRecord(
        lines=tuple(line.name for line in lines), line_energies_keV=tuple(round(line.energy_keV, 4) for line in lines),
        lines_source=lines_source, method=params.method, bin_factor=factor, voxel_size_nm=voxel,
        reference_line=lines[reference].name, gain_per_tilt=tuple(round(float(g), 4) for g in gain),
        counts_per_pixel={line.name: round(float(p[inside].mean() if inside.any() else p.mean()), 3)
                          for line, p in zip(lines, peak)},
        overlaps=tuple(line_overlaps(lines, resolution)), unclean_background=tuple(unclean),
        files=tuple(str(f) for f in files), outputs=tuple(outputs), fused=fused_info)


def _fit(volume: np.ndarray, factor: int, shape) -> np.ndarray:
    """A HAADF-grid volume cut or padded to ``shape × factor``: y and x from the start (as binning drops the
    last partial block), z about the centre (the projector's rotation centre)."""
    target = tuple(s * factor for s in shape)
    out = np.zeros(target, volume.dtype)
    ny, nx = min(volume.shape[1], target[1]), min(volume.shape[2], target[2])
    nz = min(volume.shape[0], target[0])
    src, dst = (volume.shape[0] - nz) // 2, (target[0] - nz) // 2
    out[dst:dst + nz, :ny, :nx] = volume[src:src + nz, :ny, :nx]
    return out


def _block_mean(volume: np.ndarray, factor: int, shape) -> np.ndarray:
    """A volume averaged over ``factor³`` blocks onto the element grid ``shape`` (z centred)."""
    v = _fit(np.asarray(volume, np.float32), factor, shape)
    nz, ny, nx = shape
    return v.reshape(nz, factor, ny, factor, nx, factor).mean(axis=(1, 3, 5)).astype(np.float32)


def _block_labels(labels: np.ndarray, factor: int, shape) -> np.ndarray:
    """Labels on the element grid: each block takes the label of most of its voxels (0 included)."""
    if factor == 1:
        return _fit(labels, 1, shape)
    v = _fit(np.asarray(labels), factor, shape)
    nz, ny, nx = shape
    blocks = v.reshape(nz, factor, ny, factor, nx, factor).transpose(0, 2, 4, 1, 3, 5).reshape(nz, ny, nx, -1)
    from scipy import stats

    return stats.mode(blocks, axis=-1, keepdims=False).mode.astype(labels.dtype)


@dataclass(frozen=True)
class MapsRecord:
    """What :func:`spectrum_image_maps` wrote (``maps.json``)."""

    source: str
    lines: tuple[str, ...]
    lines_source: str
    pixel_size_nm: float | None
    net_counts: dict
    overlaps: tuple[str, ...]
    unclean_background: tuple[str, ...]
    core_shell: tuple = ()
    outputs: tuple[str, ...] = ()
    denoising: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"source": self.source, "lines": list(self.lines), "lines_source": self.lines_source,
                "pixel_size_nm": self.pixel_size_nm, "net_counts": dict(self.net_counts),
                "overlaps": list(self.overlaps), "background_windows_hold_other_lines": list(self.unclean_background),
                "core_shell": [f.to_row() for f in self.core_shell], "outputs": list(self.outputs),
                "denoising": dict(self.denoising)}


def spectrum_image_maps(path, outdir, *, lines=None, core_line: str | None = None, shell_line: str | None = None,
                        pixel_size_nm: float | None = None, denoise: str | None = None) -> MapsRecord:
    """Element maps of one spectrum image, and the core radius and shell thickness of its particles.

    Writes ``maps/<LINE>.h5`` (``/data`` (y, x) net counts, ``/peak`` and ``/background``;
    attribute ``pixel_size_nm``), ``maps.png``, ``maps.json`` and, with both ``core_line``
    and ``shell_line``, ``core_shell.csv`` (:func:`insitu4d.measure.core_shell.fit_core_shell`).

    Parameters
    ----------
    path : str or Path
        A spectrum-image file (:func:`insitu4d.edx.spectrum_image.read_spectrum_image`).
    outdir : str or Path
    lines : str or sequence of str, optional
        Default: those the file lists.
    core_line, shell_line : str, optional
        Lines of the core and of the shell; added to ``lines`` if missing.
    pixel_size_nm : float, optional
        Overrides the file's calibration.
    denoise : {"tv", "nlm", "wavelet", "gaussian", "bm3d"}, optional
        Denoise each map's counts, Poisson-aware (:func:`insitu4d.edx.maps.denoise_line_map`);
        the core–shell fit always takes the raw counts, whose noise its likelihood knows.

    Returns
    -------
    MapsRecord

    Raises
    ------
    UnknownXrayLine, UnknownElement, MissingEnergyCalibration, UnreadableFile, MissingPixelSize
    InvalidParameter
        Only one of ``core_line`` and ``shell_line``.
    """
    import h5py

    from ..errors import MissingPixelSize
    from ..io.writers import write_json
    from ..measure.core_shell import CORE_SHELL_COLUMNS, fit_core_shell, locate_particles

    if (core_line is None) != (shell_line is None):
        raise InvalidParameter("give both --core-line and --shell-line (e.g. Pt_La and Fe_Ka), or neither.")
    si = read_spectrum_image(path)
    if lines is not None:
        chosen, source = parse_lines(lines), "given"
    elif si.lines_in_metadata:
        chosen, source = parse_lines(si.lines_in_metadata), "the file's metadata (Sample.xray_lines)"
    elif core_line is None:
        raise UnknownXrayLine(f"{Path(path).name} lists no X-ray lines in its metadata; name them with --lines, "
                              "e.g. --lines Fe_Ka,O_K,Pt_La.")
    else:
        chosen, source = (), "given"
    extra = [n for n in (core_line, shell_line) if n is not None and n not in [c.name for c in chosen]]
    chosen = tuple(chosen) + (parse_lines(extra) if extra else ())
    pixel = pixel_size_nm if pixel_size_nm is not None else si.pixel_size_nm
    raw = line_maps(si, chosen)
    maps = [denoise_line_map(m, denoise) for m in raw] if denoise is not None else raw
    outdir = Path(outdir)
    (outdir / "maps").mkdir(parents=True, exist_ok=True)
    outputs = []
    for m in maps:
        target = outdir / "maps" / f"{m.line.name}.h5"
        tmp = target.with_suffix(".h5.part")
        with h5py.File(tmp, "w") as f:
            f["data"], f["peak"], f["background"] = m.net, m.peak, m.background
            f.attrs.update({"pixel_size_nm": pixel if pixel is not None else float("nan"), "line": m.line.name,
                            "energy_keV": m.line.energy_keV, "window_keV": m.window_keV, "axes": "y,x",
                            "denoising": json.dumps(m.denoising)})
        tmp.replace(target)
        outputs.append(f"maps/{m.line.name}.h5")
    fits: list = []
    if core_line is not None:
        if pixel is None:
            raise MissingPixelSize(f"{Path(path).name} has no pixel size; give it (--pixel-size, nm) to measure radii.")
        by_name = {m.line.name: m for m in raw}
        core, shell = by_name[parse_lines(core_line)[0].name], by_name[parse_lines(shell_line)[0].name]
        labels = locate_particles(core.net + shell.net)
        fits = fit_core_shell(core.peak, core.background, shell.peak, shell.background, labels, pixel)
        write_csv(outdir / "core_shell.csv", [f.to_row() for f in fits], CORE_SHELL_COLUMNS)
        outputs.append("core_shell.csv")
    from ..report.element_slices import save_element_maps

    save_element_maps(outdir / "maps.png", [m.line.name for m in maps], [m.net for m in maps], pixel,
                      fits=fits)
    outputs += ["maps.png", "maps.json"]
    record = MapsRecord(source=str(Path(path).resolve()), lines=tuple(m.line.name for m in maps), lines_source=source,
                        pixel_size_nm=pixel, net_counts={m.line.name: round(float(m.net.sum()), 1) for m in maps},
                        overlaps=tuple(line_overlaps(chosen, si.resolution_mnka_eV)),
                        unclean_background=tuple(m.line.name for m in maps if not m.background_clean),
                        core_shell=tuple(fits), outputs=tuple(outputs),
                        denoising={m.line.name: m.denoising for m in maps} if denoise is not None else {})
    write_json(outdir / "maps.json", record.to_dict())
    return record
