"""Correlative registration: a 2D image from another instrument or modality onto the re-projection of a volume.

An SEM image, or a wide-field HAADF overview taken before or after the experiment, shows the
same particles as the reconstructed volume seen along the beam, at another pixel size, in
another orientation and with another contrast. The volume is projected along z (the beam
at 0° tilt); the image is registered to that projection by a similarity transform (scale,
rotation, translation) that maximises Mattes mutual information (Mattes et al., IEEE Trans.
Med. Imaging 22, 120 (2003), doi:10.1109/TMI.2002.808360), which needs no common contrast,
through SimpleITK: images in nm (their pixel sizes as spacing). The start: for each rotation
every 10°, the image resampled into the projection's frame, and the translation that best
lines up the two images' edge maps (gradient magnitude, the same for either contrast) by
phase correlation; each start is improved at 1/4 resolution, and the best by mutual
information is refined by a regular-step gradient descent over three resolutions (shrink
4, 2, 1; smoothing 2, 1, 0 px).

The transform maps a point p of the projection (nm, from the centre of its first pixel, (x, y)
order inside, (y, x) in the record) to the image: q = s R(θ) (p − c) + c + t, c the
projection's centre.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from ..errors import InvalidParameter

__all__ = ["Correlation", "project_volume", "register_to_projection", "image_in_projection_frame",
           "ROTATION_STEP_DEG"]

#: starting rotations of the coarse search, degrees apart
ROTATION_STEP_DEG = 10


@dataclass(frozen=True)
class Correlation:
    """A similarity transform from the volume's projection to an image (module notes).

    Attributes
    ----------
    scale : float
        Image nm per projection nm (1 when both pixel sizes are right).
    rotation_deg : float, degrees
        Counter-clockwise in the (x, y) frame of the arrays.
    translation_nm : (float, float), nm
        (ty, tx).
    centre_nm : (float, float), nm
        (cy, cx), the rotation centre in the projection.
    mutual_information : float
        Mattes mutual information at the optimum (higher is better).
    """

    scale: float
    rotation_deg: float
    translation_nm: tuple[float, float]
    centre_nm: tuple[float, float]
    mutual_information: float

    def to_dict(self) -> dict:
        return asdict(self)

    def image_point_nm(self, point_nm) -> np.ndarray:
        """Where a projection point (y, x) in nm lies in the image, nm."""
        p = np.asarray(point_nm, dtype=np.float64)[::-1]
        c = np.asarray(self.centre_nm, dtype=np.float64)[::-1]
        a = np.radians(self.rotation_deg)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        q = self.scale * rot @ (p - c) + c + np.asarray(self.translation_nm, dtype=np.float64)[::-1]
        return q[::-1]


def project_volume(volume) -> np.ndarray:
    """The projection of a volume along the beam (z): the sum over the first axis.

    Parameters
    ----------
    volume : (nz, ny, nx) array

    Returns
    -------
    (ny, nx) ndarray of float32

    Raises
    ------
    InvalidParameter
        Not 3D.
    """
    volume = np.asarray(volume, dtype=np.float32)
    if volume.ndim != 3:
        raise InvalidParameter(f"a volume is (z, y, x); got shape {volume.shape}.")
    return volume.sum(axis=0)


def _image(array, pixel_nm: float):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(array, np.float32))
    image.SetSpacing((float(pixel_nm), float(pixel_nm)))
    return image


def _edges(array: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the image smoothed by 2 px: the same for either contrast (SEM, bright or dark field)."""
    return ndimage.gaussian_gradient_magnitude(np.asarray(array, np.float32), 2.0)


def _register(fixed, moving, transform, shrink: tuple[int, ...], iterations: int, bins: int):
    import SimpleITK as sitk

    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
    reg.SetMetricSamplingStrategy(reg.NONE)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-5, numberOfIterations=iterations,
                                                 relaxationFactor=0.7)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(list(shrink))
    reg.SetSmoothingSigmasPerLevel([max(s / 2.0, 0.0) if s > 1 else 0.0 for s in shrink])
    reg.SetSmoothingSigmasAreSpecifiedInPhysicalUnits(False)
    reg.SetInitialTransform(transform, inPlace=False)
    result = reg.Execute(fixed, moving)
    return result, -float(reg.GetMetricValue())


