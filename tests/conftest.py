"""Shared fixtures: analytic phantoms and small tilt series made in code."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

NEEDLE_DIR = Path(str(files("insitu4d.examples") / "needle"))
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: The fewest tilts a file may hold (insitu4d.io.readers.MIN_TILTS), degrees, and as a tilt file.
SEVEN_TILTS = [-30.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0]
SEVEN_TILTS_FILE = "".join(f"{t:g}\n" for t in SEVEN_TILTS)


def sphere_projections(spheres, tilts_deg, ny: int, nx: int, supersample: int = 3) -> np.ndarray:
    """Exact parallel projections of uniform spheres (density 1), pixel-averaged.

    Geometry as in :mod:`insitu4d.recon.projector`: a point (z, y, x) (centred coordinates,
    voxel units) projects at tilt θ to detector (v, u) = (y, x cos θ + z sin θ). A sphere of
    radius R gives the chord 2√(R² − ρ²), ρ the distance from its projected centre.

    Parameters
    ----------
    spheres : list of ((z, y, x), R)
    tilts_deg : (n,) array
    ny, nx : int

    Returns
    -------
    (n, ny, nx) ndarray of float32
    """
    tilts = np.deg2rad(np.asarray(tilts_deg, float))
    s = supersample
    off = (np.arange(s) + 0.5) / s - 0.5
    v = (np.arange(ny) - (ny - 1) / 2)[:, None] + off[None, :]
    u = (np.arange(nx) - (nx - 1) / 2)[:, None] + off[None, :]
    V = v.reshape(-1)[:, None]
    U = u.reshape(-1)[None, :]
    out = np.zeros((len(tilts), ny, nx), np.float64)
    for k, t in enumerate(tilts):
        img = np.zeros((ny * s, nx * s))
        for (zc, yc, xc), r in spheres:
            uc = xc * np.cos(t) + zc * np.sin(t)
            rho2 = (V - yc) ** 2 + (U - uc) ** 2
            img += 2 * np.sqrt(np.clip(r * r - rho2, 0, None))
        out[k] = img.reshape(ny, s, nx, s).mean(axis=(1, 3))
    return out.astype(np.float32)


def sphere_volume(spheres, shape) -> np.ndarray:
    """Voxelised spheres (voxel centres inside) in centred coordinates, as (nz, ny, nx) bool."""
    grids = np.meshgrid(*[np.arange(n) - (n - 1) / 2 for n in shape], indexing="ij")
    vol = np.zeros(shape, bool)
    for (zc, yc, xc), r in spheres:
        vol |= (grids[0] - zc) ** 2 + (grids[1] - yc) ** 2 + (grids[2] - xc) ** 2 <= r * r
    return vol


@pytest.fixture
def two_spheres():
    """Two touching spheres (overlap) near the centre of a 48³ volume, axis partly along z."""
    return [((-3.0, 2.0, -7.0), 8.0), ((3.0, -1.0, 7.0), 8.0)]


@pytest.fixture(scope="session")
def needle_paths():
    return NEEDLE_DIR / "HAADF.mrc", NEEDLE_DIR / "HAADF.rawtlt"


def write_mrc_stack(path: Path, data: np.ndarray, voxel_size_angstrom: float | None = None) -> Path:
    """A plain MRC stack without an FEI header (no tilts in it)."""
    import mrcfile

    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(np.asarray(data, np.float32))
        if voxel_size_angstrom is not None:
            m.voxel_size = voxel_size_angstrom
    return path
