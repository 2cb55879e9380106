"""A core–shell EDX + HAADF tilt-series twin: element volumes with ground truth, counts at EDX-like levels.

Particles are spheres of a core element inside a shell of another element. The volumes
are drawn on a grid twice as fine, projected there and binned 2 × 2 (so that the
reconstruction's projector is not the one that made the data). The X-ray maps are
Poisson counts of the projected element densities, scaled so that the brightest pixel of
each element's mean map is ``peak_counts``, over a flat background; the HAADF images are
the Z^1.7-weighted sum of the projected densities (Zhong et al. 2017's thin-object model)
with Poisson noise of ``haadf_peak_counts`` electrons at the brightest pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameter
from ..recon.backends import get_projector

__all__ = ["CoreShellTwin", "CoreShellParticle", "core_shell_twin", "random_core_shell_particles"]


@dataclass(frozen=True)
class CoreShellParticle:
    """Centre (z, y, x), core radius and shell thickness, all in voxels of the final grid."""

    centre_vox: tuple[float, float, float]
    core_radius_vox: float
    shell_vox: float


@dataclass(frozen=True)
class CoreShellTwin:
    """The twin's truth and data.

    Attributes
    ----------
    elements : tuple of str
        (core element, shell element).
    volumes : (2, n, n, n) ndarray of float32
        True densities in the units the reconstructions return (expected counts per voxel
        and unit ray length).
    counts, background : (2, n_tilts, n, n) ndarray of float32
        X-ray peak counts (Poisson) and their background's mean.
    haadf : (n_tilts, n, n) ndarray of float32
    haadf_noise_var : float
        Mean variance of the HAADF pixels.
    tilts_deg : (n_tilts,) ndarray
    particles : tuple of CoreShellParticle
    """

    elements: tuple[str, str]
    volumes: np.ndarray
    counts: np.ndarray
    background: np.ndarray
    haadf: np.ndarray
    haadf_noise_var: float
    tilts_deg: np.ndarray
    particles: tuple[CoreShellParticle, ...]


def random_core_shell_particles(rng: np.random.Generator, n_vox: int, n_particles: int = 2
                                ) -> tuple[CoreShellParticle, ...]:
    """Non-overlapping core–shell spheres with random sizes inside a cube of ``n_vox``.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_vox : int
    n_particles : int

    Returns
    -------
    tuple of CoreShellParticle
        Core radius 8–16 % of the box, shell 30–60 % of the core, 2 voxels apart at least.

    Raises
    ------
    InvalidParameter
        The particles do not fit (200 tries each).
    """
    placed: list[CoreShellParticle] = []
    for _ in range(200 * n_particles):
        if len(placed) == n_particles:
            break
        core = rng.uniform(0.08, 0.16) * n_vox
        shell = rng.uniform(0.3, 0.6) * core
        outer = core + shell
        centre = rng.uniform(outer + 2, n_vox - outer - 2, size=3)
        if all(np.linalg.norm(centre - np.array(p.centre_vox)) > outer + p.core_radius_vox + p.shell_vox + 2
               for p in placed):
            placed.append(CoreShellParticle(tuple(map(float, centre)), float(core), float(shell)))
    if len(placed) < n_particles:
        raise InvalidParameter(f"could not place {n_particles} core–shell particles in {n_vox}³ voxels.")
    return tuple(placed)


def _fine_volumes(particles, n_fine: int) -> np.ndarray:
    grid = (np.arange(n_fine) + 0.5) / 2.0  # fine-voxel centres in final-grid voxels
    z, y, x = np.meshgrid(grid, grid, grid, indexing="ij", sparse=True)
    core = np.zeros((n_fine,) * 3, np.float32)
    shell = np.zeros_like(core)
    for p in particles:
        r = np.sqrt((z - p.centre_vox[0]) ** 2 + (y - p.centre_vox[1]) ** 2 + (x - p.centre_vox[2]) ** 2)
        core[r <= p.core_radius_vox] = 1.0
        shell[(r > p.core_radius_vox) & (r <= p.core_radius_vox + p.shell_vox)] = 1.0
    return np.stack([core, shell])


def core_shell_twin(rng: np.random.Generator, *, n_vox: int = 48, tilts_deg=None, peak_counts: float = 5.0,
                    background_counts: float = 0.2, haadf_peak_counts: float = 2000.0, n_particles: int = 2,
                    elements: tuple[str, str] = ("Pt", "Fe"), atomic_numbers: tuple[int, int] = (78, 26),
                    particles=None) -> CoreShellTwin:
    """Simulate a core–shell EDX + HAADF tilt series (module docstring).

    Parameters
    ----------
    rng : numpy.random.Generator
    n_vox : int
        Edge of the cubic volume and of the images, voxels (even).
    tilts_deg : array_like, optional
        Default ±70° in 10° steps (15 tilts).
    peak_counts : float
        Mean X-ray counts of each element at its brightest pixel.
    background_counts : float
        Mean background counts per pixel under each line.
    haadf_peak_counts : float
        Mean detected electrons at the brightest HAADF pixel.
    n_particles : int
    elements, atomic_numbers : (str, str), (int, int)
        Core and shell.
    particles : sequence of CoreShellParticle, optional
        Default :func:`random_core_shell_particles`.

    Returns
    -------
    CoreShellTwin

    Raises
    ------
    InvalidParameter
        An odd or too small ``n_vox``, non-positive counts.
    """
    if n_vox < 16 or n_vox % 2:
        raise InvalidParameter(f"n_vox must be even and ≥ 16; got {n_vox}.")
    if peak_counts <= 0 or haadf_peak_counts <= 0 or background_counts < 0:
        raise InvalidParameter("peak counts must be > 0 and the background ≥ 0.")
    tilts = np.arange(-70.0, 70.1, 10.0) if tilts_deg is None else np.asarray(tilts_deg, float)
    particles = tuple(particles) if particles is not None else random_core_shell_particles(rng, n_vox, n_particles)
    n_fine = 2 * n_vox
    fine = _fine_volumes(particles, n_fine)
    truth = fine.reshape(2, n_vox, 2, n_vox, 2, n_vox, 2).mean(axis=(2, 4, 6))
    projector = get_projector(tilts, n_fine, n_fine)
    # fine projections are in fine-voxel lengths: half of the final grid's; then 2 × 2 detector binning
    projected = np.stack([projector.forward(fine[e]) for e in range(2)]) / 2.0
    projected = projected.reshape(2, len(tilts), n_vox, 2, n_vox, 2).mean(axis=(3, 5))
    scale = np.array([peak_counts / projected[e].max() for e in range(2)], np.float32)
    volumes = truth * scale[:, None, None, None]
    mean_counts = projected * scale[:, None, None, None] + background_counts
    counts = rng.poisson(mean_counts).astype(np.float32)
    background = np.full_like(counts, background_counts)
    z = np.asarray(atomic_numbers, float) ** 1.7 / scale
    haadf_mean = np.tensordot(z, projected * scale[:, None, None, None], axes=1)
    haadf_scale = haadf_peak_counts / haadf_mean.max()
    haadf = rng.poisson(haadf_mean * haadf_scale).astype(np.float32) / haadf_scale
    noise_var = float(np.mean(haadf_mean * haadf_scale)) / haadf_scale ** 2
    return CoreShellTwin(elements=tuple(elements), volumes=volumes.astype(np.float32), counts=counts,
                         background=background, haadf=haadf.astype(np.float32), haadf_noise_var=noise_var,
                         tilts_deg=tilts, particles=particles)
