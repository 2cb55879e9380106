"""HAADF-STEM image formation of the digital twin: detected electron counts with Poisson noise.

Each image receives N₀ = (dose per tilt series / n_tilts) × pixel area incident electrons
per pixel. The fraction scattered onto the annular detector after a projected thickness
t of element Z is f = 1 − exp(−t / λ_Z), with λ_Z = λ_Cu (29 / Z)^1.7: single-scattering
(Rutherford-like) HAADF contrast grows as Z^n with n ≈ 1.7 (Pennycook & Jesson,
Ultramicroscopy 37, 14 (1991), doi:10.1016/0304-3991(91)90004-P), and the exponential
saturates at large thickness. λ_Cu = 600 nm is an **assumption** of this twin (about 15 %
of the beam on the detector through a 100 nm Cu particle at 200 kV), not a measured value;
it is a parameter. Detected counts are Poisson(N₀ f). Misalignment is applied to the
noiseless image before detection: an in-plane rotation of the tilt axis, a constant
offset of the axis along x, and a random drift per image.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..data import TiltSeries
from ..errors import InvalidParameter
from ..recon.projector import Projector

__all__ = ["LAMBDA_CU_NM", "mean_free_path_nm", "incident_electrons_per_pixel", "haadf_tilt_series"]

LAMBDA_CU_NM = 600.0


def mean_free_path_nm(Z: int, lambda_cu_nm: float = LAMBDA_CU_NM) -> float:
    """HAADF scattering length of element ``Z``: λ_Cu (29 / Z)^1.7 nm (see the module notes).

    Parameters
    ----------
    Z : int
        Atomic number.
    lambda_cu_nm : float, nm
        The scattering length of Cu (Z = 29).

    Returns
    -------
    float, nm

    Raises
    ------
    InvalidParameter
        Z below 1.
    """
    if Z < 1:
        raise InvalidParameter(f"atomic number must be ≥ 1; got {Z}.")
    return float(lambda_cu_nm) * (29.0 / Z) ** 1.7


def incident_electrons_per_pixel(dose_e_per_nm2: float, n_tilts: int, pixel_size_nm: float) -> float:
    """Incident electrons per pixel and image: the tilt series' dose shared equally by its images.

    Parameters
    ----------
    dose_e_per_nm2 : float, e⁻/nm²
        Of the whole tilt series.
    n_tilts : int
    pixel_size_nm : float, nm

    Returns
    -------
    float
        Electrons per pixel and image.

    Raises
    ------
    InvalidParameter
        A dose, tilt count or pixel size that is not positive.
    """
    if dose_e_per_nm2 <= 0 or n_tilts < 1 or pixel_size_nm <= 0:
        raise InvalidParameter("dose, number of tilts and pixel size must be positive; got "
                               f"{dose_e_per_nm2} e⁻/nm², {n_tilts} tilts, {pixel_size_nm} nm.")
    return dose_e_per_nm2 / n_tilts * pixel_size_nm ** 2


def haadf_tilt_series(fill: np.ndarray, zmap: np.ndarray, voxel_size_nm: float, tilts_deg, *,
                      dose_e_per_nm2: float, rng: np.random.Generator, drift_max_px: float = 0.0,
                      tilt_axis_offset_px: float = 0.0, tilt_axis_rotation_deg: float = 0.0,
                      lambda_cu_nm: float = LAMBDA_CU_NM) -> tuple[TiltSeries, np.ndarray, np.ndarray]:
    """Project a voxelised scene into a low-dose HAADF tilt series of detected counts.

    Parameters
    ----------
    fill : (nz, ny, nx) ndarray of float
        Fill fraction per voxel (:func:`insitu4d.simulate.phantom.voxelise`).
    zmap : (nz, ny, nx) ndarray of int
        Atomic number per voxel (0 = vacuum).
    voxel_size_nm : float
        Also the pixel size of the images.
    tilts_deg : (n_tilts,) array_like of float, degrees
    dose_e_per_nm2 : float
        Dose of the whole tilt series, e⁻/nm².
    rng : numpy.random.Generator
    drift_max_px : float
        Drift: a random walk of the image position, clipped to ± this many pixels in y and x.
    tilt_axis_offset_px : float
        Offset of the tilt axis from the image centre along x.
    tilt_axis_rotation_deg : float
        In-plane rotation of the tilt axis from image y (counter-clockwise).
    lambda_cu_nm : float
        HAADF scattering length of Cu (module notes).

    Returns
    -------
    tilt_series : TiltSeries
        ``(n_tilts, ny, nx)`` float32 detected counts; dose and pixel size recorded.
    expected : (n_tilts, ny, nx) ndarray of float32
        The noiseless counts (before Poisson), for PSNR and denoising oracles.
    shifts_px : (n_tilts, 2) ndarray of float
        The (dy, dx) drift applied to each image (plus the axis offset in dx).
    """
    tilts = np.asarray(tilts_deg, dtype=np.float64)
    nz, ny, nx = fill.shape
    proj = Projector(tilts, nz, nx)
    exponent = np.zeros((len(tilts), ny, nx), np.float32)
    for z in np.unique(zmap[zmap > 0]):
        thickness_nm = proj.forward(np.where(zmap == z, fill, 0.0).astype(np.float32)) * voxel_size_nm
        exponent += thickness_nm / mean_free_path_nm(int(z), lambda_cu_nm)
    n0 = incident_electrons_per_pixel(dose_e_per_nm2, len(tilts), voxel_size_nm)
    expected = (n0 * -np.expm1(-exponent)).astype(np.float32)
    steps = rng.normal(0.0, max(drift_max_px, 0.0) / 4.0, size=(len(tilts), 2))
    drift = np.clip(np.cumsum(steps, axis=0), -drift_max_px, drift_max_px) if drift_max_px > 0 \
        else np.zeros((len(tilts), 2))
    shifts = drift + np.array([0.0, tilt_axis_offset_px])
    for i in range(len(tilts)):
        img = expected[i]
        if tilt_axis_rotation_deg:
            img = ndimage.rotate(img, tilt_axis_rotation_deg, reshape=False, order=1, mode="constant")
        expected[i] = ndimage.shift(img, shifts[i], order=1, mode="constant")
    counts = rng.poisson(np.clip(expected, 0, None)).astype(np.float32)
    ts = TiltSeries(counts, tilts, float(voxel_size_nm), source="insitu4d digital twin",
                    raw_metadata={"simulation": {"dose_e_per_nm2": float(dose_e_per_nm2), "lambda_cu_nm": lambda_cu_nm,
                                                 "incident_e_per_pixel": n0}})
    return ts, expected, shifts
