"""GPU projector backend: the Joseph matrix on an NVIDIA GPU through CuPy (``insitu4d[gpu]``)."""

from __future__ import annotations

import numpy as np

from .projector import Projector, copy_into

__all__ = ["CupyProjector"]


class CupyProjector(Projector):
    """Joseph projector on an NVIDIA GPU (CuPy; cuSPARSE sparse x dense-block products).

    Blocks live on the GPU (``xp`` is CuPy); :meth:`volume_from_backend` and
    :meth:`sino_from_backend` bring results back to host memory.
    """

    name = "gpu"

    def __init__(self, tilts_deg, nz: int, nx: int, **window) -> None:
        import cupy
        import cupyx.scipy.sparse as csp

        super().__init__(tilts_deg, nz, nx, **window)
        self.xp = cupy
        self._csp = csp
        self._ops: dict = {}

    def _operators(self, tilts):
        key = None if tilts is None else np.asarray(tilts, np.int64).tobytes()
        if key not in self._ops:
            mat = self.matrix
            if tilts is not None:
                rows = (np.asarray(tilts, np.int64)[:, None] * self.n_det + np.arange(self.n_det)[None, :]).ravel()
                mat = mat[rows]
            a = self._csp.csr_matrix(mat.astype(np.float32))
            self._ops[key] = (a, a.T.tocsr())
        return self._ops[key]

    def to_host(self, block) -> np.ndarray:
        return self.xp.asnumpy(block)

    def forward_block(self, block, tilts=None, out=None):
        a, _ = self._operators(tilts)
        return copy_into(out, a @ self.xp.ascontiguousarray(self.xp.asarray(block, dtype=np.float32)))

    def back_block(self, block, tilts=None, out=None):
        _, at = self._operators(tilts)
        return copy_into(out, at @ self.xp.ascontiguousarray(self.xp.asarray(block, dtype=np.float32)))
