"""Where the runs of a 4D experiment go: inline, or as tasks on a ``dask.distributed`` cluster.

A 4D experiment is many runs of :func:`~insitu4d.pipeline.run.run_tilt_series`: its time
points and the twin's error-bar repeats. Each is a :class:`RunJob`, a small record of paths
and parameters. A :class:`Runner` runs a list of them and returns when all are done:

- inline (the default), one after another in this process;
- on a ``LocalCluster`` of ``workers`` processes on this machine (``--workers N``), which
  listens on 127.0.0.1 only and starts no dashboard;
- on a running cluster (``--scheduler ADDRESS``, e.g. one started by ``dask scheduler`` and
  ``dask worker``, or by dask-jobqueue on SLURM/PBS). ``tls://`` addresses use dask's own
  security settings (``distributed.comm.tls.*`` in the dask configuration). Its workers must
  run this insitu4d version, which is checked on connecting: a worker without insitu4d would
  fail every task it took, one with another version could give other results.

Workers read their inputs from the paths and write their own output folders; only the job
records go out and a yes/no (resumed) comes back, so nothing large travels through the
scheduler, and every worker must see the same file system. The result is the same as
inline: the same code runs on the same inputs. A task whose worker dies is given to another
worker by the scheduler (dask's ``allowed-failures``, 3 by default); when it keeps dying the
run stops with :class:`~insitu4d.errors.WorkerLost`, and rerunning the same command resumes,
as finished runs are recognised by their ``run.json`` (:func:`~insitu4d.pipeline.run.finished_measurements`).
Progress from the workers arrives as dask events (``Worker.log_event``) and is reported
as if inline.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .. import __version__
from ..errors import InvalidParameter, SchedulerUnreachable, WorkerEnvironmentMismatch, WorkerLost
from .run import RunParameters, finished_measurements, run_tilt_series

__all__ = ["ClusterSettings", "RunJob", "Runner", "run_job", "worker_environment", "worker_problems",
           "CONNECT_TIMEOUT_S", "PROGRESS_TOPIC"]

#: Seconds to wait for a scheduler given by address before giving up.
CONNECT_TIMEOUT_S = 10.0
#: The dask event topic on which workers report progress.
PROGRESS_TOPIC = "insitu4d-progress"


@dataclass(frozen=True)
class ClusterSettings:
    """Where the runs go (module docstring): inline, ``workers`` local processes, or a ``scheduler`` address.

    Raises
    ------
    InvalidParameter
        Both given, a worker count below 1, or an address that is not text.
    """

    workers: int | None = None
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if self.workers is not None and self.scheduler is not None:
            raise InvalidParameter("give either workers (a local cluster) or scheduler (a running one), not both.")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or self.workers < 1):
            raise InvalidParameter(f"workers must be a whole number ≥ 1; got {self.workers!r}.")
        if self.scheduler is not None and (not isinstance(self.scheduler, str) or not self.scheduler.strip()):
            raise InvalidParameter(f"scheduler must be an address such as 'tcp://127.0.0.1:8786'; got "
                                   f"{self.scheduler!r}.")

    @property
    def inline(self) -> bool:
        return self.workers is None and self.scheduler is None

    def to_dict(self) -> dict:
        return {"workers": self.workers, "scheduler": self.scheduler}


@dataclass(frozen=True)
class RunJob:
    """One :func:`~insitu4d.pipeline.run.run_tilt_series` call, skipped when its folder holds it finished.

    ``name`` labels progress (``T02``, ``uncertainty``); the rest are that function's arguments.
    With ``until="reconstruct"`` only ``volume.h5`` is made, and the job is skipped when the
    folder's full run is already finished with ``previous_labels``.
    """

    name: str
    stack: Path
    outdir: Path
    params: RunParameters
    tilts: Path | None = None
    previous_labels: Path | None = None
    previous_volume: Path | None = None
    edx: Path | None = None
    figures: bool = True
    until: str | None = None


def run_job(job: RunJob, progress: Callable[[str, int, int], None] | None = None) -> bool:
    """Run ``job`` unless its folder holds it finished with the same inputs.

    Parameters
    ----------
    job : RunJob
    progress : callable(name, done, total), optional
        ``run_tilt_series``'s progress, under the job's name.

    Returns
    -------
    bool
        True when it was finished already (resumed), False when it ran.

    Raises
    ------
    Insitu4dError
        What :func:`~insitu4d.pipeline.run.run_tilt_series` raises.
    """
    done = finished_measurements(job.outdir, job.stack, job.params.to_dict(), job.previous_labels,
                                 job.previous_volume, tilts=job.tilts, edx=job.edx)
    if done is not None:
        return True
    report = (lambda stage, k, n: progress(job.name, k, n)) if progress is not None else None
    run_tilt_series(job.stack, job.outdir, tilts=job.tilts, params=job.params, progress=report, figures=job.figures,
                    previous_labels=job.previous_labels, previous_volume=job.previous_volume, edx=job.edx,
                    until=job.until)
    return False


def _run_on_worker(job: RunJob, send_progress: bool) -> bool:
    """:func:`run_job` on a dask worker, its progress sent as events on :data:`PROGRESS_TOPIC`."""
    from distributed import get_worker

    worker = get_worker()

    def progress(name, done, total):
        worker.log_event(PROGRESS_TOPIC, {"name": name, "done": done, "total": total})
    return run_job(job, progress if send_progress else None)


def worker_environment(n_workers: int) -> dict:
    """The environment a local worker process starts with (dask's ``distributed.nanny.pre-spawn-environ``).

    Dask's default sets ``MALLOC_TRIM_THRESHOLD_=65536``. Setting it at all (any value) turns
    off glibc's dynamic mmap threshold, so every large array is a fresh mapping whose pages
    fault in; the reconstruction allocates large arrays every iteration, and a time point of
    the demo twin ran 1.6× slower in a worker than inline (measured: 11.6 s against 7.1 s,
    half the CPU time in the kernel; 11.9 s with the threshold at 1 GiB, 7.7–8.0 s without
    it). It is left out here, and BLAS, OpenMP and Numba get this machine's cores shared among
    the workers (dask's default gives each worker one BLAS thread and every core to Numba, so
    two workers on two cores ran 4 kernel threads).

    Parameters
    ----------
    n_workers : int

    Returns
    -------
    dict
        Variable name → value.
    """
    threads = max(1, (os.cpu_count() or 1) // max(1, n_workers))
    return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
            "NUMBA_NUM_THREADS": threads}


def worker_problems(versions: dict) -> list[str]:
    """What keeps each dask worker from running this insitu4d: not installed, or another version.

    Parameters
    ----------
    versions : dict
        Worker address → its ``importlib.metadata.version("insitu4d")``, or the exception it
        raised (``Client.run(..., on_error="return")``).

    Returns
    -------
    list of str
        One line per worker that cannot run this process's version, sorted by address; empty
        when all can.
    """
    problems = []
    for address, found in sorted(versions.items()):
        if isinstance(found, BaseException):
            problems.append(f"{address}: insitu4d is not installed there ({type(found).__name__})")
        elif found != __version__:
            problems.append(f"{address}: insitu4d {found}")
    return problems


class Runner:
    """Runs :class:`RunJob` lists inline or on a cluster (module docstring); a context manager.

    Parameters
    ----------
    settings : ClusterSettings, optional
        Default: inline.
    progress : callable(name, done, total), optional

    Raises
    ------
    SchedulerUnreachable
        On entering: the scheduler does not answer within :data:`CONNECT_TIMEOUT_S`.
    WorkerEnvironmentMismatch
        On entering: a worker of the running cluster cannot import insitu4d, or has another
        version (:func:`worker_problems`); its tasks would fail, or give other results.
    """

    def __init__(self, settings: ClusterSettings | None = None,
                 progress: Callable[[str, int, int], None] | None = None) -> None:
        self.settings = settings or ClusterSettings()
        self.progress = progress or (lambda name, done, total: None)
        self.client = None
        self._cluster = None

    def __enter__(self) -> "Runner":
        if self.settings.inline:
            return self
        from distributed import Client, LocalCluster

        if self.settings.workers is not None:
            import dask

            with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environment(self.settings.workers)}):
                self._cluster = LocalCluster(n_workers=self.settings.workers, threads_per_worker=1, processes=True,
                                             host="127.0.0.1", dashboard_address=None, memory_limit=0)
            self.client = Client(self._cluster)
        else:
            address = self.settings.scheduler
            try:
                self.client = Client(address, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError, ValueError) as exc:
                raise SchedulerUnreachable(
                    f"no dask scheduler answered at {address} within {CONNECT_TIMEOUT_S:g} s ({exc}). Check the "
                    "address (tcp://HOST:8786, or tls://… with dask's TLS settings), that 'dask scheduler' runs "
                    "there and that its port is open; or run without --scheduler.") from None
            self._check_workers(address)
        self.client.subscribe_topic(PROGRESS_TOPIC, self._on_event)
        return self

    def _check_workers(self, address: str) -> None:
        """Every worker's insitu4d version, asked through a standard-library function (a worker without
        insitu4d could not unpickle one of ours), against this process's."""
        from importlib.metadata import version

        found = self.client.run(version, "insitu4d", on_error="return")
        problems = worker_problems(found)
        if problems:
            self.client.close()
            self.client = None
            raise WorkerEnvironmentMismatch(
                f"{len(problems)} of the {len(found)} dask workers at {address} cannot run insitu4d {__version__}: "
                f"{'; '.join(problems)}. Install insitu4d {__version__} in the Python environment the workers "
                f"start from (e.g. pip install insitu4d=={__version__}, or the same checkout with pip install -e), "
                "or start them from this environment.")

    def _on_event(self, event) -> None:
        _, message = event
        self.progress(message["name"], message["done"], message["total"])

    def __exit__(self, *_) -> None:
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        self.client = self._cluster = None

    @property
    def parallel(self) -> bool:
        """Whether jobs given together may run at the same time."""
        return self.client is not None

    def describe(self) -> dict:
        """What ran where, for ``experiment.json``."""
        if self.client is None:
            return {"executor": "inline"}
        info = self.client.scheduler_info()
        return {"executor": "dask.distributed", **self.settings.to_dict(),
                "n_workers": len(info.get("workers", {}))}

    def run(self, jobs: Sequence[RunJob], stage: str | None = None) -> list[bool]:
        """Run ``jobs`` (at the same time on a cluster) and wait for all.

        Parameters
        ----------
        jobs : sequence of RunJob
        stage : str, optional
            Report progress as this stage's count of finished jobs, instead of each job's own
            progress under its name.

        Returns
        -------
        list of bool
            Per job, in order: whether it was finished already (:func:`run_job`).

        Raises
        ------
        WorkerLost
            A job's worker died every time it was tried.
        Insitu4dError
            What a job raised (the first to fail); the others still finish.
        """
        if stage is not None:
            self.progress(stage, 0, len(jobs))
        if self.client is None:
            results = []
            for job in jobs:
                results.append(run_job(job, self.progress if stage is None else None))
                if stage is not None:
                    self.progress(stage, len(results), len(jobs))
            return results
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        tag = uuid.uuid4().hex[:8]
        futures = [self.client.submit(_run_on_worker, job, stage is None, key=f"insitu4d-{job.name}-{k}-{tag}",
                                      pure=False) for k, job in enumerate(jobs)]
        for finished, _ in enumerate(as_completed(futures), start=1):
            if stage is not None:
                self.progress(stage, finished, len(jobs))
        results = []
        for job, future in zip(jobs, futures):
            try:
                results.append(future.result())
            except KilledWorker:
                raise WorkerLost(f"{job.name}: its dask worker died each time it ran it ({job.outdir}); out of "
                                 "memory? The finished runs are kept: run the same command again to resume.") \
                    from None
        return results
