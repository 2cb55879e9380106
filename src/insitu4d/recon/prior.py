"""The temporal prior of a 4D reconstruction: the previous time point's volume, moved onto this one.

In situ, each time point is imaged afresh, and every tilt series costs the sample dose.
Between two time points the particles change little (a neck grows, a surface moves); what
does change is the frame: drift and re-centring move the whole object. So the previous
volume, translated onto the current data and put on its density scale, is a strong prior
for the current one. :func:`insitu4d.recon.algorithms.tv_iterations` uses it as the start
and in a PICCS term, TV(x − x_prior) (Chen, Tang & Leng, Med. Phys. 35, 660 (2008),
doi:10.1118/1.2836423).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import InvalidParameter

__all__ = ["RegisteredPrior", "register_prior"]


@dataclass(frozen=True)
class RegisteredPrior:
    """A prior volume moved onto the current frame and density scale.

    Attributes
    ----------
    data : (nz, ny, nx) ndarray of float32
        On the current volume's grid and density scale.
    shift_vox : (3,) tuple of float
        Translation (z, y, x) applied to the previous volume, in voxels.
    intensity_ratio : float
        Factor applied to the previous densities: the current data's total signal over the
        prior's projected total.
    """

    data: np.ndarray
    shift_vox: tuple[float, float, float]
    intensity_ratio: float

    def to_dict(self) -> dict:
        return {"shift_vox": [round(v, 3) for v in self.shift_vox], "intensity_ratio": self.intensity_ratio}

    def rescaled(self, ratio: float) -> "RegisteredPrior":
        """The same prior with its densities multiplied by ``ratio`` (> 0).

        Raises
        ------
        InvalidParameter
            ``ratio`` is not a positive number.
        """
        if not (np.isfinite(ratio) and ratio > 0):
            raise InvalidParameter(f"the prior's intensity ratio must be a positive number; got {ratio}. "
                                   f"Does the previous volume hold any signal?")
        return RegisteredPrior(self.data * np.float32(ratio), self.shift_vox, self.intensity_ratio * float(ratio))


def register_prior(prior: np.ndarray, current: np.ndarray, *, upsample: int = 10) -> RegisteredPrior:
    """Translate ``prior`` onto ``current`` by phase correlation (subvoxel).

    Parameters
    ----------
    prior : (nz, ny, nx) array_like
        The previous time point's reconstruction.
    current : (nz, ny, nx) array_like
        A quick reconstruction of the current data (the same tilt scheme, so the same
        missing-wedge streaks as the prior), used only to find the translation.
    upsample : int
        Subvoxel precision 1/``upsample`` of the phase correlation
        (Guizar-Sicairos, Thurman & Fienup, Opt. Lett. 33, 156 (2008), doi:10.1364/OL.33.000156).

    Returns
    -------
    RegisteredPrior

    Raises
    ------
    InvalidParameter
        The shapes differ.
    """
    from skimage.registration import phase_cross_correlation

    prior = np.asarray(prior, np.float32)
    current = np.asarray(current, np.float32)
    if prior.shape != current.shape:
        raise InvalidParameter(f"the prior volume has shape {prior.shape}, the current one {current.shape}; "
                               f"a temporal prior needs the same grid (same binning and thickness).")
    if not prior.any() or not current.any():
        shift = np.zeros(3)
    else:
        shift = phase_cross_correlation(current, prior, upsample_factor=upsample, normalization=None)[0]
    moved = ndimage.shift(prior, shift, order=1, mode="constant", cval=0.0)
    return RegisteredPrior(moved.astype(np.float32), tuple(float(v) for v in shift), 1.0)