def register_to_projection(image, image_pixel_nm: float, projection, projection_pixel_nm: float, *,
                           rotation_search: bool = True, bins: int = 50) -> Correlation:
    """Register an image from another instrument to the projection of a volume (module notes).

    Parameters
    ----------
    image : (my, mx) array
        The other image (any contrast).
    image_pixel_nm : float, nm
    projection : (ny, nx) array
        :func:`project_volume` of the reconstruction.
    projection_pixel_nm : float, nm
        The volume's voxel size.
    rotation_search : bool
        Try starting rotations every ``ROTATION_STEP_DEG`` first (the image may be turned any way); off, start at 0°.
    bins : int
        Histogram bins of the mutual information.

    Returns
    -------
    Correlation

    Raises
    ------
    InvalidParameter
        Images that are not 2D, smaller than 32 px, flat, or a pixel size that is not positive.
    """
    import SimpleITK as sitk

    image = np.asarray(image, dtype=np.float32)
    projection = np.asarray(projection, dtype=np.float32)
    for name, array, px in (("image", image, image_pixel_nm), ("projection", projection, projection_pixel_nm)):
        if array.ndim != 2 or min(array.shape) < 32:
            raise InvalidParameter(f"the {name} must be a 2D image of at least 32 × 32 px; got shape {array.shape}.")
        if not np.all(np.isfinite(array)) or np.ptp(array) == 0:
            raise InvalidParameter(f"the {name} is flat or holds NaN/infinite pixels.")
        if not px or not px > 0:
            raise InvalidParameter(f"the {name}'s pixel size must be a positive number of nm; got {px!r}.")
    fixed, moving = _image(projection, projection_pixel_nm), _image(image, image_pixel_nm)
    centre = [(n - 1) * projection_pixel_nm / 2.0 for n in projection.shape[::-1]]  # (x, y)
    moving_centre = [(n - 1) * image_pixel_nm / 2.0 for n in image.shape[::-1]]
    shift = np.array([m - c for m, c in zip(moving_centre, centre)])
    # a grid in the projection's frame and pixel, centred on it, as large as the image: the image may be an
    # overview much larger than the volume
    extent = max(max(image.shape) * image_pixel_nm, max(projection.shape) * projection_pixel_nm)
    size = int(np.ceil(extent / projection_pixel_nm)) + 2
    origin = [c - (size - 1) * projection_pixel_nm / 2.0 for c in centre]
    grid = sitk.Image(size, size, sitk.sitkFloat32)
    grid.SetSpacing((float(projection_pixel_nm),) * 2)
    grid.SetOrigin(origin)
    fixed_edges = _edges(sitk.GetArrayFromImage(sitk.Resample(fixed, grid, sitk.Transform(), sitk.sitkLinear, 0.0)))
    starts = np.radians(np.arange(0, 360, ROTATION_STEP_DEG)) if rotation_search else [0.0]
    best = None
    for angle in starts:
        t = sitk.Similarity2DTransform(1.0, float(angle), tuple(shift), centre)
        seen = sitk.GetArrayFromImage(sitk.Resample(moving, grid, t, sitk.sitkLinear, float(np.median(image))))
        v = phase_cross_correlation(fixed_edges, _edges(seen), normalization=None)[0]  # (dy, dx), px
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        t = sitk.Similarity2DTransform(1.0, float(angle), tuple(shift - rot @ (v[::-1] * projection_pixel_nm)), centre)
        result, mi = _register(fixed, moving, t, (4,), 100, bins)
        if best is None or mi > best[1]:
            best = (result, mi)
    start = sitk.Similarity2DTransform(best[0].GetNthTransform(0) if hasattr(best[0], "GetNthTransform")
                                       else best[0])
    result, mi = _register(fixed, moving, start, (4, 2, 1), 300, bins)
    final = sitk.Similarity2DTransform(result.GetNthTransform(0) if hasattr(result, "GetNthTransform") else result)
    scale, angle, tx, ty = final.GetParameters()
    cx, cy = final.GetFixedParameters()
    return Correlation(scale=float(scale), rotation_deg=float((np.degrees(angle) + 180.0) % 360.0 - 180.0),
                       translation_nm=(float(ty), float(tx)), centre_nm=(float(cy), float(cx)),
                       mutual_information=mi)


def image_in_projection_frame(image, image_pixel_nm: float, correlation: Correlation, shape,
                              projection_pixel_nm: float) -> np.ndarray:
    """The image resampled onto the projection's pixels through the transform (linear interpolation; NaN outside).

    Parameters
    ----------
    image : (my, mx) array
    image_pixel_nm : float, nm
    correlation : Correlation
    shape : (int, int)
        The projection's (ny, nx).
    projection_pixel_nm : float, nm

    Returns
    -------
    (ny, nx) ndarray of float32
    """
    ny, nx = shape
    py, px = np.mgrid[:ny, :nx].astype(np.float64) * projection_pixel_nm
    c = np.asarray(correlation.centre_nm, dtype=np.float64)
    a = np.radians(correlation.rotation_deg)
    dy, dx = py - c[0], px - c[1]
    qx = correlation.scale * (np.cos(a) * dx - np.sin(a) * dy) + c[1] + correlation.translation_nm[1]
    qy = correlation.scale * (np.sin(a) * dx + np.cos(a) * dy) + c[0] + correlation.translation_nm[0]
    out = ndimage.map_coordinates(np.asarray(image, np.float64), [qy / image_pixel_nm, qx / image_pixel_nm], order=1,
                                  cval=np.nan)
    return out.astype(np.float32)
