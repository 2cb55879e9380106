"""Tomographic reconstruction of an aligned tilt series (tilt axis along image y)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from ..choices import RECON_METHOD_CHOICES, RECON_METHODS, RECON_REGIONS
from .. import __version__
from ..data import TiltSeries, Volume, require_whole
from ..errors import InvalidParameter
from ..noise import NoiseLevel, noise_level
from .algorithms import FILTERS, asd_pocs_block, cgls_block, density_scale, fbp_block, sart_block, sirt_block, tv_block
from .auto import choose_method, discrepancy_tv_weight
from .backends import BACKENDS, available_backends, get_projector
from .joseph import cpu_threads
from .prior import RegisteredPrior, register_prior
from .projector import Projector
from .region import AUTO_MIN_VOXELS, OUTSIDE_SIGMAS, Region, find_region, outside_signal

__all__ = ["reconstruct", "check_parameters", "ReconstructionParameters", "reprojection_residual", "Projector",
           "METHODS", "METHOD_CHOICES", "FILTERS", "BACKENDS", "available_backends", "DEFAULT_ITERATIONS",
           "MAX_ITERATIONS", "PRIOR_SHARE", "REGIONS"]

#: What ``region`` accepts (:mod:`insitu4d.recon.region`).
REGIONS = RECON_REGIONS

METHODS = RECON_METHODS
#: What ``method`` accepts: a method, or "auto" (:func:`insitu4d.recon.auto.choose_method`).
METHOD_CHOICES = RECON_METHOD_CHOICES
#: Iterations of each iterative method when none are given (SART and ASD-POCS: passes over all tilts).
DEFAULT_ITERATIONS = {"sirt": 100, "sart": 10, "cgls": 30, "tv": 150, "asd-pocs": 50}
#: The most iterations accepted: 100 × the largest default, far past convergence of every method.
MAX_ITERATIONS = 10_000
#: α of the temporal prior's PICCS term: the TV weight shared equally between the volume and its
#: change since the prior (Chen, Tang & Leng, Med. Phys. 35, 660 (2008), doi:10.1118/1.2836423).
PRIOR_SHARE = 0.5
#: SIRT iterations of the quick volume the prior is registered to.
PRIOR_REGISTRATION_ITERATIONS = 20


def check_parameters(*, method: str = "auto", iterations: int | None = None, tv_weight: float | str = "auto",
                     thickness_px: int | None = None, filter_name: str = "ramp", backend: str = "auto",
                     prior: bool = False, prior_share: float = PRIOR_SHARE, region: str = "auto") -> float | str:
    """Check the reconstruction's parameters, the one place that does (:func:`reconstruct` and
    :class:`~insitu4d.pipeline.RunParameters` both call it).

    Parameters
    ----------
    method, iterations, tv_weight, thickness_px, filter_name, backend, prior_share, region
        As :func:`reconstruct`.
    prior : bool
        Whether a temporal prior is used.

    Returns
    -------
    float or "auto"
        ``tv_weight`` as a float, or "auto".

    Raises
    ------
    InvalidParameter
        Unknown method, filter, backend or region; iterations or thickness_px not a whole number
        ≥ 1 (iterations at most :data:`MAX_ITERATIONS`); a TV weight that is neither "auto"
        nor a number ≥ 0; a prior with a method other than TV, or a share outside [0, 1].
    """
    if method not in METHOD_CHOICES:
        raise InvalidParameter(f"unknown reconstruction method {method!r}; choose one of {', '.join(METHOD_CHOICES)}.")
    if filter_name not in FILTERS:
        raise InvalidParameter(f"unknown FBP filter {filter_name!r}; choose one of {', '.join(FILTERS)}.")
    if backend not in BACKENDS:
        raise InvalidParameter(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
    if region not in REGIONS:
        raise InvalidParameter(f"unknown reconstruction region {region!r}; choose one of {', '.join(REGIONS)}.")
    require_whole(thickness_px, "thickness_px", minimum=1, optional=True)
    require_whole(iterations, "iterations", minimum=1, maximum=MAX_ITERATIONS, optional=True)
    if tv_weight != "auto":
        if isinstance(tv_weight, (bool, str)) or not isinstance(tv_weight, (int, float, np.floating)) \
                or not tv_weight >= 0 or not np.isfinite(tv_weight):
            raise InvalidParameter(f"tv_weight must be 'auto' or a number ≥ 0; got {tv_weight!r}.")
        tv_weight = float(tv_weight)
    if isinstance(prior_share, bool) or not isinstance(prior_share, (int, float)) or not 0.0 <= prior_share <= 1.0:
        raise InvalidParameter(f"prior_share (temporal_prior_share) must be a number in [0, 1]; got {prior_share!r}.")
    if prior and method not in ("auto", "tv"):
        raise InvalidParameter(f"a temporal prior is a term of the TV reconstruction; method {method!r} cannot "
                               f"use it. Choose method 'tv' or 'auto', or leave the prior out (temporal_prior = "
                               f"false).")
    return tv_weight


@dataclass(frozen=True)
class ReconstructionParameters:
    """The settings of :func:`reconstruct` that a run chooses, checked once on creation (:func:`check_parameters`).

    Attributes
    ----------
    method, iterations, filter_name, tv_weight, thickness_px, backend, prior_share, region
        As :func:`reconstruct`; ``tv_weight`` is stored as a float unless "auto".
    """

    method: str = "auto"
    iterations: int | None = None
    filter_name: str = "ramp"
    tv_weight: float | str = "auto"
    thickness_px: int | None = None
    backend: str = "auto"
    prior_share: float = PRIOR_SHARE
    region: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tv_weight", check_parameters(
            method=self.method, iterations=self.iterations, tv_weight=self.tv_weight,
            thickness_px=self.thickness_px, filter_name=self.filter_name, backend=self.backend,
            prior_share=self.prior_share, region=self.region))

    def kwargs(self) -> dict:
        """The keyword arguments of :func:`reconstruct`.

        Returns
        -------
        dict
        """
        return asdict(self)


def reconstruct(tilt_series: TiltSeries, *, method: str = "auto", iterations: int | None = None,
                filter_name: str = "ramp", thickness_px: int | None = None, nonnegative: bool = True,
                tv_weight: float | str = "auto", n_subsets: int = 8, backend: str = "auto",
                n_workers: int | None = None, noise: NoiseLevel | None = None, prior: Volume | None = None,
                prior_share: float = PRIOR_SHARE, tv_scale: float | None = None, region: str = "auto",
                progress: Callable[[int, int], None] | None = None) -> Volume:
    """Reconstruct a volume from an aligned tilt series, all slices along the tilt axis at once.

    Parameters
    ----------
    tilt_series : TiltSeries
        Aligned, background-free; tilt axis along image ``y`` through the image centre.
    method : {"auto", "fbp", "sirt", "sart", "cgls", "tv", "asd-pocs"}
        Filtered back-projection, SIRT, ordered-subset SART, CGLS, TV-regularised
        (compressed sensing; preconditioned Chambolle–Pock), or ASD-POCS (TV by adaptive
        steepest descent between OS-SART passes); see :mod:`insitu4d.recon.algorithms`.
        ``"auto"`` chooses from the tilt range, the number of tilts and the noise
        (:func:`insitu4d.recon.auto.choose_method`).
    iterations : int, optional
        Iterations of the iterative methods (SART, ASD-POCS: passes over all tilts);
        default :data:`DEFAULT_ITERATIONS` of the method.
    filter_name : {"ramp", "shepp-logan", "hann"}
        FBP filter.
    thickness_px : int, optional
        Volume size along z (the beam at 0°); default the image width.
    nonnegative : bool
        SIRT, SART, TV, ASD-POCS: clip negative densities.
    tv_weight : float or "auto"
        TV: dimensionless regularisation weight; ``"auto"`` chooses it by the discrepancy
        principle (:func:`insitu4d.recon.auto.discrepancy_tv_weight`).
    n_subsets : int
        SART, ASD-POCS: tilt subsets per pass.
    backend : {"cpu", "gpu", "astra", "auto"}
        Projector backend (:mod:`insitu4d.recon.backends`); ``"auto"`` takes the GPU when
        one is usable.
    n_workers : int, optional
        CPU threads of the ``cpu`` backend; default all cores.
    noise : NoiseLevel, optional
        The noise of ``tilt_series`` (:func:`insitu4d.noise.noise_level`), for the
        automatic choices; estimated from the images (wavelet MAD) when not given.
    prior : Volume, optional
        A temporal prior (4D): the previous time point's volume on the same grid. It is
        moved onto a quick SIRT reconstruction of these data by phase correlation, put on
        their density scale (total projected signal), and used by TV as the start and in
        the term α TV(x − x_prior) (:mod:`insitu4d.recon.prior`). TV only; ``"auto"``
        then means TV. A prior (or data) without signal is not used, and the provenance
        says so.
    prior_share : float
        α in [0, 1] (default :data:`PRIOR_SHARE`); the TV weight is shared as
        (1 − α) TV(x) + α TV(x − x_prior).
    tv_scale : float, optional
        TV: the density scale the data are divided by (default: these data's,
        :func:`insitu4d.recon.algorithms.density_scale`); slabs of one volume share it.
    region : {"auto", "sample", "whole"}
        Where the iterations run (:mod:`insitu4d.recon.region`): ``"sample"``, in the box
        that holds the sample, found by a coarse pass and checked against the data (the
        whole field when the check fails); ``"whole"``, the whole field; ``"auto"``, the
        box for fields of more than :data:`~insitu4d.recon.region.AUTO_MIN_VOXELS` voxels.
        The volume is the whole field either way, zero outside the box.
    progress : callable(done, total), optional
        Called after each iteration.

    Returns
    -------
    Volume
        ``(nz, ny, nx)`` float32 with ``voxel_size_nm`` equal to the pixel size; its
        provenance records the method, every parameter, and the automatic choices with
        their reasons.

    Raises
    ------
    InvalidParameter
        Unknown method, filter, backend or region, iterations or thickness_px not a whole
        number ≥ 1 (iterations at most :data:`MAX_ITERATIONS`), a TV weight that is neither
        "auto" nor a number ≥ 0, or a prior with a method other than TV, on another grid,
        or with a share outside [0, 1].
    BackendUnavailable
        The backend's optional dependency or device is missing.
    """
    tv_weight = check_parameters(method=method, iterations=iterations, tv_weight=tv_weight,
                                 thickness_px=thickness_px, filter_name=filter_name, backend=backend,
                                 prior=prior is not None, prior_share=prior_share, region=region)
    data = np.asarray(tilt_series.data, dtype=np.float32)
    nx = data.shape[2]
    nz = int(thickness_px or nx)
    if prior is not None and tuple(prior.shape) != (nz, data.shape[1], nx):
        raise InvalidParameter(f"the prior volume has shape {tuple(prior.shape)}; this reconstruction is "
                               f"{(nz, data.shape[1], nx)}. Use the same binning and thickness.")
    choices: dict = {}
    if method == "auto" and prior is not None:
        method = "tv"
        choices["method_choice"] = {"method": "tv", "reason": "a temporal prior is given; it is a term of TV"}
    use_box = region == "sample" or (region == "auto" and nz * data.shape[1] * nx > AUTO_MIN_VOXELS)
    if method == "auto" or (tv_weight == "auto" and method == "tv") or use_box:
        noise = noise or noise_level(data)
        choices["noise"] = noise.to_dict()
    if method == "auto":
        chosen = choose_method(tilt_series.tilts_deg, noise)
        method = chosen.method
        choices["method_choice"] = chosen.to_dict()
    iterations = DEFAULT_ITERATIONS.get(method, 1) if iterations is None else int(iterations)
    proj = get_projector(tilt_series.tilts_deg, nz, nx, backend)
    box = None
    if use_box:
        with cpu_threads(n_workers):
            box, choices["region"] = _sample_region(proj, data, tilt_series.tilts_deg, nz, noise)
    unseen_sq = 0.0
    if box is None:
        b = proj.sino_to_backend(data)
    else:
        if method == "tv" and tv_scale is None:  # the whole field's density scale, as without the box
            with cpu_threads(n_workers):
                tv_scale = density_scale(proj, proj.sino_to_backend(data))
        rows = data[:, box.y[0]:box.y[1], :]
        unseen_sq = float(np.sum(data.astype(np.float64) ** 2) - np.sum(rows.astype(np.float64) ** 2))
        proj = get_projector(tilt_series.tilts_deg, box.shape[0], box.shape[2], backend, n_det=nx,
                             centre_px=box.centre_px)
        b = proj.sino_to_backend(rows)
        prior = None if prior is None else Volume(np.asarray(prior.data)[box.slices], prior.voxel_size_nm,
                                                   prior.provenance)
    with cpu_threads(n_workers):
        if method == "fbp":
            block = fbp_block(proj, b, filter_name=filter_name)
            params = {"filter": filter_name}
        elif method == "sirt":
            block = sirt_block(proj, b, iterations=iterations, nonnegative=nonnegative, progress=progress)
            params = {"iterations": iterations, "nonnegative": nonnegative}
        elif method == "sart":
            block = sart_block(proj, b, iterations=iterations, n_subsets=n_subsets, nonnegative=nonnegative,
                               progress=progress)
            params = {"iterations": iterations, "n_subsets": n_subsets, "nonnegative": nonnegative}
        elif method == "cgls":
            block = cgls_block(proj, b, iterations=iterations, progress=progress)
            params = {"iterations": iterations}
        elif method == "tv":
            if tv_weight == "auto":
                weight = discrepancy_tv_weight(proj, b, noise, nonnegative=nonnegative, scale=tv_scale,
                                               unseen_sq=unseen_sq)
                choices["tv_weight_choice"] = weight.to_dict()
                tv_weight = weight.tv_weight
            prior_block = None
            registered = None if prior is None else _registered_prior(proj, b, prior)
            if registered is not None:
                prior_block = proj.volume_to_backend(registered.data)
                choices["temporal_prior"] = dict(registered.to_dict(), share=float(prior_share))
            elif prior is not None:  # an empty previous volume (nothing there yet) is no prior
                choices["temporal_prior"] = {"unused": "the prior volume projects to no signal"}
            block = tv_block(proj, b, iterations=iterations, tv_weight=float(tv_weight), nonnegative=nonnegative,
                             prior=prior_block, prior_share=prior_share, scale=tv_scale, progress=progress)
            params = {"iterations": iterations, "tv_weight": float(tv_weight), "nonnegative": nonnegative}
        else:
            block = asd_pocs_block(proj, b, iterations=iterations, n_subsets=n_subsets, nonnegative=nonnegative,
                                   progress=progress)
            params = {"iterations": iterations, "n_subsets": n_subsets, "nonnegative": nonnegative}
    provenance = {"software": f"insitu4d {__version__}", "method": method, "projector": "joseph",
                  "backend": proj.name, "thickness_px": nz, **params, **choices}
    volume = proj.volume_from_backend(block)
    if box is not None:  # the whole field, zero outside the box
        whole = np.zeros((nz, data.shape[1], nx), np.float32)
        whole[box.slices] = volume
        volume = whole
    return Volume(volume, tilt_series.pixel_size_nm, provenance)


def _sample_region(proj: Projector, data: np.ndarray, tilts_deg, nz: int,
                   noise: NoiseLevel) -> tuple[Region | None, dict]:
    """The box to reconstruct in (:mod:`insitu4d.recon.region`), or None, and the record of the choice."""
    if proj.name == "astra":
        return None, {"used": False, "reason": "the astra backend projects whole fields only"}
    box = find_region(data, tilts_deg, nz, noise.sum_sq)
    if box is None:
        return None, {"used": False, "reason": "no box that holds the sample and saves enough of the field"}
    sigmas = outside_signal(data, tilts_deg, box, noise.sum_sq)
    record = {**box.to_dict(), "outside_signal_sd": round(float(sigmas), 2)}
    if sigmas > OUTSIDE_SIGMAS:
        return None, {"used": False, **record, "reason": f"the data hold {sigmas:.1f} noise SD of signal where no "
                                                           f"ray through the box reaches (> {OUTSIDE_SIGMAS:g})"}
    return box, {"used": True, **record}


def _registered_prior(proj: Projector, b, prior: Volume) -> RegisteredPrior | None:
    """The prior moved onto a quick SIRT of ``b`` and scaled to its total projected signal; None when
    either holds no signal to scale by."""
    quick = proj.volume_from_backend(sirt_block(proj, b, iterations=PRIOR_REGISTRATION_ITERATIONS))
    registered = register_prior(np.asarray(prior.data), quick)
    projected = float(proj.xp.sum(proj.forward_block(proj.volume_to_backend(registered.data))))
    total = float(proj.xp.sum(b))
    if not (projected > 0 and total > 0):
        return None
    return registered.rescaled(total / projected)


def reprojection_residual(volume: Volume, tilt_series: TiltSeries, *, backend: str = "auto") -> float:
    """Normalised reprojection residual ‖A x − b‖ / ‖b‖.

    Parameters
    ----------
    volume : Volume
        ``(nz, ny, nx)``, reconstructed from ``tilt_series``.
    tilt_series : TiltSeries
        ``(n_tilts, ny, nx)``, aligned as used for the reconstruction.
    backend : str
        Projector backend, as in :func:`reconstruct`.

    Returns
    -------
    float
    """
    proj = get_projector(tilt_series.tilts_deg, volume.shape[0], volume.shape[2], backend)
    b = np.asarray(tilt_series.data, dtype=np.float32)
    ax = proj.forward(np.asarray(volume.data))
    return float(np.linalg.norm(ax - b) / max(np.linalg.norm(b), 1e-30))
