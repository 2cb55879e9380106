"""The label volume that every measurement starts from, checked once."""

from __future__ import annotations

import numpy as np

from ..data import require_positive
from ..errors import InvalidParameter, NotAStack

__all__ = ["check_labels", "grown_box"]


def check_labels(labels, voxel_size_nm) -> tuple[np.ndarray, float]:
    """Validate a label volume and voxel size.

    Parameters
    ----------
    labels : (nz, ny, nx) array_like of int
        Whole-number floats are accepted and converted.
    voxel_size_nm : float, nm

    Returns
    -------
    labels : (nz, ny, nx) ndarray of int
    voxel_size_nm : float, nm

    Raises
    ------
    NotAStack
        If ``labels`` is not 3D.
    InvalidParameter
        If labels are not integers ≥ 0 or the voxel size is not a positive number.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise NotAStack(f"labels must be a 3D array (z, y, x); got shape {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer):
        if np.issubdtype(labels.dtype, np.floating) and np.all(np.mod(labels, 1) == 0):
            labels = labels.astype(np.int64)
        else:
            raise InvalidParameter(
                f"labels must hold integers (0 background, 1..n particles); got dtype {labels.dtype}. "
                "Pass a label volume from `insitu4d segment`, not the reconstruction."
            )
    if labels.size and labels.min() < 0:
        raise InvalidParameter("labels must be ≥ 0 (0 is background).")
    return labels, require_positive(voxel_size_nm, "voxel size", "nm")


def grown_box(box: tuple, reach: int, shape) -> tuple[slice, ...]:
    """A box of slices widened by ``reach`` voxels on every side, within an array of ``shape``.

    Parameters
    ----------
    box : tuple of slice
        As :func:`scipy.ndimage.find_objects` gives them.
    reach : int, voxels
    shape : tuple of int

    Returns
    -------
    tuple of slice
    """
    return tuple(slice(max(sl.start - reach, 0), min(sl.stop + reach, n)) for sl, n in zip(box, shape))
