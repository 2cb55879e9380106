"""ASTRA Toolbox projector backend (``insitu4d[astra]``), for comparison with the peer.

van Aarle et al., Ultramicroscopy 157, 35 (2015), doi:10.1016/j.ultramic.2015.05.002.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameter
from .projector import Projector, copy_into

__all__ = ["AstraProjector"]


class AstraProjector(Projector):
    """ASTRA Toolbox 2D CPU ``linear`` projector, one slice at a time.

    ASTRA's image is our ``(z, x)`` slice; its angle is ``−θ`` in our convention (checked
    against :func:`~insitu4d.recon.projector.joseph_matrix` in the tests). The projections go
    through ``OpTomo.FP``/``BP``, not ``op @ v``: SciPy 1.18's ``LinearOperator`` product needs
    an attribute (``_xp``) that ASTRA 2.5's ``OpTomo`` does not set.
    """

    name = "astra"

    def __init__(self, tilts_deg, nz: int, nx: int, **window) -> None:
        super().__init__(tilts_deg, nz, nx, **window)
        if not self.is_whole_field:
            raise InvalidParameter("the 'astra' backend projects the whole field only, not a window of it (a "
                                   "region of interest or one pair's box); use the 'cpu' or 'gpu' backend.")
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
        return copy_into(out, np.stack([op.FP(x[:, i]).ravel() for i in range(x.shape[1])], axis=1))

    def back_block(self, block, tilts=None, out=None):
        op = self._operator(tilts)
        r = np.asarray(block, dtype=np.float32)
        return copy_into(out, np.stack([op.BP(r[:, i]).ravel() for i in range(r.shape[1])], axis=1))
