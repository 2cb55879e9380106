"""Optional projector backends: GPU (CuPy) and ASTRA, and the choice among backends.

Every backend is a :class:`~insitu4d.recon.projector.Projector` with the same block
operators, so every reconstruction algorithm runs on each of them unchanged:

* ``"cpu"``: the default, compiled Joseph kernels (Numba), all CPU cores;
* ``"gpu"``: the same Joseph matrix (:func:`~insitu4d.recon.projector.joseph_matrix`) on
  an NVIDIA GPU through CuPy, applied with cuSPARSE's sparse x dense-block product; the
  whole iteration then runs on the GPU (install ``insitu4d[gpu]``);
* ``"astra"``: the ASTRA Toolbox's 2D CPU ``linear`` projector (Joseph's too), slice by
  slice; it is slow and exists to compare with the peer inside our own algorithms
  (install ``insitu4d[astra]``). van Aarle et al., Ultramicroscopy 157, 35 (2015),
  doi:10.1016/j.ultramic.2015.05.002.
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np

from ..errors import BackendUnavailable, InvalidParameter
from .projector import Projector

__all__ = ["BACKENDS", "CupyProjector", "AstraProjector", "available_backends", "resolve_backend",
           "projector_class"]

BACKENDS = ("auto", "cpu", "gpu", "astra")


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
    """The backends that can run here (``"cpu"`` always)."""
    out = ["cpu"]
    if _gpu_available():
        out.append("gpu")
    if importlib.util.find_spec("astra") is not None:
        out.append("astra")
    return out


def resolve_backend(backend: str) -> str:
    """The concrete backend for a request: ``"auto"`` is ``"gpu"`` when a GPU is usable, else ``"cpu"``.

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
    """The :class:`Projector` subclass of a concrete backend name."""
    return {"cpu": Projector, "gpu": CupyProjector, "astra": AstraProjector}[resolve_backend(backend)]


class CupyProjector(Projector):
    """Joseph projector on an NVIDIA GPU (CuPy; cuSPARSE sparse x dense-block products).

    Blocks live on the GPU (``xp`` is CuPy); :meth:`volume_from_backend` and
    :meth:`sino_from_backend` bring results back to host memory.
    """

    name = "gpu"

    def __init__(self, tilts_deg, nz: int, nx: int) -> None:
        import cupy
        import cupyx.scipy.sparse as csp

        super().__init__(tilts_deg, nz, nx)
        self.xp = cupy
        self._csp = csp
        self._ops: dict = {}

    def _operators(self, tilts):
        key = None if tilts is None else np.asarray(tilts, np.int64).tobytes()
        if key not in self._ops:
            mat = self.matrix
            if tilts is not None:
                rows = (np.asarray(tilts, np.int64)[:, None] * self.nx + np.arange(self.nx)[None, :]).ravel()
                mat = mat[rows]
            a = self._csp.csr_matrix(mat.astype(np.float32))
            self._ops[key] = (a, a.T.tocsr())
        return self._ops[key]

    def to_host(self, block) -> np.ndarray:
        return self.xp.asnumpy(block)

    def forward_block(self, block, tilts=None, out=None):
        a, _ = self._operators(tilts)
        return _into(out, a @ self.xp.ascontiguousarray(self.xp.asarray(block, dtype=np.float32)))

    def back_block(self, block, tilts=None, out=None):
        _, at = self._operators(tilts)
        return _into(out, at @ self.xp.ascontiguousarray(self.xp.asarray(block, dtype=np.float32)))


class AstraProjector(Projector):
    """ASTRA Toolbox 2D CPU ``linear`` projector, one slice at a time.

    ASTRA's image is our ``(z, x)`` slice; its angle is ``−θ`` in our convention (checked
    against :func:`~insitu4d.recon.projector.joseph_matrix` in the tests).
    """

    name = "astra"

    def __init__(self, tilts_deg, nz: int, nx: int) -> None:
        super().__init__(tilts_deg, nz, nx)
        self._ops: dict = {}

    def _operator(self, tilts):
        import astra

        key = None if tilts is None else np.asarray(tilts, np.int64).tobytes()
        if key not in self._ops:
            angles = self.tilts_deg if tilts is None else self.tilts_deg[np.asarray(tilts, np.int64)]
            vol_geom = astra.create_vol_geom(self.nz, self.nx)
            proj_geom = astra.create_proj_geom("parallel", 1.0, self.nx, -np.deg2rad(angles))
            self._ops[key] = astra.OpTomo(astra.create_projector("linear", proj_geom, vol_geom))
        return self._ops[key]

    def forward_block(self, block, tilts=None, out=None):
        op = self._operator(tilts)
        x = np.asarray(block, dtype=np.float32)
        return _into(out, np.stack([op @ np.ascontiguousarray(x[:, i]) for i in range(x.shape[1])], axis=1))

    def back_block(self, block, tilts=None, out=None):
        op = self._operator(tilts)
        r = np.asarray(block, dtype=np.float32)
        return _into(out, np.stack([op.T @ np.ascontiguousarray(r[:, i]) for i in range(r.shape[1])], axis=1))


def _into(out, result):
    """``result`` as float32, copied into ``out`` when one is given."""
    if out is None:
        return result.astype(np.float32, copy=False)
    out[...] = result
    return out
