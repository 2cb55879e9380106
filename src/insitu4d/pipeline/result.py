"""The result of the main job on one tilt series (one time point): a typed record, written as ``run.json``.

:func:`~insitu4d.pipeline.run.run_tilt_series` returns a :class:`TimePointResult`;
:meth:`TimePointResult.to_dict` is the content of ``run.json`` and :meth:`TimePointResult.load`
reads it back (the 4D pipeline does, to resume and to fix the first time point's automatic
choices). The parts that already are records of their stage stay so: the parameters
(:class:`~insitu4d.pipeline.run.RunParameters`), the noise level
(:class:`~insitu4d.noise.NoiseLevel`), the alignment (:class:`~insitu4d.align.Alignment`) and
the quality flags (:class:`~insitu4d.quality.QualityFlag`). Provenance written by a stage for
the record only (the dose, the denoising calibration, the reconstruction's method record,
the segmentation's report) stays as that stage wrote it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np

from .. import __version__
from ..align import Alignment
from ..errors import NotAStack, UnreadableFile
from ..io.readers import FORMATS
from ..io.tilt_files import is_file_per_tilt, is_glob, sha256_files, tilt_series_files
from ..io.writers import sha256_file
from ..noise import NoiseLevel
from ..provenance import RunProvenance
from ..quality import QualityFlag
from ..segment import SegmentationParameters

if TYPE_CHECKING:
    from .run import RunParameters

__all__ = ["InputFile", "TiltSeriesRecord", "TimePointResult"]


def _absolute(path) -> Path:
    """An absolute path; a glob pattern keeps its wildcards (its folder made absolute)."""
    if is_glob(path):
        return Path(str(path)).parent.resolve() / Path(str(path)).name
    return Path(str(path)).resolve()


def _content_sha256(path) -> str:
    """SHA-256 of a file, or of the image files of a folder or glob pattern (one file per tilt)."""
    if is_file_per_tilt(path):
        return sha256_files(tilt_series_files(path, set(FORMATS)))
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} is not a file")
    return sha256_file(path)


@dataclass(frozen=True)
class InputFile:
    """An input of a run, identified by its content.

    Attributes
    ----------
    path : str
        Absolute path (of a file, or of a folder or glob pattern of one file per tilt).
    sha256 : str
        SHA-256 of the file's bytes (of a folder's image files: of their names and hashes).
    unused : str or None
        Why the run did not use it (e.g. a previous time point's labels on another grid).
    """

    path: str
    sha256: str
    unused: Optional[str] = None

    @classmethod
    def of(cls, path) -> InputFile:
        """The record of a file as it is now.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        InputFile

        Raises
        ------
        OSError
            The file cannot be read.
        """
        return cls(str(_absolute(path)), _content_sha256(path))

    def state(self) -> str:
        """Whether the recorded input is still there with the recorded content.

        Returns
        -------
        {"same", "changed", "missing"}
            "missing" when the file, or every image file of a folder or pattern, is gone.
        """
        try:
            return "same" if _content_sha256(self.path) == self.sha256 else "changed"
        except (OSError, NotAStack):
            return "missing"

    def same_content(self, path) -> bool:
        """Whether ``path`` holds the bytes this record was made from.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        bool
        """
        try:
            return _content_sha256(path) == self.sha256
        except (OSError, NotAStack):
            return False

    def to_dict(self) -> dict:
        """The record for JSON (``unused`` only when set).

        Returns
        -------
        dict
        """
        return {"path": self.path, "sha256": self.sha256, **({"unused": self.unused} if self.unused else {})}


@dataclass(frozen=True)
class TiltSeriesRecord:
    """The tilt series as reconstructed: its geometry, where its calibration came from and what was done to it.

    Attributes
    ----------
    shape : (int, int, int)
        (n_tilts, ny, nx) after preprocessing and alignment.
    pixel_size_nm : float, nm
    tilts_deg : (n_tilts,) tuple of float, degrees
    tilts_source, pixel_size_source : str or None
        Where the angles and the calibration were read from ("given", a file, the metadata).
    background_offsets : tuple of float or None
        The offset subtracted from each image, in the file's units.
    intensity_scale : float or None
        What the stack was divided by when normalised.
    history : tuple of dict
        The other processing steps (:class:`~insitu4d.data.ProcessingStep` records), in order.
    missing_metadata : tuple of str
        Dose-relevant acquisition settings the file did not hold.
    acquisition : dict of str to float or None
        ``beam_energy_keV``, ``probe_current_pA``, ``dwell_time_s``, ``frame_time_s`` as read
        from the file or given (None: unknown).
    """

    shape: tuple[int, int, int]
    pixel_size_nm: float
    tilts_deg: tuple[float, ...]
    tilts_source: Optional[str]
    pixel_size_source: Optional[str]
    background_offsets: Optional[tuple[float, ...]]
    intensity_scale: Optional[float]
    history: tuple[dict, ...]
    missing_metadata: tuple[str, ...]
    acquisition: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The record for JSON, sequences as lists.

        Returns
        -------
        dict
        """
        return {"shape": list(self.shape), "pixel_size_nm": self.pixel_size_nm, "tilts_deg": list(self.tilts_deg),
                "tilts_source": self.tilts_source, "pixel_size_source": self.pixel_size_source,
                "background_offsets": None if self.background_offsets is None else list(self.background_offsets),
                "intensity_scale": self.intensity_scale, "history": list(self.history),
                "missing_metadata": list(self.missing_metadata), "acquisition": dict(self.acquisition)}

    @classmethod
    def from_dict(cls, data: dict) -> TiltSeriesRecord:
        """The record from :meth:`to_dict`'s form.

        Parameters
        ----------
        data : dict

        Returns
        -------
        TiltSeriesRecord

        Raises
        ------
        KeyError, TypeError
            A field is missing or of the wrong kind.
        """
        offsets = data["background_offsets"]
        return cls(tuple(data["shape"]), float(data["pixel_size_nm"]), tuple(data["tilts_deg"]), data["tilts_source"],
                   data["pixel_size_source"], None if offsets is None else tuple(offsets), data["intensity_scale"],
                   tuple(data["history"]), tuple(data["missing_metadata"]), dict(data.get("acquisition", {})))


@dataclass(frozen=True, eq=False)
class TimePointResult:
    """What :func:`~insitu4d.pipeline.run.run_tilt_series` did and found (``run.json``).

    Attributes
    ----------
    software_version : str
        insitu4d's version.
    inputs : dict of str to InputFile
        ``tilt_series``, and where used ``tilts`` (the tilt file, given or found beside the
        stack), ``previous_labels``, ``previous_volume``.
    parameters : RunParameters
    tilt_series : TiltSeriesRecord
    dose : dict
        :func:`insitu4d.dose.tilt_series_dose`'s record (e⁻/nm²), or the reason it is unknown.
    noise : NoiseLevel
    denoise : dict or None
        The denoising calibration (:func:`insitu4d.denoise.denoise_calibrated`), None without.
    alignment : Alignment or None
        None when alignment was skipped (the axis direction is then :attr:`tilt_axis_deg`).
    reconstruction : dict
        The volume's provenance (:func:`insitu4d.recon.reconstruct`): method, its settings
        and how the automatic ones were chosen.
    resumed_from_volume_h5 : bool
        The volume of an earlier run with the same key was reused.
    reprojection_residual : float
        ‖A x − b‖ / ‖b‖ of the volume against the aligned tilt series.
    segmentation : dict
        :func:`insitu4d.segment.segment`'s report.
    resolution_vox : float, voxels
        Edge width of the particles in the volume.
    counts_per_pixel : float or None
        Detected counts in the bright part of the images (None: not counts).
    quality_flags : tuple of QualityFlag
    neck_fits : tuple of dict
        Each pair's neck fitted to the tilt series (:meth:`insitu4d.neck_fit.NeckFit.to_dict`),
        empty when ``neck_fit`` is off.
    n_particles, n_pairs : int
    timings_s : dict of str to float, s
        Wall time of each stage (:data:`~insitu4d.pipeline.run.STAGES`).
    outputs : tuple of str
        The files written in the output folder.
    provenance : RunProvenance or None
        Command line, start and end, host, CPU, GPU, library versions, git commit and random
        seeds (None in a ``run.json`` written before it was recorded).
    edx : dict or None
        The element maps and volumes of an EDX tilt series
        (:meth:`insitu4d.pipeline.edx.EdxRecord.to_dict`); None without one.
    """

    software_version: str
    inputs: dict
    parameters: RunParameters
    tilt_series: TiltSeriesRecord
    dose: dict
    noise: NoiseLevel
    denoise: Optional[dict]
    alignment: Optional[Alignment]
    reconstruction: dict
    resumed_from_volume_h5: bool
    reprojection_residual: float
    segmentation: dict
    resolution_vox: float
    counts_per_pixel: Optional[float]
    quality_flags: tuple[QualityFlag, ...]
    n_particles: int
    n_pairs: int
    neck_fits: tuple[dict, ...] = ()
    timings_s: dict = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    provenance: Optional[RunProvenance] = None
    edx: Optional[dict] = None

    @property
    def tilt_axis_deg(self) -> float:
        """The in-plane direction of the tilt axis the run used, degrees from image y.

        Returns
        -------
        float
        """
        if self.alignment is not None:
            return float(self.alignment.tilt_axis_deg)
        axis = self.parameters.tilt_axis_deg
        return 0.0 if axis == "auto" else float(axis)

    def to_dict(self) -> dict:
        """The content of ``run.json``.

        Returns
        -------
        dict
        """
        alignment = self.alignment.to_dict() if self.alignment is not None else \
            {"skipped": True, "tilt_axis_deg": self.tilt_axis_deg}
        return {
            "software": {"name": "insitu4d", "version": self.software_version},
            "inputs": {name: f.to_dict() for name, f in self.inputs.items()},
            "parameters": self.parameters.to_dict(),
            "tilt_series": self.tilt_series.to_dict(),
            "dose": self.dose,
            "noise": self.noise.to_dict(),
            "denoise": self.denoise,
            "alignment": alignment,
            "reconstruction": dict(self.reconstruction, resumed_from_volume_h5=self.resumed_from_volume_h5),
            "reprojection_residual": self.reprojection_residual,
            "segmentation": self.segmentation,
            "resolution_vox": self.resolution_vox,
            "counts_per_pixel": self.counts_per_pixel,
            "quality_flags": [f.to_dict() for f in self.quality_flags],
            "neck_fits": list(self.neck_fits),
            "n_particles": self.n_particles,
            "n_pairs": self.n_pairs,
            "timings_s": self.timings_s,
            "outputs": list(self.outputs),
            "provenance": None if self.provenance is None else self.provenance.to_dict(),
            **({"edx": self.edx} if self.edx is not None else {}),
        }

    @classmethod
    def load(cls, path) -> TimePointResult:
        """Read a ``run.json`` back.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        TimePointResult

        Raises
        ------
        UnreadableFile
            The file is missing, not JSON, or not a ``run.json`` of this version's layout
            (the message says which part).
        """
        from .run import RunParameters  # noqa: F811 (run.py imports this module)

        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UnreadableFile(f"{path} does not exist.") from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise UnreadableFile(f"{path.name} is not readable JSON: {exc}.") from None
        part = "the file"
        try:
            part = "parameters"
            p = dict(data["parameters"])
            params = RunParameters(**{k: v for k, v in p.items() if k != "segmentation"},
                                   segmentation=SegmentationParameters(**p["segmentation"]))
            part = "alignment"
            al = data["alignment"]
            alignment = None if al.get("skipped") else Alignment(
                **{**al, "shifts_px": np.asarray(al["shifts_px"], float), "quality": np.asarray(al["quality"], float)})
            part = "the other records"
            recon = dict(data["reconstruction"])
            resumed = bool(recon.pop("resumed_from_volume_h5"))
            return cls(
                software_version=data["software"]["version"],
                inputs={name: InputFile(**f) for name, f in data["inputs"].items()},
                parameters=params, tilt_series=TiltSeriesRecord.from_dict(data["tilt_series"]), dose=data["dose"],
                noise=NoiseLevel(**data["noise"]), denoise=data["denoise"], alignment=alignment,
                reconstruction=recon, resumed_from_volume_h5=resumed,
                reprojection_residual=data["reprojection_residual"], segmentation=data["segmentation"],
                resolution_vox=data["resolution_vox"], counts_per_pixel=data["counts_per_pixel"],
                quality_flags=tuple(QualityFlag(**f) for f in data["quality_flags"]),
                n_particles=int(data["n_particles"]), n_pairs=int(data["n_pairs"]),
                neck_fits=tuple(data["neck_fits"]), timings_s=data["timings_s"],
                outputs=tuple(data["outputs"]),
                provenance=None if data.get("provenance") is None else RunProvenance.from_dict(data["provenance"]),
                edx=data.get("edx"))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise UnreadableFile(f"{path.name} is not a run.json of insitu4d {__version__}: {part} "
                                 f"({type(exc).__name__}: {exc}). Run the tilt series again.") from None

