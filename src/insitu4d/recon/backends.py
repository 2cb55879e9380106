"""The registry of projector backends: which exist, which can run here, and the projector of each.

Every backend is a :class:`~insitu4d.recon.projector.Projector` with the same block
operators, so every reconstruction algorithm runs on each of them unchanged:

* ``"cpu"``: the default, compiled Joseph kernels (Numba), all CPU cores;
* ``"gpu"``: the same Joseph weights as CUDA kernels on an NVIDIA GPU through CuPy
  (:mod:`~insitu4d.recon.cupy_backend`), computed on the fly; the whole iteration then runs
  on the GPU (install ``insitu4d[gpu]``);
* ``"astra"``: the ASTRA Toolbox's 2D CPU ``linear`` projector (Joseph's too), slice by
  slice; it is slow and exists to compare with the peer inside our own algorithms
  (install ``insitu4d[astra]``). van Aarle et al., Ultramicroscopy 157, 35 (2015),
  doi:10.1016/j.ultramic.2015.05.002.
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np

from ..choices import BACKENDS
from ..errors import BackendUnavailable, InvalidParameter
from .projector import Projector

__all__ = ["BACKENDS", "available_backends", "resolve_backend", "projector_class", "get_projector"]



@functools.lru_cache(maxsize=1)
def _gpu_available() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # CUDA driver or runtime missing: no GPU for us
        return False


def available_backends() -> list[str]:
    """The backends that can run here (``"cpu"`` always).

    Returns
    -------
    list of str
    """
    out = ["cpu"]
    if _gpu_available():
        out.append("gpu")
    if importlib.util.find_spec("astra") is not None:
        out.append("astra")
    return out


def resolve_backend(backend: str) -> str:
    """The concrete backend for a request: ``"auto"`` is ``"gpu"`` when a GPU is usable, else ``"cpu"``.

    Parameters
    ----------
    backend : {"auto", "cpu", "gpu", "astra"}

    Returns
    -------
    str
        ``"cpu"``, ``"gpu"`` or ``"astra"``.

    Raises
    ------
    InvalidParameter
        Unknown backend name.
    BackendUnavailable
        ``"gpu"`` or ``"astra"`` asked for but not installed (or no GPU); the message names
        the extra to install.
    """
    if backend not in BACKENDS:
        raise InvalidParameter(f"unknown reconstruction backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
    if backend == "auto":
        return "gpu" if _gpu_available() else "cpu"
    if backend == "gpu" and not _gpu_available():
        raise BackendUnavailable("the 'gpu' backend needs CuPy and an NVIDIA GPU: install 'insitu4d[gpu]' "
                                 "(CuPy for your CUDA version) on a machine with a GPU, or use --backend cpu.")
    if backend == "astra" and importlib.util.find_spec("astra") is None:
        raise BackendUnavailable("the 'astra' backend needs the ASTRA Toolbox: install 'insitu4d[astra]' "
                                 "(pip install astra-toolbox), or use --backend cpu.")
    return backend


def projector_class(backend: str) -> type[Projector]:
    """The :class:`Projector` subclass of a concrete backend name.

    Parameters
    ----------
    backend : {"auto", "cpu", "gpu", "astra"}

    Returns
    -------
    type
        :class:`~insitu4d.recon.projector.Projector` or a subclass.

    Raises
    ------
    InvalidParameter, BackendUnavailable
        As :func:`resolve_backend`.
    """
    backend = resolve_backend(backend)
    if backend == "gpu":
        from .cupy_backend import CupyProjector

        return CupyProjector
    if backend == "astra":
        from .astra_backend import AstraProjector

        return AstraProjector
    return Projector


@functools.lru_cache(maxsize=2)
def _cached_projector(backend: str, tilts_key: bytes, nz: int, nx: int, n_det: int | None,
                      centre_px: tuple[float, float]) -> Projector:
    return projector_class(backend)(np.frombuffer(tilts_key, dtype=np.float64), nz, nx, n_det=n_det,
                                    centre_px=centre_px)


def get_projector(tilts_deg, nz: int, nx: int, backend: str = "cpu", *, n_det: int | None = None,
                  centre_px: tuple[float, float] = (0.0, 0.0)) -> Projector:
    """The projector for this geometry and backend, reused while it is one of the last two asked for.

    A pipeline reconstructs, then reprojects for the residual, with the same geometry;
    reusing the projector keeps its cached row and column sums (and a GPU backend's
    device constants).

    Parameters
    ----------
    tilts_deg : (n_tilts,) array_like of float, degrees
    nz, nx : int
    backend : {"cpu", "gpu", "astra", "auto"}
        See :func:`resolve_backend`.
    n_det, centre_px
        A window of the field (:class:`~insitu4d.recon.projector.Projector`); default the whole
        field, ``n_det = nx``.

    Returns
    -------
    Projector

    Raises
    ------
    BackendUnavailable
        The backend's optional dependency (or device) is missing.
    """
    key = np.ascontiguousarray(tilts_deg, dtype=np.float64).tobytes()
    return _cached_projector(resolve_backend(backend), key, int(nz), int(nx), None if n_det is None else int(n_det),
                             (float(centre_px[0]), float(centre_px[1])))
