"""Projector backends: the compiled CPU kernels against the explicit Joseph matrix, and every
installed backend (GPU, ASTRA) against the CPU one. Backends that are not installed are
skipped; the GPU ones run on a machine with a GPU (README, Benchmarks)."""

import numpy as np
import pytest

from insitu4d.data import TiltSeries
from insitu4d.errors import BackendUnavailable, InvalidParameter
from insitu4d.recon import available_backends, reconstruct
from insitu4d.recon.backends import _gpu_available, projector_class, resolve_backend
from insitu4d.recon.projector import Projector, joseph_matrix

TILT_SETS = {"pm40": np.arange(-40, 41, 2.0), "pm76": np.arange(-76, 77, 2.0),
             "full": np.linspace(-89.5, 89.5, 60),
             "irregular": np.array([-63.0, -12.5, 0.0, 7.0, 45.0, 88.0, 90.0, -45.0, 135.0])}
OPTIONAL = [b for b in ("gpu", "astra") if b in available_backends()]


@pytest.mark.parametrize("tilts", TILT_SETS.values(), ids=TILT_SETS.keys())
@pytest.mark.parametrize("nz,nx,ny", [(32, 32, 5), (20, 37, 3), (41, 16, 1)])
def test_kernels_equal_the_explicit_matrix(tilts, nz, nx, ny):
    # independent implementation: the CSR matrix built in vectorised NumPy; float32
    # accumulation in a different order leaves ~1e-7 relative differences.
    rng = np.random.default_rng(2)
    p = Projector(tilts, nz, nx)
    a = joseph_matrix(tilts, nz, nx)
    x = rng.random((nz * nx, ny)).astype(np.float32)
    y = rng.random((len(tilts) * nx, ny)).astype(np.float32)
    fwd, ref = p.forward_block(x), a @ x
    back, ref_back = p.back_block(y), a.T @ y
    assert np.abs(fwd - ref).max() <= 1e-5 * np.abs(ref).max()
    assert np.abs(back - ref_back).max() <= 1e-5 * np.abs(ref_back).max()


@pytest.mark.parametrize("tilts", TILT_SETS.values(), ids=TILT_SETS.keys())
@pytest.mark.parametrize("nz,nx,n_det,centre", [(12, 9, 40, (3.0, -7.5)), (20, 31, 31, (-2.5, 4.0)),
                                                (9, 14, 25, (0.0, 0.0))])
def test_window_kernels_equal_the_explicit_matrix(tilts, nz, nx, n_det, centre):
    # a volume smaller than the detector and off the tilt axis (a region of interest): the
    # compiled kernels against the matrix, to the float32 accumulation order (~1e-7)
    rng = np.random.default_rng(5)
    p = Projector(tilts, nz, nx, n_det=n_det, centre_px=centre)
    a = joseph_matrix(tilts, nz, nx, n_det, centre)
    x = rng.random((nz * nx, 3)).astype(np.float32)
    y = rng.random((len(tilts) * n_det, 3)).astype(np.float32)
    fwd, ref = p.forward_block(x), a @ x
    back, ref_back = p.back_block(y), a.T @ y
    assert np.abs(fwd - ref).max() <= 1e-5 * np.abs(ref).max()
    assert np.abs(back - ref_back).max() <= 1e-5 * np.abs(ref_back).max()


@pytest.mark.parametrize("tilts", [TILT_SETS["pm76"], TILT_SETS["irregular"]], ids=["pm76", "irregular"])
def test_a_window_projects_as_the_whole_field_holding_it(tilts):
    # oracle: the whole field (centred, as wide as the detector) with the window's voxels
    # placed in it. Whole-pixel offsets keep the two grids' sample positions the same, up to
    # the rounding of the per-tilt shift (float32 weights: 1e-5).
    rng = np.random.default_rng(6)
    nz, nx, ny = 40, 48, 2  # the field
    z0, x0, wz, wx = 7, 21, 13, 18  # the window
    field = np.zeros((nz, ny, nx), np.float32)
    field[z0:z0 + wz, :, x0:x0 + wx] = rng.random((wz, ny, wx))
    centre = (z0 + (wz - 1) / 2 - (nz - 1) / 2, x0 + (wx - 1) / 2 - (nx - 1) / 2)
    whole = Projector(tilts, nz, nx)
    window = Projector(tilts, wz, wx, n_det=nx, centre_px=centre)
    assert not window.is_whole_field and whole.is_whole_field
    expected = whole.forward(field)
    got = window.forward(field[z0:z0 + wz, :, x0:x0 + wx])
    assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()
    y = rng.random(expected.shape).astype(np.float32)
    np.testing.assert_allclose(window.back(y), whole.back(y)[z0:z0 + wz, :, x0:x0 + wx], rtol=1e-5, atol=1e-5)


@pytest.mark.skipif("gpu" not in OPTIONAL, reason="needs CuPy and an NVIDIA GPU")
@pytest.mark.parametrize("tilts", TILT_SETS.values(), ids=TILT_SETS.keys())
@pytest.mark.parametrize("nz,nx,ny,n_det,centre", [(32, 32, 5, None, (0.0, 0.0)), (41, 16, 1, None, (0.0, 0.0)),
                                                   (12, 9, 40, 40, (3.0, -7.5)), (20, 31, 3, 31, (-2.5, 4.0))])
