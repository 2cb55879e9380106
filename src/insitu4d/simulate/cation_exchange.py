"""A cation-exchange twin: a CdSe/Cu₃P/CdSe nano-sandwich heated through 300, 350 and 400 °C.

After Casu & Falqui, Adv. Phys. X 4, 1633957 (2019), doi:10.1080/23746149.2019.1633957, §3:
at 300 °C nothing changes; at 350 °C Cu diffuses from the central Cu₃P domain into the CdSe
end domains, which turn into Cu₂Se behind a front while Cd and Cu coexist ahead of it; at
400 °C the whole rod is Cu₂Se, and Cd and P have left by sublimation (the particle loses
mass).

The rod lies along x (across the tilt axis y) in a box of ``shape`` voxels: two end domains
of ``end_length_vox`` and a centre of ``centre_length_vox``, radius ``radius_vox``. Densities
(atoms per formula unit, arbitrary units): CdSe Cd 1, Se 1; Cu₂Se Cu 2, Se 1; Cu₃P Cu 3, P 1.
Per time point the front has advanced ``front_fraction`` of the end length from the centre
domain on both sides, and the centre keeps ``phosphorus_left`` of its P. The volumes are drawn
on a grid twice as fine and binned, the X-ray counts of each line are Poisson with
``peak_counts`` at the brightest pixel of the first time point (the count scale per
element stays fixed, so that lost mass means lost counts), over a flat background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameter
from ..recon.backends import get_projector

__all__ = ["CationExchangeTimePoint", "cation_exchange_series", "ELEMENTS", "LINES", "DEFAULT_SCHEDULE"]

#: Elements of the sandwich and the lines that map them.
ELEMENTS = ("Cu", "Cd", "Se", "P")
LINES = ("Cu_Ka", "Cd_La", "Se_Ka", "P_Ka")
#: (temperature °C, front advance as a fraction of the end length, share of P left) per time point.
DEFAULT_SCHEDULE = ((300.0, 0.0, 1.0), (300.0, 0.0, 1.0), (350.0, 0.25, 0.85), (350.0, 0.5, 0.7),
                    (350.0, 0.75, 0.5), (400.0, 1.0, 0.0))


@dataclass(frozen=True)
class CationExchangeTimePoint:
    """One time point of the twin.

    Attributes
    ----------
    temperature_C : float
    front_vox : float
        Distance of the Cu₂Se front from the centre domain's edge, voxels (the same on both sides).
    front_x_vox : (float, float)
        x positions of the left and right fronts, voxels (voxel centres at integers).
    volumes : (4, nz, ny, nx) ndarray of float32
        True Cu, Cd, Se, P densities in expected counts per voxel and tilt.
    counts, background : (4, n_tilts, ny, nx) ndarray of float32
    labels : (nz, ny, nx) ndarray of int32
        The rod (1).
    """

    temperature_C: float
    front_vox: float
    front_x_vox: tuple[float, float]
    volumes: np.ndarray
    counts: np.ndarray
    background: np.ndarray
    labels: np.ndarray


def _fine_densities(shape_fine, radius, ends, centre, front, p_left) -> np.ndarray:
    nz, ny, nx = shape_fine
    z = (np.arange(nz) + 0.5) / 2.0
    y = (np.arange(ny) + 0.5) / 2.0
    x = (np.arange(nx) + 0.5) / 2.0
    cz, cy, cx = nz / 4.0, ny / 4.0, nx / 4.0
    rod = ((z[:, None, None] - cz) ** 2 + (y[None, :, None] - cy) ** 2 <= radius ** 2) \
        & (np.abs(x[None, None, :] - cx) <= centre / 2 + ends)
    u = np.abs(x - cx)[None, None, :] * np.ones((nz, ny, 1))  # distance from the rod's middle along x
    in_centre = rod & (u <= centre / 2)
    exchanged = rod & ~in_centre & (u <= centre / 2 + front)
    pristine = rod & ~in_centre & ~exchanged
    out = np.zeros((4,) + tuple(shape_fine), np.float32)
    out[0] = 3.0 * in_centre + 2.0 * exchanged  # Cu
    out[1] = 1.0 * pristine  # Cd
    out[2] = 1.0 * (exchanged | pristine)  # Se
    out[3] = p_left * in_centre  # P
    return out


def cation_exchange_series(rng: np.random.Generator, *, shape=(20, 16, 48), radius_vox: float = 5.0,
                           end_length_vox: float = 12.0, centre_length_vox: float = 10.0, tilts_deg=None,
                           schedule=DEFAULT_SCHEDULE, peak_counts: float = 30.0, background_counts: float = 0.3
                           ) -> list[CationExchangeTimePoint]:
    """Simulate the twin's time points (module docstring).

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : (int, int, int)
        (nz, ny, nx) voxels.
    radius_vox, end_length_vox, centre_length_vox : float
    tilts_deg : array_like, optional
        Default ±70° in 5° steps.
    schedule : sequence of (float, float, float)
        (temperature, front fraction, P left) per time point.
    peak_counts : float
        Mean counts at the brightest pixel of each line at the first time point.
    background_counts : float

    Returns
    -------
    list of CationExchangeTimePoint

    Raises
    ------
    InvalidParameter
        A rod that does not fit in the box, or a schedule value out of [0, 1].
    """
    nz, ny, nx = (int(v) for v in shape)
    if 2 * radius_vox + 2 > min(nz, ny) or centre_length_vox + 2 * end_length_vox + 2 > nx:
        raise InvalidParameter(f"a rod of radius {radius_vox} and length {centre_length_vox + 2 * end_length_vox} "
                               f"voxels does not fit in {shape}.")
    if any(not (0 <= f <= 1 and 0 <= p <= 1) for _, f, p in schedule):
        raise InvalidParameter("front fractions and P shares must lie in [0, 1].")
    tilts = np.arange(-70.0, 70.1, 5.0) if tilts_deg is None else np.asarray(tilts_deg, float)
    projector = get_projector(tilts, 2 * nz, 2 * nx)
    scale = None
    out = []
    for temperature, fraction, p_left in schedule:
        front = fraction * end_length_vox
        fine = _fine_densities((2 * nz, 2 * ny, 2 * nx), radius_vox, end_length_vox, centre_length_vox, front, p_left)
        truth = fine.reshape(4, nz, 2, ny, 2, nx, 2).mean(axis=(2, 4, 6))
        projected = np.stack([projector.forward(fine[e]) for e in range(4)]) / 2.0
        projected = projected.reshape(4, len(tilts), ny, 2, nx, 2).mean(axis=(3, 5))
        if scale is None:  # counts per unit density fixed by the first time point
            scale = np.array([peak_counts / max(projected[e].max(), 1e-9) for e in range(4)], np.float32)
        volumes = truth * scale[:, None, None, None]
        mean = projected * scale[:, None, None, None] + background_counts
        rod = fine.sum(axis=0).reshape(nz, 2, ny, 2, nx, 2).mean(axis=(1, 3, 5)) > 0
        middle = nx / 2.0 - 0.5  # x of the rod's middle in voxel-centre coordinates
        half = centre_length_vox / 2 + front
        out.append(CationExchangeTimePoint(
            temperature_C=float(temperature), front_vox=float(front), front_x_vox=(middle - half, middle + half),
            volumes=volumes.astype(np.float32), counts=rng.poisson(mean).astype(np.float32),
            background=np.full_like(mean, background_counts, dtype=np.float32), labels=rod.astype(np.int32)))
    return out
