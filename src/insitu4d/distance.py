"""The Euclidean distance transform of a mask, on all the cores the process may use.

Segmentation (the watershed's relief, the seeds' cores), particle measurement (the inscribed
radius) and the quality checks (the edge's signed distance) all need the distance from every
voxel of a mask to its nearest background voxel. The exact transform of Felzenszwalb &
Huttenlocher (Theory of Computing 8, 415 (2012), doi:10.4086/toc.2012.v008a019) as the ``edt``
package (seung-lab) runs it: on several threads, 4.7 times faster than ``scipy.ndimage``'s on
one full-resolution label volume on 2 cores (6.0 s against 28.0 s for both transforms of
256 × 448 × 576 voxels), and equal to it to float32's rounding (1.5·10⁻⁵ voxels at 150 voxels
from the surface): ``edt`` squares whole-voxel distances exactly and takes the square root in
float32, where ``scipy`` does so in float64.
"""

from __future__ import annotations

import edt
import numba
import numpy as np

from .errors import InvalidParameter

__all__ = ["distance_to_background", "distance_within_labels"]


def distance_to_background(mask) -> np.ndarray:
    """Distance (voxels) from every voxel of ``mask`` to the nearest voxel outside it; 0 outside.

    As :func:`scipy.ndimage.distance_transform_edt`: beyond the array's edge is not background
    (pad the mask with ``False`` where it should be). Runs on Numba's thread count, which the
    pipeline sets per worker.

    Parameters
    ----------
    mask : (ny, nx) or (nz, ny, nx) array_like of bool

    Returns
    -------
    ndarray of float64, the shape of ``mask``
        Voxels; ``inf`` everywhere when the mask holds no background.

    Raises
    ------
    InvalidParameter
        A mask that is not 2D or 3D.
    """
    m = np.ascontiguousarray(mask, dtype=bool)
    if m.ndim not in (2, 3):
        raise InvalidParameter(f"the distance transform needs a 2D image or a 3D volume mask; got {m.ndim} "
                               f"dimensions (shape {m.shape}).")
    return edt.edt(m, black_border=False, parallel=numba.get_num_threads()).astype(np.float64)


def distance_within_labels(labels) -> np.ndarray:
    """Distance (voxels) from every labelled voxel to the nearest voxel of another label or of the background.

    Each label's own :func:`distance_to_background`, all in one pass: the depth of every voxel
    within its region, so a region's maximum is the radius of the largest ball inside it.

    Parameters
    ----------
    labels : (ny, nx) or (nz, ny, nx) array_like of int
        0 background.

    Returns
    -------
    ndarray of float64, the shape of ``labels``
        Voxels; 0 on the background.

    Raises
    ------
    InvalidParameter
        Labels that are not 2D or 3D.
    """
    lab = np.ascontiguousarray(labels)
    if lab.ndim not in (2, 3):
        raise InvalidParameter(f"the distance transform needs a 2D or 3D label array; got {lab.ndim} dimensions "
                               f"(shape {lab.shape}).")
    return edt.edt(lab.astype(np.uint32, copy=False), black_border=False,
                   parallel=numba.get_num_threads()).astype(np.float64)