def test_the_gpu_kernels_equal_the_explicit_matrix(tilts, nz, nx, ny, n_det, centre):
    # the CUDA kernels against the CSR matrix (independent, vectorised NumPy), on the whole
    # field, on windows and on a tilt subset in a shuffled order; float32 accumulation in
    # another order (and fused multiply-adds) leaves ~1e-7 relative differences
    import cupy

    rng = np.random.default_rng(7)
    p = projector_class("gpu")(tilts, nz, nx, n_det=n_det, centre_px=centre)
    a = joseph_matrix(tilts, nz, nx, p.n_det, centre)
    sub = np.array([len(tilts) - 1, 0, len(tilts) // 2])
    rows = (sub[:, None] * p.n_det + np.arange(p.n_det)[None, :]).ravel()
    for subset, matrix in ((None, a), (sub, a[rows])):
        x = rng.random((nz * nx, ny)).astype(np.float32)
        y = rng.random((matrix.shape[0], ny)).astype(np.float32)
        fwd = cupy.asnumpy(p.forward_block(cupy.asarray(x), subset))
        back = cupy.asnumpy(p.back_block(cupy.asarray(y), subset))
        assert np.abs(fwd - matrix @ x).max() <= 1e-5 * np.abs(matrix @ x).max()
        assert np.abs(back - matrix.T @ y).max() <= 1e-5 * np.abs(matrix.T @ y).max()


def test_the_astra_backend_refuses_a_window():
    pytest.importorskip("astra")
    with pytest.raises(InvalidParameter, match="whole field only"):
        projector_class("astra")(np.arange(-60, 61, 10.0), 10, 10, n_det=20, centre_px=(0.0, 2.0))


def test_tilt_subsets_are_the_matrix_rows():
    tilts = TILT_SETS["irregular"]
    p = Projector(tilts, 24, 24)
    a = joseph_matrix(tilts, 24, 24)
    sub = np.array([5, 1, 7])
    rows = (sub[:, None] * 24 + np.arange(24)[None, :]).ravel()
    x = np.random.default_rng(3).random((24 * 24, 4)).astype(np.float32)
    np.testing.assert_allclose(p.forward_block(x, sub), a[rows] @ x, rtol=1e-5, atol=1e-5)
    y = np.random.default_rng(4).random((len(rows), 4)).astype(np.float32)
    np.testing.assert_allclose(p.back_block(y, sub), a[rows].T @ y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(p.row_sums(sub), np.asarray(a[rows].sum(axis=1)).ravel(), rtol=1e-5)
    np.testing.assert_allclose(p.col_sums(sub), np.asarray(a[rows].sum(axis=0)).ravel(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", ["cpu", *OPTIONAL])
@pytest.mark.parametrize("tilts", TILT_SETS.values(), ids=TILT_SETS.keys())
def test_adjointness_of_each_backend(backend, tilts):
    # Acceptance (issue 3): |<Ax, y> − <x, Aᵀy>| / (‖Ax‖‖y‖) < 1e-5, float32, each backend
    rng = np.random.default_rng(0)
    p = projector_class(backend)(tilts, 30, 34)
    x = rng.random((30, 4, 34)).astype(np.float32)
    y = rng.random((len(tilts), 4, 34)).astype(np.float32)
    ax, aty = p.forward(x), p.back(y)
    gap = abs(np.vdot(ax.astype(np.float64), y) - np.vdot(x.astype(np.float64), aty))
    assert gap / (np.linalg.norm(ax) * np.linalg.norm(y)) < 1e-5


@pytest.mark.parametrize("backend", OPTIONAL)
@pytest.mark.parametrize("method", ["fbp", "sirt", "sart", "cgls", "tv", "asd-pocs"])
def test_optional_backends_reconstruct_like_the_cpu(backend, method):
    # the same Joseph model on every backend. FBP, SIRT, SART and TV are contractive and
    # agree to the operators' float32 difference (~1e-6 measured against ASTRA); CGLS
    # amplifies differences along small singular values and ASD-POCS's adaptive step is a
    # threshold decision, so they agree to a few % (measured 1.5 % and 3.6 %).
    from conftest import sphere_projections

    tilts = np.arange(-60, 61, 3.0)
    ts = TiltSeries(sphere_projections([((2.0, 0.0, -3.0), 8.0)], tilts, 6, 32), tilts, 1.0)
    ref = reconstruct(ts, method=method, iterations=10).data
    got = reconstruct(ts, method=method, iterations=10, backend=backend)
    assert got.provenance["backend"] == backend
    tolerance = 0.06 if method in ("cgls", "asd-pocs") else 1e-4
    assert np.linalg.norm(got.data - ref) / np.linalg.norm(ref) < tolerance


def test_backend_errors_name_the_fix():
    with pytest.raises(InvalidParameter, match="unknown reconstruction backend 'cuda'; choose one of auto, cpu"):
        resolve_backend("cuda")
    if not _gpu_available():
        with pytest.raises(BackendUnavailable, match=r"install 'insitu4d\[gpu\]'"):
            resolve_backend("gpu")
        assert resolve_backend("auto") == "cpu"
    else:
        assert resolve_backend("auto") == "gpu"


def test_asd_pocs_rejects_bad_parameters():
    from insitu4d.recon.algorithms import asd_pocs_block

    p = Projector([0.0, 10.0], 8, 8)
    b = np.zeros((16, 1), np.float32)
    with pytest.raises(InvalidParameter, match="ASD-POCS needs at least 1 iteration; got 0"):
        asd_pocs_block(p, b, iterations=0)
    with pytest.raises(InvalidParameter, match="reduction factors in"):
        asd_pocs_block(p, b, alpha_reduction=1.5)


def test_out_buffer_of_the_wrong_shape_is_refused():
    p = Projector([0.0, 10.0], 8, 8)
    with pytest.raises(ValueError, match=r"out must be a C-contiguous float32 array of shape \(16, 2\)"):
        p.forward_block(np.zeros((64, 2), np.float32), out=np.empty((16, 3), np.float32))
