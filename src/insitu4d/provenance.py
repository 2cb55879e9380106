"""Where and how a run was made: the record that lets a colleague repeat it.

:func:`current_environment` reads the command line, the host, its CPU and GPU, the versions
of Python and of the libraries insitu4d computes with, and the git commit of the source when
it runs from a git checkout. :class:`RunProvenance` adds the start and end of the run and
every random seed it used; ``run.json`` and ``experiment.json`` carry it under
``"provenance"``, and the NeXus files under ``/ENTRY/profiling``.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Optional

__all__ = ["LIBRARIES", "RunProvenance", "current_environment", "utc_now"]

#: The distributions whose versions change what insitu4d computes or writes.
LIBRARIES = ("insitu4d", "numpy", "scipy", "scikit-image", "numba", "SimpleITK", "rosettasciio", "h5py", "dask",
             "tifffile", "mrcfile", "matplotlib", "astra-toolbox", "cupy-cuda12x", "cupy-cuda13x", "pynxtools")


def utc_now() -> str:
    """The time now, ISO 8601 in UTC with its offset (``2026-12-03T01:02:03+00:00``).

    Returns
    -------
    str
    """
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunProvenance:
    """The environment and timing of one run.

    Attributes
    ----------
    command_line : tuple of str
        ``sys.argv`` of the process (the CLI's words, or the Python script's).
    started_utc, finished_utc : str
        ISO 8601 timestamps in UTC; ``finished_utc`` is empty until the run ends.
    host : str
    cpu : str
        Processor name and the number of logical cores.
    gpu : str or None
        The first CUDA device's name, None without one.
    python : str
    libraries : dict of str to str
        Version of each installed distribution of :data:`LIBRARIES`.
    git_commit : str or None
        The commit of insitu4d's source tree, when it runs from a git checkout (with ``+dirty``
        when the tree has uncommitted changes).
    random_seeds : dict of str to int
        Every seed the run drew random numbers from, by use.
    bootstrap_resamples : int or None
        Resamples of each bootstrap interval (None: the run drew none).
    """

    command_line: tuple[str, ...]
    started_utc: str
    host: str
    cpu: str
    gpu: Optional[str]
    python: str
    libraries: dict = field(default_factory=dict)
    git_commit: Optional[str] = None
    random_seeds: dict = field(default_factory=dict)
    bootstrap_resamples: Optional[int] = None
    finished_utc: str = ""

    def finished(self, bootstrap_resamples: int | None = None, **random_seeds: int) -> RunProvenance:
        """The record at the end of the run, with the seeds it used.

        Parameters
        ----------
        bootstrap_resamples : int, optional
        **random_seeds : int
            Seed by use (``noise_thinning=0``).

        Returns
        -------
        RunProvenance
        """
        return RunProvenance(**{**self.__dict__, "finished_utc": utc_now(),
                                "random_seeds": {**self.random_seeds, **random_seeds},
                                "bootstrap_resamples": bootstrap_resamples})

    def to_dict(self) -> dict:
        """The record for JSON.

        Returns
        -------
        dict
        """
        return {**self.__dict__, "command_line": list(self.command_line)}

    @classmethod
    def from_dict(cls, data: dict) -> RunProvenance:
        """The record from :meth:`to_dict`'s form.

        Parameters
        ----------
        data : dict

        Returns
        -------
        RunProvenance

        Raises
        ------
        KeyError, TypeError
            A field is missing or unknown.
        """
        return cls(**{**data, "command_line": tuple(data["command_line"])})


def current_environment() -> RunProvenance:
    """The record of this process, started now.

    Returns
    -------
    RunProvenance
    """
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return RunProvenance(command_line=tuple(sys.argv), started_utc=utc_now(), host=platform.node(),
                         cpu=f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical cores",
                         gpu=_gpu_name(), python=platform.python_version(), libraries=versions,
                         git_commit=_git_commit(Path(__file__).resolve().parent))


def _run(args: list[str], cwd: Path | None = None) -> str | None:
    """A short command's first line of output, None when it fails or is absent."""
    if shutil.which(args[0]) is None:
        return None
    try:
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None


def _gpu_name() -> str | None:
    """The first CUDA device's name from ``nvidia-smi``, None without one."""
    names = _run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"])
    return names.splitlines()[0].strip() if names else None


def _git_commit(source: Path) -> str | None:
    """The commit of the git work tree holding ``source``, None outside one."""
    if _run(["git", "rev-parse", "--is-inside-work-tree"], cwd=source) != "true":
        return None
    commit = _run(["git", "rev-parse", "HEAD"], cwd=source)
    if commit is None:
        return None
    dirty = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=source)
    return commit + ("+dirty" if dirty else "")
