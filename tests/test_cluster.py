"""Time points and the twin's repeats as dask.distributed tasks: the same results inline, on a local cluster and on
a separately started scheduler; a worker that dies; an unreachable scheduler."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from insitu4d.errors import InvalidParameter, SchedulerUnreachable, WorkerLost
from insitu4d.pipeline import read_experiment, run_experiment
from insitu4d.pipeline.cluster import ClusterSettings

distributed = pytest.importorskip("distributed")

TOML = """
name = "tiny twin on a cluster"
[acquisition]
pixel_size_nm = 2.0
dose_e_per_nm2 = 5000.0
[align]
align = false
[reconstruct]
method = "sirt"
iterations = 40
backend = "cpu"
[uncertainty]
repeats = 2
time_points = 2
probe_repeats = 1
[[timepoints]]
time_s = 0.0
temperature_C = 350.0
[[timepoints]]
time_s = 20.0
temperature_C = 355.0
[[timepoints]]
time_s = 60.0
temperature_C = 360.0
[simulation]
shape_px = [24, 20, 40]
tilt_min_deg = -60.0
tilt_max_deg = 60.0
tilt_step_deg = 4.0
seed = 7
[[simulation.pairs]]
midpoint_nm = [0.0, 0.0, 0.0]
axis = [0.0, 0.0, 1.0]
r_p_nm = 11.0
law_n = 5.0
law_B_per_s = 4.9e-4
t0_s = -5.0
"""

RESULTS = ("pairs_timeseries.csv", "particles_timeseries.csv", "uncertainty.csv")


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    (root / "exp.toml").write_text(TOML)
    return read_experiment(root / "exp.toml")


@pytest.fixture(scope="module")
def inline(experiment):
    out = experiment.path.parent / "inline"
    summary = run_experiment(experiment, out)
    assert summary["cluster"] == {"executor": "inline"}
    return out


def _same_results(a: Path, b: Path) -> None:
    for name in RESULTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_a_local_cluster_gives_the_inline_results(experiment, inline):
    out = experiment.path.parent / "local"
    summary = run_experiment(experiment, out, cluster=ClusterSettings(workers=2))
    assert summary["cluster"]["executor"] == "dask.distributed" and summary["cluster"]["n_workers"] == 2
    _same_results(inline, out)
    assert not any(t["resumed"] for t in summary["time_points"])


def _start(args, env=None):
    return subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)


def test_a_separately_started_scheduler_gives_the_inline_results(experiment, inline, tmp_path):
    """``dask scheduler`` and two ``dask worker`` processes on localhost, as a user would start them."""
    scheduler_file = tmp_path / "scheduler.json"
    processes = [_start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                         "--no-dashboard", "--scheduler-file", str(scheduler_file)])]
    try:
        for _ in range(600):
            if scheduler_file.is_file() and scheduler_file.stat().st_size:
                break
            time.sleep(0.1)
        processes += [_start(["distributed.cli.dask_worker", "--scheduler-file", str(scheduler_file),
                              "--nthreads", "1", "--no-dashboard"]) for _ in range(2)]
        address = json.loads(scheduler_file.read_text())["address"]
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        out = experiment.path.parent / "scheduler"
        summary = run_experiment(experiment, out, cluster=ClusterSettings(scheduler=address))
        assert summary["cluster"]["scheduler"] == address
        _same_results(inline, out)
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            p.wait(timeout=30)


class _KillOnTask(distributed.WorkerPlugin):
    """Kill the worker process when a task whose key holds ``name`` starts: once (``marker``), or every time."""

    def __init__(self, name: str, marker: str | None):
        self.name, self.marker = name, marker

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and self.name in str(key):
            if self.marker is None or not os.path.exists(self.marker):
                if self.marker is not None:
                    Path(self.marker).touch()
                os._exit(1)


def _cluster_with(plugin, allowed_failures: int):
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address=None)
    client = distributed.Client(cluster)
    client.register_plugin(plugin)
    return cluster, client


def test_a_killed_worker_is_replaced_and_a_lost_run_resumes(experiment, inline, tmp_path):
    # a worker dies once, inside T02: the scheduler gives the task to another worker and the run completes
    cluster, client = _cluster_with(_KillOnTask("T02", str(tmp_path / "killed")), allowed_failures=3)
    try:
        out = experiment.path.parent / "killed"
        run_experiment(experiment, out, cluster=ClusterSettings(scheduler=cluster.scheduler_address))
        assert (tmp_path / "killed").is_file()
        _same_results(inline, out)
    finally:
        client.close()
        cluster.close()
    # a worker dies every time it runs T03 (its reconstruction, made ahead beside T02's): the run stops with a
    # clear error; T01 and T02's volume are kept, and the rerun (inline) resumes T01 and reuses that volume
    cluster, client = _cluster_with(_KillOnTask("T03", None), allowed_failures=0)
    out = experiment.path.parent / "lost"
    try:
        with pytest.raises(WorkerLost, match="T03: its dask worker died each time.*run the same command again"):
            run_experiment(experiment, out, cluster=ClusterSettings(scheduler=cluster.scheduler_address))
    finally:
        client.close()
        cluster.close()
    assert (out / "T01" / "run.json").is_file() and (out / "T02" / "volume.h5").is_file()
    assert not (out / "T03" / "volume.h5").exists()
    summary = run_experiment(experiment, out)
    assert [t["resumed"] for t in summary["time_points"]] == [True, False, False]
    assert json.loads((out / "T02" / "run.json").read_text())["reconstruction"]["resumed_from_volume_h5"]
    _same_results(inline, out)


def test_an_unreachable_scheduler_fails_fast_with_a_clear_message(experiment, tmp_path):
    from typer.testing import CliRunner

    from insitu4d.cli import app

    start = time.monotonic()
    with pytest.raises(SchedulerUnreachable, match="no dask scheduler answered at tcp://127.0.0.1:9 within"):
        run_experiment(experiment, tmp_path / "o", cluster=ClusterSettings(scheduler="tcp://127.0.0.1:9"))
    assert time.monotonic() - start < 30  # the acceptance: within 30 s
    assert not (tmp_path / "o").exists()  # nothing written before the cluster answers
    result = CliRunner().invoke(app, ["run", str(experiment.path), "-o", str(tmp_path / "c"), "--scheduler",
                                      "tcp://127.0.0.1:9"])
    assert result.exit_code == 2 and "no dask scheduler answered" in result.output
    assert "Traceback" not in result.output


def test_workers_without_this_insitu4d_are_refused_with_a_clear_message(monkeypatch):
    """A running cluster's workers are asked for their insitu4d version on connecting; one without it, or with
    another version, stops the run before any task, and the message names the workers and the fix."""
    import insitu4d.pipeline.cluster as cluster_module
    from insitu4d import __version__
    from insitu4d.errors import WorkerEnvironmentMismatch
    from insitu4d.pipeline.cluster import Runner, worker_problems

    missing = ModuleNotFoundError("No module named 'insitu4d'")
    assert worker_problems({"tcp://b:2": __version__, "tcp://a:1": missing, "tcp://c:3": "0.0.1"}) == [
        "tcp://a:1: insitu4d is not installed there (ModuleNotFoundError)", "tcp://c:3: insitu4d 0.0.1"]
    assert worker_problems({"tcp://a:1": __version__}) == []
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    try:
        with Runner(ClusterSettings(scheduler=cluster.scheduler_address)) as runner:  # the same version: accepted
            assert runner.describe()["n_workers"] == 1
        # the worker processes keep the installed version; this process now claims another
        monkeypatch.setattr(cluster_module, "__version__", "9.9.9")
        with pytest.raises(WorkerEnvironmentMismatch,
                           match=rf"1 of the 1 dask workers at .* cannot run insitu4d 9\.9\.9: tcp://127\.0\.0\.1:\d+: "
                                 rf"insitu4d {re.escape(__version__)}\. Install insitu4d 9\.9\.9"):
            with Runner(ClusterSettings(scheduler=cluster.scheduler_address)):
                pass
    finally:
        cluster.close()


def test_local_workers_share_the_cores_and_keep_glibcs_dynamic_mmap_threshold():
    from insitu4d.pipeline.cluster import worker_environment

    cores = os.cpu_count() or 1
    env = worker_environment(2)
    assert "MALLOC_TRIM_THRESHOLD_" not in env  # any value turns glibc's dynamic threshold off (1.6× slower)
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == env["NUMBA_NUM_THREADS"] == max(1, cores // 2)
    assert worker_environment(4 * cores)["OMP_NUM_THREADS"] == 1


def test_cluster_settings_are_checked(tmp_path):
    with pytest.raises(InvalidParameter, match="either workers .* or scheduler"):
        ClusterSettings(workers=2, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(InvalidParameter, match="workers must be a whole number ≥ 1"):
        ClusterSettings(workers=0)
    path = tmp_path / "e.toml"
    path.write_text(TOML.replace("[align]", "[pipeline]\nworkers = 3\n[align]"))
    assert read_experiment(path).cluster == ClusterSettings(workers=3)
    path.write_text(TOML.replace("[align]", "[pipeline]\nworker = 3\n[align]"))
    with pytest.raises(InvalidParameter, match=r"\[pipeline\]: unknown key 'worker'; did you mean 'workers'"):
        read_experiment(path)
    path.write_text(TOML.replace("[align]", "[pipeline]\nworkers = -1\n[align]"))
    with pytest.raises(InvalidParameter, match=r"\[pipeline\]: workers must be"):
        read_experiment(path)


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command to make a certificate")
def test_a_tls_scheduler_with_self_signed_certificates(tmp_path):
    """The documented TLS set-up: one self-signed certificate for scheduler, workers and client, given to dask's
    own settings (distributed.comm.tls.*); the runner reaches the scheduler over tls:// and nothing else does."""
    import dask
    from distributed.security import Security

    from insitu4d.pipeline.cluster import Runner

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    security = Security(tls_ca_file=str(cert), tls_scheduler_cert=str(cert), tls_scheduler_key=str(key),
                        tls_worker_cert=str(cert), tls_worker_key=str(key), tls_client_cert=str(cert),
                        tls_client_key=str(key), require_encryption=True)
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       protocol="tls://", security=security, dashboard_address=None)
    try:
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        settings = {"distributed.comm.tls.ca-file": str(cert), "distributed.comm.tls.client.cert": str(cert),
                    "distributed.comm.tls.client.key": str(key), "distributed.comm.require-encryption": True}
        with dask.config.set(settings), Runner(ClusterSettings(scheduler=address)) as runner:
            assert runner.describe()["n_workers"] == 1
        with pytest.raises(SchedulerUnreachable):  # without the certificate the scheduler does not answer
            with Runner(ClusterSettings(scheduler=address.replace("tls://", "tcp://"))):
                pass
    finally:
        cluster.close()


def test_the_cluster_options_apply_to_experiment_files_only(tmp_path):
    from typer.testing import CliRunner

    from insitu4d.cli import app

    stack = tmp_path / "t.mrc"
    stack.write_bytes(b"")
    result = CliRunner().invoke(app, ["run", str(stack), "-o", str(tmp_path / "o"), "--workers", "2"])
    assert result.exit_code == 2 and "spread the time points of an EXPERIMENT.toml" in result.output
